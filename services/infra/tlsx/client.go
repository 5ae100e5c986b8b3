package tlsx

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ClientCertOptions configures IssueClientCert.
type ClientCertOptions struct {
	// CommonName is free text (CNStyleDescriptive), e.g. "billing app";
	// servers identify clients by their SANs, not by it.
	CommonName string
	// URIs and DNSNames are the SANs the client is known by; at least one
	// is required, since that is what servers map to a principal. URIs must
	// pass ParseURISAN, DNS names ValidateDNSName.
	URIs     []string
	DNSNames []string
	Validity time.Duration // default 1 year, never beyond the issuing CA
	// Now overrides the chain's clock.
	Now          func() time.Time
	KeyAlgorithm KeyAlgorithm // default ECDSA P-256
}

// IssueClientCert issues an mTLS client leaf from chain's issuing CA: key
// usage digitalSignature, extended key usage clientAuth only (it cannot
// serve TLS), the given SANs and a descriptive CN.
func IssueClientCert(chain *Chain, opts ClientCertOptions) (*Leaf, error) {
	if len(opts.URIs) == 0 && len(opts.DNSNames) == 0 {
		return nil, fmt.Errorf("issue client certificate %q: no URI or DNS SAN (a client is identified by its SANs)", opts.CommonName)
	}
	uris := make([]*url.URL, 0, len(opts.URIs))
	for _, s := range opts.URIs {
		u, err := ParseURISAN(s)
		if err != nil {
			return nil, fmt.Errorf("issue client certificate %q: %w", opts.CommonName, err)
		}
		uris = append(uris, u)
	}
	leaf, err := chain.IssueLeaf(LeafOptions{
		CommonName:   opts.CommonName,
		Style:        CNStyleDescriptive,
		DNSNames:     opts.DNSNames,
		URIs:         uris,
		Client:       true,
		Validity:     opts.Validity,
		Now:          opts.Now,
		KeyAlgorithm: opts.KeyAlgorithm,
	})
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	return leaf, nil
}

// ClientBundle names the files WriteClientBundle wrote, all absolute.
type ClientBundle struct {
	CertFile        string // <name>.pem: leaf + intermediates (curl --cert, tls.LoadX509KeyPair)
	KeyFile         string // <name>-key.pem: PKCS#8 key, 0600
	P12File         string // <name>.p12: leaf, key and intermediates (browsers, Java), 0600
	P12PasswordFile string // <name>.p12.password: the bundle's password, 0600
}

// p12PasswordBytes of randomness give a 43-character password: far beyond
// guessing, and still pasteable into a browser's import dialog.
const p12PasswordBytes = 32

// WriteClientBundle writes leaf under dir as PEM (certificate chain and key)
// and as a PKCS#12 bundle protected by a fresh random password, which is
// written beside it (<name>.p12.password, mode 0600, no trailing newline):
// PKCS#12 importers insist on a password, and one chosen by a person would
// be the weakest part of the bundle. name is a lowercase DNS label (e.g.
// "billing-app"); existing files of that name are replaced.
func WriteClientBundle(dir, name string, leaf *Leaf) (ClientBundle, error) {
	if err := validateBundleName(name); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle: %w", err)
	}
	if leaf == nil || leaf.Cert == nil || leaf.Key == nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: leaf certificate and key required", name)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: %w", name, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: %w", name, err)
	}
	b := ClientBundle{
		CertFile:        filepath.Join(abs, name+".pem"),
		KeyFile:         filepath.Join(abs, name+"-key.pem"),
		P12File:         filepath.Join(abs, name+".p12"),
		P12PasswordFile: filepath.Join(abs, name+".p12.password"),
	}
	raw := make([]byte, p12PasswordBytes)
	if _, err := rand.Read(raw); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: password: %w", name, err)
	}
	password := base64.RawURLEncoding.EncodeToString(raw)
	if err := WriteKeyPEM(b.KeyFile, leaf.Key); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: %w", name, err)
	}
	if err := WriteCertPEM(b.CertFile, append([]*x509.Certificate{leaf.Cert}, leaf.Intermediates...)...); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: %w", name, err)
	}
	// The password first: a .p12 is never on disk without the password
	// that opens it.
	if err := writeFileAtomic(b.P12PasswordFile, []byte(password), keyFileMode); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: %w", name, err)
	}
	if err := WritePKCS12(b.P12File, leaf, password); err != nil {
		return ClientBundle{}, fmt.Errorf("write client bundle %q: %w", name, err)
	}
	return b, nil
}

// ReadP12Password reads a password file WriteClientBundle wrote (a trailing
// newline, as an editor may add, is not part of the password).
func ReadP12Password(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read PKCS#12 password: %w", err)
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("read PKCS#12 password %s: empty", path)
	}
	return pw, nil
}

// validateBundleName keeps client bundle names to one lowercase DNS label,
// so a name can neither leave the directory nor differ only in case from
// another on a case-insensitive file system.
func validateBundleName(name string) error {
	if err := validateLabel(name); err != nil {
		return fmt.Errorf("%w: client name %q: %s", ErrInvalidName, name, err)
	}
	if strings.ToLower(name) != name {
		return fmt.Errorf("%w: client name %q must be lowercase", ErrInvalidName, name)
	}
	return nil
}

// DemoClientsDir is the subdirectory of the demo PKI directory that holds
// the client bundles IssueClientBundle writes.
const DemoClientsDir = "clients"

// ErrNoIssuer is returned when a PKI cannot issue certificates.
var ErrNoIssuer = errors.New("no issuing CA key")

// IssueClientBundle issues a client certificate from the demo chain and
// writes it with WriteClientBundle under <dir>/clients, where dir is the
// directory EnsureDemoPKI was given. The PKI's lock is held while writing,
// so services sharing one directory never interleave their writes to a
// bundle of the same name. The CN defaults to name.
func (p *ServerPKI) IssueClientBundle(name string, opts ClientCertOptions) (ClientBundle, *Leaf, error) {
	if p == nil || p.chain == nil || p.dir == "" {
		return ClientBundle{}, nil, fmt.Errorf("issue demo client %q: %w", name, ErrNoIssuer)
	}
	if err := validateBundleName(name); err != nil {
		return ClientBundle{}, nil, fmt.Errorf("issue demo client: %w", err)
	}
	if opts.CommonName == "" {
		opts.CommonName = name
	}
	leaf, err := IssueClientCert(p.chain, opts)
	if err != nil {
		return ClientBundle{}, nil, fmt.Errorf("issue demo client %q: %w", name, err)
	}
	unlock, err := lockDir(p.dir)
	if err != nil {
		return ClientBundle{}, nil, fmt.Errorf("issue demo client %q: %w", name, err)
	}
	defer unlock()
	b, err := WriteClientBundle(filepath.Join(p.dir, DemoClientsDir), name, leaf)
	if err != nil {
		return ClientBundle{}, nil, fmt.Errorf("issue demo client: %w", err)
	}
	return b, leaf, nil
}
