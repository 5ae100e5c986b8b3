package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigsAreTLS13Only(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 2})
	cert := serverLeaf(t, c).TLSCertificate()
	client := clientLeaf(t, c, "alice").TLSCertificate()
	cases := []struct {
		desc           string
		cfg            *tls.Config
		wantClientAuth tls.ClientAuthType
		wantRoots      bool
	}{
		{desc: "server without mTLS", cfg: ServerConfig(cert, nil), wantClientAuth: tls.NoClientCert},
		{desc: "server with mTLS", cfg: ServerConfig(cert, c.Pool()), wantClientAuth: tls.RequireAndVerifyClientCert},
		{desc: "client", cfg: ClientConfig(c.Pool(), nil), wantRoots: true},
		{desc: "client with certificate", cfg: ClientConfig(c.Pool(), &client), wantRoots: true},
		{desc: "client with nil roots", cfg: ClientConfig(nil, nil), wantRoots: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, uint16(tls.VersionTLS13), tc.cfg.MinVersion)
			assert.Equal(t, uint16(tls.VersionTLS13), tc.cfg.MaxVersion)
			assert.False(t, tc.cfg.InsecureSkipVerify)
			assert.Equal(t, tc.wantClientAuth, tc.cfg.ClientAuth)
			if tc.wantRoots {
				assert.NotNil(t, tc.cfg.RootCAs, "a nil RootCAs would fall back to system roots")
			}
		})
	}
}

// TestHandshakes runs real TLS handshakes on 127.0.0.1 and proves who gets
// in: only TLS 1.3 clients that trust our CA, and under mTLS only clients
// with a valid client certificate from our CA, mapped to their principal.
func TestHandshakes(t *testing.T) {
	// The chain lives in the past so an already expired client certificate
	// can be issued from it without sleeping.
	past := time.Now().Add(-30 * 24 * time.Hour)
	ours := newTestChain(t, ChainOptions{Name: "Ours", Now: func() time.Time { return past }})
	other := newTestChain(t, ChainOptions{Name: "Other"})
	// Same names as ours, different keys: trust must rest on signatures.
	impostor := newTestChain(t, ChainOptions{Name: "Ours"})

	server := serverLeaf(t, ours).TLSCertificate()
	alice := clientLeaf(t, ours, "alice").TLSCertificate()
	fqdnClient := issue(t, ours, LeafOptions{CommonName: "batch.clients.test.local", Client: true}).TLSCertificate()
	mallory := clientLeaf(t, other, "mallory").TLSCertificate()
	impostorAlice := clientLeaf(t, impostor, "alice").TLSCertificate()
	serverAsClient := serverLeaf(t, ours).TLSCertificate()
	expired := issue(t, ours, LeafOptions{
		CommonName: "old", Style: CNStyleDescriptive, Client: true, Validity: 24 * time.Hour,
	}).TLSCertificate()

	// forceClientCert presents cert whatever CAs the server asks for, as a
	// hostile client would.
	forceClientCert := func(cfg *tls.Config, cert tls.Certificate) *tls.Config {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		return cfg
	}
	tls12 := func(cfg *tls.Config) *tls.Config {
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		return cfg
	}
	cases := []struct {
		desc          string
		mtls          bool
		client        *tls.Config
		serverName    string
		wantOK        bool
		wantPrincipal string
		wantClientErr string // substring of the client's error
		wantServerErr string // substring of the server's handshake error
	}{
		{desc: "TLS 1.3 client trusting our CA", client: ClientConfig(ours.Pool(), nil), serverName: "server.test.local", wantOK: true},
		{desc: "client connects by localhost SAN", client: ClientConfig(ours.Pool(), nil), serverName: "localhost", wantOK: true},
		{desc: "client connects by IPv4 SAN", client: ClientConfig(ours.Pool(), nil), serverName: "127.0.0.1", wantOK: true},
		{desc: "client connects by IPv6 SAN", client: ClientConfig(ours.Pool(), nil), serverName: "::1", wantOK: true},
		{
			desc: "TLS 1.2-only client is refused", client: tls12(ClientConfig(ours.Pool(), nil)), serverName: "localhost",
			wantClientErr: "protocol version", wantServerErr: "unsupported versions",
		},
		{
			desc: "client trusting another CA is refused", client: ClientConfig(other.Pool(), nil), serverName: "localhost",
			wantClientErr: "certificate signed by unknown authority", wantServerErr: "bad certificate",
		},
		{
			desc: "client trusting a same-named impostor CA is refused", client: ClientConfig(impostor.Pool(), nil), serverName: "localhost",
			wantClientErr: "certificate signed by unknown authority", wantServerErr: "bad certificate",
		},
		{
			desc: "client with nil roots trusts nothing", client: ClientConfig(nil, nil), serverName: "localhost",
			wantClientErr: "certificate signed by unknown authority", wantServerErr: "bad certificate",
		},
		{
			desc: "server name not in the certificate is refused", client: ClientConfig(ours.Pool(), nil), serverName: "other.test.local",
			wantClientErr: "not other.test.local", wantServerErr: "bad certificate",
		},
		{desc: "mTLS: good client is mapped to its principal", mtls: true, client: ClientConfig(ours.Pool(), &alice), serverName: "localhost", wantOK: true, wantPrincipal: "alice"},
		{desc: "mTLS: FQDN client is mapped to its CN", mtls: true, client: ClientConfig(ours.Pool(), &fqdnClient), serverName: "localhost", wantOK: true, wantPrincipal: "batch.clients.test.local"},
		{
			desc: "mTLS: client without a certificate is refused", mtls: true, client: ClientConfig(ours.Pool(), nil), serverName: "localhost",
			wantClientErr: "certificate required", wantServerErr: "client didn't provide a certificate",
		},
		{
			// The server names its acceptable CAs, so a Go client holding
			// only a foreign certificate declines to send it.
			desc: "mTLS: client holding only a certificate from another CA is refused", mtls: true, client: ClientConfig(ours.Pool(), &mallory), serverName: "localhost",
			wantClientErr: "certificate required", wantServerErr: "client didn't provide a certificate",
		},
		{
			desc: "mTLS: client certificate from another CA, sent regardless, is refused", mtls: true, client: forceClientCert(ClientConfig(ours.Pool(), nil), mallory), serverName: "localhost",
			wantClientErr: "unknown certificate authority", wantServerErr: "certificate signed by unknown authority",
		},
		{
			desc: "mTLS: client certificate from a same-named impostor CA is refused", mtls: true, client: ClientConfig(ours.Pool(), &impostorAlice), serverName: "localhost",
			wantClientErr: "unknown certificate authority", wantServerErr: "certificate signed by unknown authority",
		},
		{
			desc: "mTLS: server-only certificate of our CA is refused as a client certificate", mtls: true, client: ClientConfig(ours.Pool(), &serverAsClient), serverName: "localhost",
			wantClientErr: "certificate", wantServerErr: "incompatible key usage",
		},
		{
			desc: "mTLS: expired client certificate is refused", mtls: true, client: ClientConfig(ours.Pool(), &expired), serverName: "localhost",
			wantClientErr: "expired certificate", wantServerErr: "expired",
		},
		{
			desc: "mTLS: TLS 1.2-only client with a good certificate is refused", mtls: true, client: tls12(ClientConfig(ours.Pool(), &alice)), serverName: "localhost",
			wantClientErr: "protocol version", wantServerErr: "unsupported versions",
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var clientCAs *x509.CertPool
			if tc.mtls {
				clientCAs = ours.Pool()
			}
			addr, results := startTLSServer(t, ServerConfig(server, clientCAs))
			clientErr := dialTLS(addr, tc.serverName, tc.client)
			seen := awaitHandshake(t, results)
			if tc.wantOK {
				require.NoError(t, clientErr)
				require.NoError(t, seen.err)
				assert.Equal(t, tc.wantPrincipal, seen.principal)
				return
			}
			require.Error(t, clientErr, "client must be refused")
			require.Error(t, seen.err, "server must refuse the handshake")
			assert.Contains(t, clientErr.Error(), tc.wantClientErr)
			assert.Contains(t, seen.err.Error(), tc.wantServerErr)
			assert.Empty(t, seen.principal)
		})
	}
}

func TestPrincipalFromCert(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 1})
	mk := func(tmpl x509.Certificate) *x509.Certificate {
		t.Helper()
		tmpl.SerialNumber, _ = randomSerial()
		tmpl.NotBefore, tmpl.NotAfter = time.Now(), time.Now().Add(time.Hour)
		key, err := generateKey("")
		require.NoError(t, err)
		cert, err := createCertificate(&tmpl, c.Root().Cert, key.Public(), c.Root().Key)
		require.NoError(t, err)
		return cert
	}
	uri, err := url.Parse("spiffe://passthru/batch")
	require.NoError(t, err)
	clientEKU := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	cases := []struct {
		desc    string
		cert    *x509.Certificate
		want    string
		wantErr string
	}{
		{desc: "common name", cert: mk(x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, ExtKeyUsage: clientEKU}), want: "alice"},
		{desc: "CN wins over SANs", cert: mk(x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, DNSNames: []string{"a.test.local"}, ExtKeyUsage: clientEKU}), want: "alice"},
		{desc: "first DNS SAN without CN", cert: mk(x509.Certificate{DNSNames: []string{"a.test.local", "b.test.local"}, ExtKeyUsage: clientEKU}), want: "a.test.local"},
		{desc: "e-mail SAN without CN", cert: mk(x509.Certificate{EmailAddresses: []string{"ops@passthru.test"}}), want: "ops@passthru.test"},
		{desc: "URI SAN without CN", cert: mk(x509.Certificate{URIs: []*url.URL{uri}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}), want: "spiffe://passthru/batch"},
		{desc: "no EKU at all is acceptable", cert: mk(x509.Certificate{Subject: pkix.Name{CommonName: "legacy"}}), want: "legacy"},
		{desc: "nil certificate", cert: nil, wantErr: "no certificate"},
		{desc: "no name at all", cert: mk(x509.Certificate{ExtKeyUsage: clientEKU}), wantErr: "neither a common name nor a SAN"},
		{desc: "server-only certificate", cert: mk(x509.Certificate{Subject: pkix.Name{CommonName: "kms.test.local"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}), wantErr: "not valid for client authentication"},
		{desc: "control character in CN", cert: mk(x509.Certificate{Subject: pkix.Name{CommonName: "alice\nadmin"}, ExtKeyUsage: clientEKU}), wantErr: "non-printable"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := PrincipalFromCert(tc.cert)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrNoPrincipal)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestPrincipalFromConnectionStateNeedsVerifiedChain(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 1})
	alice := clientLeaf(t, c, "alice")
	cases := []struct {
		desc    string
		state   *tls.ConnectionState
		want    string
		wantErr bool
	}{
		{desc: "nil state", state: nil, wantErr: true},
		{desc: "no client certificate", state: &tls.ConnectionState{}, wantErr: true},
		{desc: "unverified peer certificate", state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{alice.Cert}}, wantErr: true},
		{desc: "empty verified chain", state: &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{}}}, wantErr: true},
		{desc: "verified chain", state: &tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{alice.Cert},
			VerifiedChains:   [][]*x509.Certificate{{alice.Cert, c.Root().Cert}},
		}, want: "alice"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := PrincipalFromConnectionState(tc.state)
			if tc.wantErr {
				assert.ErrorIs(t, err, ErrNoPrincipal)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestNoInsecureSkipVerify guards the invariant at the source: no
// non-test file of this package refers to the field in code.
func TestNoInsecureSkipVerify(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var checked int
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				assert.NotEqual(t, "InsecureSkipVerify", id.Name, "%s refers to InsecureSkipVerify", f)
			}
			return true
		})
		checked++
	}
	assert.GreaterOrEqual(t, checked, 5)
}
