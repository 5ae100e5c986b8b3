package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

func TestNew(t *testing.T) {
	p := New(t)
	require.Len(t, p.Chain.CAs, 3, "root, intermediate, issuing CA")
	leaf := p.Server.Leaf
	require.NotNil(t, leaf)
	assert.Equal(t, ServerName, leaf.Subject.CommonName)
	assert.ElementsMatch(t, []string{ServerName, "localhost"}, leaf.DNSNames)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", ServerName} {
		assert.NoError(t, leaf.VerifyHostname(host), host)
	}
	assert.Len(t, p.Server.Certificate, 3, "leaf and both intermediates are sent")

	certs, err := tlsx.ReadCertsPEM(p.CAFile)
	require.NoError(t, err)
	require.Len(t, certs, 1)
	assert.True(t, certs[0].Equal(p.Chain.Root().Cert), "CAFile holds the root")
	want := x509.NewCertPool()
	want.AddCert(p.Chain.Root().Cert)
	assert.True(t, p.Roots.Equal(want), "Roots holds the root only")

	other := New(t)
	assert.False(t, other.Chain.Root().Cert.Equal(p.Chain.Root().Cert), "every PKI is fresh")
}

// principalHandler answers with the TLS version and, under mTLS, the
// principal of the verified client certificate.
func principalHandler(w http.ResponseWriter, r *http.Request) {
	principal, err := tlsx.PrincipalFromConnectionState(r.TLS)
	if err != nil {
		principal = "-"
	}
	_, _ = fmt.Fprintf(w, "%s %s", tls.VersionName(r.TLS.Version), principal)
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestHTTPServers(t *testing.T) {
	p := New(t)
	other := New(t)
	plain := p.NewServer(t, http.HandlerFunc(principalHandler))
	mtls := p.NewMTLSServer(t, http.HandlerFunc(principalHandler))
	alice := p.ClientCert(t, "alice")
	mallory := other.ClientCert(t, "mallory")
	cases := []struct {
		desc    string
		client  *http.Client
		url     string
		want    string
		wantErr string
	}{
		{desc: "client trusting the PKI reaches the server over TLS 1.3", client: p.Client(), url: plain.URL, want: "TLS 1.3 -"},
		{desc: "client of another PKI is refused", client: other.Client(), url: plain.URL, wantErr: "certificate signed by unknown authority"},
		{desc: "default client with system roots is refused", client: &http.Client{}, url: plain.URL, wantErr: "certificate"},
		{desc: "mTLS client is mapped to its principal", client: p.MTLSClient(alice), url: mtls.URL, want: "TLS 1.3 alice"},
		{desc: "mTLS server refuses a client without certificate", client: p.Client(), url: mtls.URL, wantErr: "certificate required"},
		// Both PKIs carry the same CA names, so the client does send its
		// certificate and the server refuses it on the signature.
		{desc: "mTLS server refuses a certificate of another PKI", client: p.MTLSClient(mallory), url: mtls.URL, wantErr: "unknown certificate authority"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := get(tc.client, tc.url)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTLSConfigs(t *testing.T) {
	p := New(t)
	cases := []struct {
		desc           string
		cfg            *tls.Config
		wantClientAuth tls.ClientAuthType
	}{
		{desc: "server", cfg: p.ServerConfig(), wantClientAuth: tls.NoClientCert},
		{desc: "mTLS server", cfg: p.MTLSServerConfig(), wantClientAuth: tls.RequireAndVerifyClientCert},
		{desc: "client", cfg: p.ClientConfig(), wantClientAuth: tls.NoClientCert},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, uint16(tls.VersionTLS13), tc.cfg.MinVersion)
			assert.Equal(t, uint16(tls.VersionTLS13), tc.cfg.MaxVersion)
			assert.Equal(t, tc.wantClientAuth, tc.cfg.ClientAuth)
		})
	}

	// A raw TLS handshake with ClientConfig against ServerConfig.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.ServerConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.(*tls.Conn).Handshake()
	}()
	cfg := p.ClientConfig()
	cfg.ServerName = "localhost"
	conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, uint16(tls.VersionTLS13), conn.ConnectionState().Version)
}

// fatalRecorder is a testing.TB whose Fatalf records the failure and stops
// the goroutine, like the real one, so failure paths can be observed.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestClientCert(t *testing.T) {
	p := New(t)
	cases := []struct {
		desc    string
		name    string
		wantErr string
	}{
		{desc: "plain name", name: "alice"},
		{desc: "descriptive name", name: "Nightly batch job"},
		{desc: "control character fails the test", name: "alice\nroot", wantErr: `client certificate "alice\nroot"`},
		{desc: "empty name fails the test", name: "", wantErr: "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			var cert tls.Certificate
			var wg sync.WaitGroup
			wg.Go(func() { cert = p.ClientCert(rec, tc.name) })
			wg.Wait()
			if tc.wantErr != "" {
				assert.Contains(t, rec.msg, tc.wantErr)
				return
			}
			require.Empty(t, rec.msg)
			principal, err := tlsx.PrincipalFromCert(cert.Leaf)
			require.NoError(t, err)
			assert.Equal(t, tc.name, principal)
			assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.Leaf.ExtKeyUsage)
		})
	}
}
