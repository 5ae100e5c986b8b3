package serve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// peerService is the toy service with a /peer route that tells what the
// listener verified of the client: the CN of the verified client leaf, or
// "none". It hands out its Env so tests can issue demo client certificates.
func peerService(name string, t config.TLS, env **serve.Env) *serve.Service {
	return &serve.Service{
		Name: name, Title: "Peer service", DefaultListen: "127.0.0.1:0", Config: &testConfig{Settings: serve.Settings{TLS: t}},
		Build: func(_ context.Context, e *serve.Env) (http.Handler, []serve.Check, error) {
			if env != nil {
				*env = e
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /peer", func(w http.ResponseWriter, r *http.Request) {
				if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
					_, _ = io.WriteString(w, "none")
					return
				}
				_, _ = io.WriteString(w, r.TLS.VerifiedChains[0][0].Subject.CommonName)
			})
			return mux, nil, nil
		},
	}
}

// startPeer starts svc in demo mode and returns it with its Env.
func startPeer(t *testing.T, svc *serve.Service, opts serve.Options) *serve.Instance {
	t.Helper()
	dbo := dbtest.Options(t, dbtest.SQLite)
	opts.DB, opts.Demo, opts.ConfigLoaded, opts.Listen = &dbo, true, true, "127.0.0.1:0"
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	inst, err := serve.Start(t.Context(), svc, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, inst.Shutdown(context.WithoutCancel(t.Context()))) })
	return inst
}

// peerGet asks /peer with an optional client certificate: the verified
// client's CN, or the request's error.
func peerGet(t *testing.T, url string, roots *x509.CertPool, cert *tls.Certificate) (string, error) {
	t.Helper()
	// A fresh transport per request: a reused connection would skip the
	// handshake under test.
	cfg := tlsx.ClientConfig(roots, nil)
	if cert != nil {
		// Always present cert: Go's client would otherwise withhold a
		// certificate the server's accepted CA list does not name, and the
		// server's own refusal would go untested.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url + "/peer")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(body), nil
}

// clientCerts are the client certificates the mTLS tests present.
type clientCerts struct {
	demo    *tls.Certificate // issued by the service's demo CA through Env
	other   *tls.Certificate // a client of another CA
	server  *tls.Certificate // the demo CA's server leaf: not for client use
	otherCA *tlsx.Chain
}

func makeClientCerts(t *testing.T, env *serve.Env, inst *serve.Instance) clientCerts {
	t.Helper()
	b, err := env.IssueDemoClientCert("app", []string{"spiffe://passthru.demo/app"}, nil)
	require.NoError(t, err)
	demo, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
	require.NoError(t, err)
	otherCA, err := tlsx.NewChain(tlsx.ChainOptions{Name: "Other"})
	require.NoError(t, err)
	otherLeaf, err := tlsx.IssueClientCert(otherCA, tlsx.ClientCertOptions{CommonName: "app", URIs: []string{"spiffe://passthru.demo/app"}})
	require.NoError(t, err)
	other := otherLeaf.TLSCertificate()
	server, err := tls.LoadX509KeyPair(filepath.Join(inst.DataDir, "tls", "svc.pem"), filepath.Join(inst.DataDir, "tls", "svc-key.pem"))
	require.NoError(t, err)
	return clientCerts{demo: &demo, other: &other, server: &server, otherCA: otherCA}
}

// TestClientAuthOnTheListener: with client_auth required the handshake
// refuses a client without a certificate or with one the client CA did not
// issue for client use; with optional a client without a certificate gets
// in, and one with a valid certificate arrives verified.
func TestClientAuthOnTheListener(t *testing.T) {
	for _, mode := range []string{config.ClientAuthRequired, config.ClientAuthOptional} {
		t.Run(mode, func(t *testing.T) {
			var env *serve.Env
			var banner bytes.Buffer
			inst := startPeer(t, peerService("svc", config.TLS{ClientAuth: mode}, &env), serve.Options{Stdout: &banner})
			assert.Equal(t, mode, env.ClientAuth)
			assert.Equal(t, inst.CAFile, env.ClientCAFile, "the demo CA is the client CA")
			assert.Contains(t, banner.String(), "client auth: "+mode)
			certs := makeClientCerts(t, env, inst)

			noCert := "none" // optional: in, unauthenticated by TLS
			if mode == config.ClientAuthRequired {
				noCert = "remote error: tls: certificate required"
			}
			for _, tc := range []struct {
				desc string
				cert *tls.Certificate
				want string // the CN /peer reports, or the TLS error
			}{
				{desc: "no certificate", cert: nil, want: noCert},
				{desc: "demo client certificate", cert: certs.demo, want: "app"},
				{desc: "certificate of another CA", cert: certs.other, want: "remote error: tls: unknown certificate authority"},
				{desc: "server certificate of the demo CA", cert: certs.server, want: "remote error: tls: bad certificate"},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					got, err := peerGet(t, inst.URL, inst.Roots, tc.cert)
					if err != nil {
						got = err.Error()
						// The server's TLS alert, not an HTTP answer.
						var opErr *net.OpError
						require.ErrorAs(t, err, &opErr, got)
						assert.Equal(t, "remote error", opErr.Op)
						assert.Contains(t, got, tc.want)
						return
					}
					assert.Equal(t, tc.want, got)
				})
			}
		})
	}
}

// TestClientAuthNone: by default no client certificate is asked for, so
// even a valid one is never verified (and never reaches a handler).
func TestClientAuthNone(t *testing.T) {
	var env *serve.Env
	inst := startPeer(t, peerService("svc", config.TLS{}, &env), serve.Options{})
	assert.Equal(t, config.ClientAuthNone, env.ClientAuth)
	assert.Empty(t, env.ClientCAFile)
	certs := makeClientCerts(t, env, inst)
	got, err := peerGet(t, inst.URL, inst.Roots, certs.demo)
	require.NoError(t, err)
	assert.Equal(t, "none", got)
}

// TestClientCAFile: a configured client CA replaces the demo CA as what
// client certificates must chain to.
func TestClientCAFile(t *testing.T) {
	dir := t.TempDir()
	clientCA, err := tlsx.NewChain(tlsx.ChainOptions{Name: "Clients"})
	require.NoError(t, err)
	caFile := filepath.Join(dir, "clients-ca.pem")
	require.NoError(t, tlsx.WriteCertPEM(caFile, clientCA.Root().Cert))

	var env *serve.Env
	inst := startPeer(t, peerService("svc", config.TLS{ClientAuth: config.ClientAuthRequired, ClientCAFile: caFile}, &env), serve.Options{})
	assert.Equal(t, caFile, env.ClientCAFile)
	certs := makeClientCerts(t, env, inst)
	ours, err := tlsx.IssueClientCert(clientCA, tlsx.ClientCertOptions{CommonName: "partner", DNSNames: []string{"partner.example"}})
	require.NoError(t, err)
	partner := ours.TLSCertificate()

	got, err := peerGet(t, inst.URL, inst.Roots, &partner)
	require.NoError(t, err)
	assert.Equal(t, "partner", got)
	_, err = peerGet(t, inst.URL, inst.Roots, certs.demo)
	assert.ErrorContains(t, err, "remote error: tls: unknown certificate authority", "the demo CA is not the client CA here")
}

// TestClientCAFileErrors: a client CA bundle that cannot serve as one stops
// the start with the key named.
func TestClientCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	leaf, err := tlsx.IssueClientCert(chain, tlsx.ClientCertOptions{CommonName: "leaf", DNSNames: []string{"leaf.local"}})
	require.NoError(t, err)
	leafFile := filepath.Join(dir, "leaf.pem")
	require.NoError(t, tlsx.WriteCertPEM(leafFile, chain.Root().Cert, leaf.Cert))
	for _, tc := range []struct {
		desc, file, want string
	}{
		{desc: "missing", file: filepath.Join(dir, "none.pem"), want: "tls.client_ca_file: read certificates"},
		{desc: "a leaf in the bundle", file: leafFile, want: `tls.client_ca_file: certificate 2 ("leaf") is not a CA certificate`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dbo := dbtest.Options(t, dbtest.SQLite)
			svc := peerService("svc", config.TLS{ClientAuth: config.ClientAuthOptional, ClientCAFile: tc.file}, nil)
			_, err := serve.Start(t.Context(), svc, serve.Options{Demo: true, ConfigLoaded: true, DB: &dbo, DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestClientAuthConfigChecks: --check-config refuses what a start with
// client certificates would refuse, naming the keys.
func TestClientAuthConfigChecks(t *testing.T) {
	noSearch(t)
	dir := t.TempDir()
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		desc, yaml string
		demo       bool
		want       string // "" means valid
	}{
		{desc: "demo, required, demo CA", yaml: "tls:\n  client_auth: required\n", demo: true},
		{desc: "demo, optional with a client CA", yaml: "tls:\n  client_auth: optional\n  client_ca_file: c.pem\n", demo: true},
		{desc: "unknown mode", yaml: "tls:\n  client_auth: yes\n", demo: true, want: `tls.client_auth: "yes", want none, optional or required`},
		{desc: "client CA without client auth", yaml: "tls:\n  client_ca_file: c.pem\n", demo: true, want: "tls.client_ca_file: set but tls.client_auth is none"},
		{desc: "configured certificate needs a client CA", yaml: "tls:\n  cert_file: c\n  key_file: k\n  ca_file: ca\n  client_auth: optional\n", demo: true,
			want: "tls.client_ca_file: required with tls.client_auth optional and a configured tls.cert_file"},
		{desc: "outside demo mode a client CA is required", yaml: "tls:\n  client_auth: required\n",
			want: "tls.client_ca_file: required with tls.client_auth required outside demo mode"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := writeFile(t, dir, "svc.yml", tc.yaml)
			args := []string{"--check-config", "--config", cfg}
			if tc.demo {
				args = append(args, "--demo")
			}
			var stdout, stderr bytes.Buffer
			code := serve.Run(t.Context(), testService(), args, &stdout, &stderr, noEnv)
			if tc.want == "" {
				assert.Equal(t, 0, code, stderr.String())
				return
			}
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr.String(), tc.want)
		})
	}
}

// TestSharedDemoPKIDir: two services started on one PKI dir share its CA,
// each with its own leaf, so a client trusting one CA bundle reaches both.
func TestSharedDemoPKIDir(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "pki")
	a := startPeer(t, peerService("alpha", config.TLS{}, nil), serve.Options{PKIDir: pkiDir})
	b := startPeer(t, peerService("beta", config.TLS{}, nil), serve.Options{PKIDir: pkiDir})
	assert.Equal(t, filepath.Join(pkiDir, tlsx.DemoCAFile), a.CAFile)
	assert.Equal(t, a.CAFile, b.CAFile, "one CA bundle")

	cas, err := tlsx.ReadCertsPEM(a.CAFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	for _, tc := range []struct {
		desc, url, cn string
	}{
		{desc: "alpha", url: a.URL, cn: "alpha.passthru.demo.local"},
		{desc: "beta", url: b.URL, cn: "beta.passthru.demo.local"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: tlsx.ClientConfig(roots, nil)}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(tc.url + "/peer")
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, tc.cn, resp.TLS.PeerCertificates[0].Subject.CommonName, "each service has its own leaf")
		})
	}
}

// TestIssueDemoClientCert: a demo service issues client bundles from its
// demo CA under <pki-dir>/clients; the .p12 opens with its password and its
// certificate verifies against the CA for client use only.
func TestIssueDemoClientCert(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "pki")
	var env *serve.Env
	inst := startPeer(t, peerService("svc", config.TLS{}, &env), serve.Options{PKIDir: pkiDir})
	b, err := env.IssueDemoClientCert("batch", []string{"spiffe://passthru.demo/batch"}, []string{"batch.clients.local"})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(pkiDir, tlsx.DemoClientsDir, "batch.p12"), b.P12File)

	password, err := tlsx.ReadP12Password(b.P12PasswordFile)
	require.NoError(t, err)
	leaf, err := tlsx.ReadPKCS12(b.P12File, password)
	require.NoError(t, err)
	assert.Equal(t, "batch", leaf.Cert.Subject.CommonName)
	assert.Equal(t, "spiffe://passthru.demo/batch", leaf.Cert.URIs[0].String())
	assert.Equal(t, []string{"batch.clients.local"}, leaf.Cert.DNSNames)
	inters := x509.NewCertPool()
	for _, c := range leaf.Intermediates {
		inters.AddCert(c)
	}
	verify := func(usage x509.ExtKeyUsage) error {
		_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: env.Roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	require.NoError(t, verify(x509.ExtKeyUsageClientAuth))
	assert.Error(t, verify(x509.ExtKeyUsageServerAuth), "a client certificate is not a server certificate")

	// The running instance issues from the same CA, into the same dir.
	ib, err := inst.IssueDemoClientCert("tester", nil, []string{"tester.clients.local"})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(pkiDir, tlsx.DemoClientsDir, "tester.pem"), ib.CertFile)

	_, err = env.IssueDemoClientCert("../escape", nil, []string{"x.local"})
	assert.ErrorIs(t, err, tlsx.ErrInvalidName)
	_, err = env.IssueDemoClientCert("nosan", nil, nil)
	assert.ErrorContains(t, err, "no URI or DNS SAN")
}

// TestIssueDemoClientCertNeedsTheDemoCA: a service on a configured
// certificate holds no CA key and cannot issue.
func TestIssueDemoClientCertNeedsTheDemoCA(t *testing.T) {
	dir := t.TempDir()
	pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "tls"), "svc")
	require.NoError(t, err)
	var env *serve.Env
	svc := peerService("svc", config.TLS{CertFile: filepath.Join(dir, "tls", "svc.pem"), KeyFile: filepath.Join(dir, "tls", "svc-key.pem"), CAFile: pki.CAFile}, &env)
	inst := startPeer(t, svc, serve.Options{})
	_, err = env.IssueDemoClientCert("batch", nil, []string{"batch.local"})
	assert.ErrorIs(t, err, serve.ErrNoDemoCA)
	_, err = inst.IssueDemoClientCert("batch", nil, []string{"batch.local"})
	assert.ErrorIs(t, err, serve.ErrNoDemoCA)
}
