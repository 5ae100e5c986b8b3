package serve

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// serverCert is the server's TLS 1.3 configuration and the CA clients trust.
type serverCert struct {
	config *tls.Config
	caFile string
	roots  *x509.CertPool
	// pki is the demo PKI when the certificate came from it (nil for a
	// configured certificate): demo client certificates are issued from it.
	pki *tlsx.ServerPKI
	// clientCAFile says where client certificates must chain to: the
	// configured file, the demo CA bundle, or "" without client auth.
	clientCAFile string
}

// serverCertificate loads the configured certificate, or in demo mode (the
// only mode without one, see checkMode) the demo PKI under pkiDir
// (default <data-dir>/tls), and applies the client certificate policy.
func serverCertificate(t config.TLS, pkiDir, dataDir, name string) (serverCert, error) {
	sc, err := loadServerCertificate(t, pkiDir, dataDir, name)
	if err != nil {
		return serverCert{}, err
	}
	auth, clientCAs := tls.NoClientCert, (*x509.CertPool)(nil)
	switch {
	case !t.ClientCertsRequested():
	case t.ClientCAFile != "":
		if clientCAs, err = readClientCAs(t.ClientCAFile); err != nil {
			return serverCert{}, err
		}
		if sc.clientCAFile, err = filepath.Abs(t.ClientCAFile); err != nil {
			return serverCert{}, fmt.Errorf("tls.client_ca_file: %w", err)
		}
	case sc.pki != nil:
		// A demo's clients get their certificates from the demo CA
		// (Env.IssueDemoClientCert), so that CA is what they chain to.
		clientCAs, sc.clientCAFile = sc.pki.Chain().Pool(), sc.pki.CAFile
	default:
		// Settings.Validate refuses this before a start gets here.
		return serverCert{}, errors.New("tls.client_ca_file: required with tls.client_auth optional or required and a configured tls.cert_file")
	}
	switch t.ClientAuth {
	case config.ClientAuthOptional:
		auth = tls.VerifyClientCertIfGiven
	case config.ClientAuthRequired:
		auth = tls.RequireAndVerifyClientCert
	}
	if sc.config, err = tlsx.ServerConfigClientAuth(sc.config.Certificates[0], clientCAs, auth); err != nil {
		return serverCert{}, fmt.Errorf("tls.client_auth: %w", err)
	}
	return sc, nil
}

// loadServerCertificate returns the server certificate without client
// authentication; serverCertificate adds the policy.
func loadServerCertificate(t config.TLS, pkiDir, dataDir, name string) (serverCert, error) {
	if t.CertFile == "" {
		if pkiDir == "" {
			pkiDir = filepath.Join(dataDir, "tls")
		}
		pki, err := tlsx.EnsureDemoPKI(pkiDir, name)
		if err != nil {
			return serverCert{}, fmt.Errorf("demo PKI: %w", err)
		}
		return serverCert{config: tlsx.ServerConfig(pki.Certificate, nil), caFile: pki.CAFile, roots: pki.Roots, pki: pki}, nil
	}
	certs, err := tlsx.ReadCertsPEM(t.CertFile)
	if err != nil {
		return serverCert{}, fmt.Errorf("tls.cert_file: %w", err)
	}
	key, err := tlsx.ReadKeyPEM(t.KeyFile)
	if err != nil {
		return serverCert{}, fmt.Errorf("tls.key_file: %w", err)
	}
	// Fail at startup, not at every handshake, when the files do not
	// belong together.
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(certs[0].PublicKey) {
		return serverCert{}, errors.New("tls.key_file does not match the first certificate of tls.cert_file")
	}
	cas, err := tlsx.ReadCertsPEM(t.CAFile)
	if err != nil {
		return serverCert{}, fmt.Errorf("tls.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	caFile, err := filepath.Abs(t.CAFile)
	if err != nil {
		return serverCert{}, fmt.Errorf("tls.ca_file: %w", err)
	}
	return serverCert{config: tlsx.ServerConfig(cert, nil), caFile: caFile, roots: pool}, nil
}

// readClientCAs reads the client CA bundle. Every certificate in it becomes
// a trust anchor for client certificates, so each must be a CA: a leaf
// listed there by mistake would otherwise be trusted as itself.
func readClientCAs(path string) (*x509.CertPool, error) {
	cas, err := tlsx.ReadCertsPEM(path)
	if err != nil {
		return nil, fmt.Errorf("tls.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	for i, c := range cas {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("tls.client_ca_file: certificate %d (%q) is not a CA certificate", i+1, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	return pool, nil
}
