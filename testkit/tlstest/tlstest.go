// Package tlstest gives tests a throwaway CA chain (root, intermediate,
// issuing CA) with a loopback server certificate, TLS 1.3 configurations
// and HTTP clients that trust only that chain, and mTLS client certificates.
// Keys are ECDSA P-256 so a PKI costs a few milliseconds.
package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// ServerName is the FQDN in the server certificate, next to the SANs
// localhost, 127.0.0.1 and ::1.
const ServerName = "server.tlstest.local"

// clientTimeout bounds every request of the clients made here, so a test
// against a hung server fails instead of hanging.
const clientTimeout = 30 * time.Second

// PKI is one test's private CA chain and server certificate.
type PKI struct {
	Chain  *tlsx.Chain
	Server tls.Certificate // CN server.tlstest.local; SANs localhost, 127.0.0.1, ::1
	Roots  *x509.CertPool  // the root only
	CAFile string          // the root as PEM, under t.TempDir()
}

// New creates a fresh PKI for t; any failure fails t.
func New(t testing.TB) *PKI {
	t.Helper()
	chain, err := tlsx.NewChain(tlsx.ChainOptions{Name: "Passthru Test"})
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	leaf, err := chain.IssueLeaf(tlsx.LeafOptions{
		CommonName: ServerName,
		DNSNames:   []string{"localhost"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		Server:     true,
	})
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := tlsx.WriteCertPEM(caFile, chain.Root().Cert); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	return &PKI{Chain: chain, Server: leaf.TLSCertificate(), Roots: chain.Pool(), CAFile: caFile}
}

// ServerConfig is a TLS 1.3 server configuration with the server
// certificate and no client certificates.
func (p *PKI) ServerConfig() *tls.Config {
	return tlsx.ServerConfig(p.Server, nil)
}

// MTLSServerConfig is ServerConfig requiring a client certificate from this
// PKI (see ClientCert).
func (p *PKI) MTLSServerConfig() *tls.Config {
	return tlsx.ServerConfig(p.Server, p.Roots)
}

// ClientConfig is a TLS 1.3 client configuration trusting only this PKI.
func (p *PKI) ClientConfig() *tls.Config {
	return tlsx.ClientConfig(p.Roots, nil)
}

// Client is an HTTP client that speaks TLS 1.3 and trusts only this PKI.
func (p *PKI) Client() *http.Client {
	return p.client(nil)
}

// MTLSClient is Client presenting cert (see ClientCert).
func (p *PKI) MTLSClient(cert tls.Certificate) *http.Client {
	return p.client(&cert)
}

func (p *PKI) client(cert *tls.Certificate) *http.Client {
	return &http.Client{
		Timeout: clientTimeout,
		Transport: &http.Transport{
			TLSClientConfig:   tlsx.ClientConfig(p.Roots, cert),
			ForceAttemptHTTP2: true,
			// Never route loopback test traffic through an environment proxy.
			Proxy: nil,
		},
	}
}

// ClientCert issues an mTLS client certificate whose principal
// (tlsx.PrincipalFromCert) is name; name is a descriptive CN, so any
// printable text up to 64 characters works. Failure fails t.
func (p *PKI) ClientCert(t testing.TB, name string) tls.Certificate {
	t.Helper()
	leaf, err := p.Chain.IssueLeaf(tlsx.LeafOptions{CommonName: name, Style: tlsx.CNStyleDescriptive, Client: true})
	if err != nil {
		t.Fatalf("tlstest: client certificate %q: %v", name, err)
	}
	return leaf.TLSCertificate()
}

// NewServer starts h on a 127.0.0.1 TLS 1.3 listener with the server
// certificate; it is closed in t.Cleanup. Reach it with Client().
func (p *PKI) NewServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	return p.start(t, h, p.ServerConfig())
}

// NewMTLSServer is NewServer requiring client certificates from this PKI;
// handlers find the verified certificate in r.TLS.
func (p *PKI) NewMTLSServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	return p.start(t, h, p.MTLSServerConfig())
}

func (p *PKI) start(t testing.TB, h http.Handler, cfg *tls.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	// httptest keeps a configured certificate and only adds ALPN protocols.
	srv.TLS = cfg
	// Refused handshakes are expected in tests; log them with the test
	// rather than on the process's stderr.
	srv.Config.ErrorLog = log.New(t.Output(), "tlstest server: ", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
