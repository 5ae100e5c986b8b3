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
}

// serverCertificate loads the configured certificate, or in demo mode (the
// only mode without one, see checkMode) the demo PKI under pkiDir
// (default <data-dir>/tls).
func serverCertificate(t config.TLS, pkiDir, dataDir, name string) (serverCert, error) {
	if t.CertFile == "" {
		if pkiDir == "" {
			pkiDir = filepath.Join(dataDir, "tls")
		}
		pki, err := tlsx.EnsureDemoPKI(pkiDir, name)
		if err != nil {
			return serverCert{}, fmt.Errorf("demo PKI: %w", err)
		}
		return serverCert{config: tlsx.ServerConfig(pki.Certificate, nil), caFile: pki.CAFile, roots: pki.Roots}, nil
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
