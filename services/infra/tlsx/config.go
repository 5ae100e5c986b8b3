package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// ServerConfig returns a TLS 1.3-only server configuration presenting cert.
// With clientCAs nil no client certificate is requested; otherwise every
// client must present a certificate that verifies against clientCAs (mTLS).
func ServerConfig(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.NoClientCert,
	}
	if clientCAs != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCAs
	}
	return cfg
}

// ServerConfigClientAuth is ServerConfig with the client certificate policy
// chosen explicitly: tls.NoClientCert (clientCAs must then be nil),
// tls.VerifyClientCertIfGiven (a client may present a certificate, which
// must verify against clientCAs; one without a certificate proceeds and is
// authenticated some other way) or tls.RequireAndVerifyClientCert. The
// policies that accept a certificate without verifying it
// (tls.RequestClientCert, tls.RequireAnyClientCert) are refused.
func ServerConfigClientAuth(cert tls.Certificate, clientCAs *x509.CertPool, auth tls.ClientAuthType) (*tls.Config, error) {
	switch auth {
	case tls.NoClientCert:
		if clientCAs != nil {
			return nil, errors.New("server TLS config: client CAs given but client certificates are not requested")
		}
		return ServerConfig(cert, nil), nil
	case tls.VerifyClientCertIfGiven, tls.RequireAndVerifyClientCert:
		if clientCAs == nil {
			// A nil ClientCAs would verify against the system roots.
			return nil, fmt.Errorf("server TLS config: client auth %v needs the client CA pool", auth)
		}
		cfg := ServerConfig(cert, clientCAs)
		cfg.ClientAuth = auth
		return cfg, nil
	default:
		return nil, fmt.Errorf("server TLS config: client auth %v does not verify client certificates", auth)
	}
}

// ClientConfig returns a TLS 1.3-only client configuration that trusts roots
// and nothing else, optionally presenting clientCert for mTLS. A nil roots
// does not fall back to the system roots (as a nil tls.Config.RootCAs would):
// it becomes an empty pool, so every handshake fails verification.
func ClientConfig(roots *x509.CertPool, clientCert *tls.Certificate) *tls.Config {
	if roots == nil {
		roots = x509.NewCertPool()
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		RootCAs:    roots,
	}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	return cfg
}

// maxPrincipalLen admits any DNS name or reasonable e-mail/URI SAN.
const maxPrincipalLen = 255

// ErrNoPrincipal is wrapped when a certificate cannot be mapped to a principal.
var ErrNoPrincipal = errors.New("no principal in client certificate")

// PrincipalFromCert maps a verified mTLS client certificate to a principal
// name: its Common Name, or when that is empty its first DNS, e-mail or URI
// SAN. It refuses a certificate whose ExtKeyUsage excludes clientAuth, so a
// server certificate of the same CA never passes for a client. It does not
// verify the chain: call it on a certificate the TLS stack verified (see
// PrincipalFromConnectionState).
func PrincipalFromCert(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no certificate", ErrNoPrincipal)
	}
	if len(cert.ExtKeyUsage) > 0 &&
		!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) &&
		!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return "", fmt.Errorf("%w: certificate %q is not valid for client authentication", ErrNoPrincipal, cert.Subject.CommonName)
	}
	name := cert.Subject.CommonName
	switch {
	case name != "":
	case len(cert.DNSNames) > 0:
		name = cert.DNSNames[0]
	case len(cert.EmailAddresses) > 0:
		name = cert.EmailAddresses[0]
	case len(cert.URIs) > 0:
		name = cert.URIs[0].String()
	default:
		return "", fmt.Errorf("%w: certificate has neither a common name nor a SAN", ErrNoPrincipal)
	}
	// The name flows into logs and authorisation decisions; refuse anything
	// that is not plain printable text.
	if err := validatePrintable("principal", name, maxPrincipalLen); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoPrincipal, err)
	}
	return name, nil
}

// PrincipalFromConnectionState maps the client of a finished mTLS handshake
// to a principal. Only a certificate the TLS stack verified counts: a state
// without verified chains (no client certificate, or a server that did not
// verify it) is refused.
func PrincipalFromConnectionState(state *tls.ConnectionState) (string, error) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", fmt.Errorf("%w: no verified client certificate", ErrNoPrincipal)
	}
	return PrincipalFromCert(state.VerifiedChains[0][0])
}
