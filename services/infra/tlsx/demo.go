package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Demo PKI layout under the directory given to EnsureDemoPKI.
const (
	DemoCAFile         = "ca.pem"             // root certificate: the trust anchor clients use
	DemoChainFile      = "chain.pem"          // intermediates, issuing CA first
	DemoIssuingKeyFile = "issuing-ca-key.pem" // issuing CA key, to issue later leaves
	// DemoDomain is the parent domain of demo leaf names: <name>.passthru.demo.local.
	DemoDomain = "passthru.demo.local"
	// DemoChainName prefixes the demo CA common names.
	DemoChainName = "Passthru Demo"

	// demoRenewBefore reissues a leaf this close to expiry, so a service is
	// never started with a certificate that dies within the day.
	demoRenewBefore = 24 * time.Hour
)

// reservedDemoNames would make <name>.pem or <name>-key.pem overwrite a CA file.
var reservedDemoNames = []string{"ca", "chain", "issuing-ca"}

// ServerPKI is what a service needs to serve TLS with the demo PKI.
type ServerPKI struct {
	CAFile      string         // absolute path of ca.pem
	Roots       *x509.CertPool // the root only
	Certificate tls.Certificate

	chain *Chain
	dir   string // absolute; client bundles go under it (IssueClientBundle)
}

// Chain returns the demo CA chain; only the issuing CA carries a key, which
// is enough to issue further leaves (e.g. mTLS client certificates).
func (p *ServerPKI) Chain() *Chain { return p.chain }

// Dir returns the absolute directory the demo PKI lives in.
func (p *ServerPKI) Dir() string { return p.dir }

// EnsureDemoPKI loads or creates the demo PKI for service name (a lowercase
// DNS label such as "kms") under dir:
//
//	ca.pem              root certificate (the trust anchor)
//	chain.pem           intermediate and issuing CA certificates
//	issuing-ca-key.pem  issuing CA key (0600)
//	<name>.pem          leaf + intermediates, CN <name>.passthru.demo.local,
//	                    SANs localhost, <name>.passthru.demo.local, 127.0.0.1, ::1
//	<name>-key.pem      leaf key (0600, PKCS#8)
//
// Existing files are reused, so a restart keeps the same CA and leaf; a
// missing, unreadable, mismatched or (nearly) expired leaf is reissued from
// the stored issuing CA. Root and intermediate keys are not kept: nothing
// needs them once the chain exists, and a key never written cannot leak.
// A CA is created only when ca.pem is absent (a half-written CA that no
// client can trust yet is replaced); an existing but unusable CA is an
// error, because silently replacing it would break every client holding
// ca.pem. Calls for several names on one dir share one CA; concurrent calls
// are serialised by a lock file.
func EnsureDemoPKI(dir, name string) (*ServerPKI, error) {
	return ensureDemoPKI(dir, name, time.Now)
}

func ensureDemoPKI(dir, name string, now func() time.Time) (*ServerPKI, error) {
	if err := validateDemoName(name); err != nil {
		return nil, fmt.Errorf("demo PKI: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("demo PKI %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("demo PKI: %w", err)
	}
	unlock, err := lockDir(abs)
	if err != nil {
		return nil, fmt.Errorf("demo PKI: %w", err)
	}
	defer unlock()

	chain, err := loadOrCreateDemoChain(abs, now)
	if err != nil {
		return nil, fmt.Errorf("demo PKI %s: %w", abs, err)
	}
	leaf, err := loadOrIssueDemoLeaf(abs, name, chain, now)
	if err != nil {
		return nil, fmt.Errorf("demo PKI %s: %w", abs, err)
	}
	return &ServerPKI{
		CAFile:      filepath.Join(abs, DemoCAFile),
		Roots:       chain.Pool(),
		Certificate: leaf.TLSCertificate(),
		chain:       chain,
		dir:         abs,
	}, nil
}

func validateDemoName(name string) error {
	if err := validateLabel(name); err != nil {
		return fmt.Errorf("%w: service name %q: %s", ErrInvalidName, name, err)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return fmt.Errorf("%w: service name %q must be lowercase", ErrInvalidName, name)
		}
	}
	if slices.Contains(reservedDemoNames, name) {
		return fmt.Errorf("%w: service name %q is reserved for the CA files", ErrInvalidName, name)
	}
	return nil
}

func loadOrCreateDemoChain(dir string, now func() time.Time) (*Chain, error) {
	caPath := filepath.Join(dir, DemoCAFile)
	_, err := os.Stat(caPath)
	switch {
	case err == nil:
		return loadDemoChain(dir, now)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load CA: %w", err)
	}
	chain, err := NewChain(ChainOptions{Name: DemoChainName, Now: now})
	if err != nil {
		return nil, err
	}
	// ca.pem goes last: its presence marks a complete CA.
	if err := WriteKeyPEM(filepath.Join(dir, DemoIssuingKeyFile), chain.Issuing().Key); err != nil {
		return nil, err
	}
	if err := WriteCertPEM(filepath.Join(dir, DemoChainFile), chain.intermediates()...); err != nil {
		return nil, err
	}
	if err := WriteCertPEM(caPath, chain.Root().Cert); err != nil {
		return nil, err
	}
	// Keep only what EnsureDemoPKI would load, so the first run and a
	// restart behave the same.
	for _, ca := range chain.CAs[:len(chain.CAs)-1] {
		ca.Key = nil
	}
	return chain, nil
}

func loadDemoChain(dir string, now func() time.Time) (*Chain, error) {
	unusable := func(err error) error {
		return fmt.Errorf("existing demo CA is unusable (remove the directory to start a new CA; clients must then fetch the new %s): %w", DemoCAFile, err)
	}
	roots, err := ReadCertsPEM(filepath.Join(dir, DemoCAFile))
	if err != nil {
		return nil, unusable(err)
	}
	if len(roots) != 1 || !roots[0].IsCA {
		return nil, unusable(fmt.Errorf("%s must hold exactly one CA certificate, found %d certificates", DemoCAFile, len(roots)))
	}
	inters, err := ReadCertsPEM(filepath.Join(dir, DemoChainFile))
	if err != nil {
		return nil, unusable(err)
	}
	key, err := ReadKeyPEM(filepath.Join(dir, DemoIssuingKeyFile))
	if err != nil {
		return nil, unusable(err)
	}
	issuing := inters[0]
	if !publicKeysEqual(key.Public(), issuing.PublicKey) {
		return nil, unusable(fmt.Errorf("%s does not match the issuing CA in %s", DemoIssuingKeyFile, DemoChainFile))
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	interPool := x509.NewCertPool()
	for _, c := range inters[1:] {
		interPool.AddCert(c)
	}
	if _, err := issuing.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: interPool,
		CurrentTime:   now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, unusable(fmt.Errorf("issuing CA does not verify: %w", err))
	}
	chain := &Chain{CAs: []*CA{{Cert: roots[0]}}, now: now}
	for i := len(inters) - 1; i >= 0; i-- {
		chain.CAs = append(chain.CAs, &CA{Cert: inters[i]})
	}
	chain.Issuing().Key = key
	return chain, nil
}

func demoLeafNames(name string) (fqdn string, dnsNames []string, ips []net.IP) {
	fqdn = name + "." + DemoDomain
	return fqdn, []string{"localhost", fqdn}, []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
}

func loadOrIssueDemoLeaf(dir, name string, chain *Chain, now func() time.Time) (*Leaf, error) {
	certPath := filepath.Join(dir, name+".pem")
	keyPath := filepath.Join(dir, name+"-key.pem")
	if leaf := loadDemoLeaf(certPath, keyPath, name, chain, now()); leaf != nil {
		return leaf, nil
	}
	fqdn, dnsNames, ips := demoLeafNames(name)
	leaf, err := chain.IssueLeaf(LeafOptions{
		CommonName: fqdn,
		Style:      CNStyleFQDN,
		DNSNames:   dnsNames,
		IPs:        ips,
		Server:     true,
		Now:        now,
	})
	if err != nil {
		return nil, err
	}
	if err := WriteKeyPEM(keyPath, leaf.Key); err != nil {
		return nil, err
	}
	if err := WriteCertPEM(certPath, append([]*x509.Certificate{leaf.Cert}, leaf.Intermediates...)...); err != nil {
		return nil, err
	}
	return leaf, nil
}

// loadDemoLeaf returns the stored leaf if it is still fit to serve, nil if
// it must be (re)issued. Any defect means reissue: the leaf is cheap and
// derived, unlike the CA.
func loadDemoLeaf(certPath, keyPath, name string, chain *Chain, now time.Time) *Leaf {
	certs, err := ReadCertsPEM(certPath)
	if err != nil {
		return nil
	}
	key, err := ReadKeyPEM(keyPath)
	if err != nil {
		return nil
	}
	cert := certs[0]
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil
	}
	inters := chain.intermediates()
	interPool := x509.NewCertPool()
	for _, c := range inters {
		interPool.AddCert(c)
	}
	fqdn, dnsNames, ips := demoLeafNames(name)
	if _, err := cert.Verify(x509.VerifyOptions{
		DNSName:       fqdn,
		Roots:         chain.Pool(),
		Intermediates: interPool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil
	}
	if cert.NotAfter.Sub(now) < demoRenewBefore {
		return nil
	}
	for _, n := range dnsNames {
		if cert.VerifyHostname(n) != nil {
			return nil
		}
	}
	for _, ip := range ips {
		if cert.VerifyHostname(ip.String()) != nil {
			return nil
		}
	}
	return &Leaf{Cert: cert, Key: key, Intermediates: inters}
}
