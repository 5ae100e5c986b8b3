// Package tlsx builds the TLS material Passthru runs on: a CA chain (root,
// intermediate, issuing CA by default), leaf certificates for servers and
// mTLS clients, TLS 1.3-only server and client configurations that verify
// against an explicit CA pool and nothing else, PEM and PKCS#12 storage, and
// a load-or-create demo PKI for the services' --demo mode.
//
// There is deliberately no way to turn verification off: no option, no
// field, no code path in this package sets tls.Config.InsecureSkipVerify.
package tlsx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"
)

// KeyAlgorithm selects the key type of a generated certificate.
type KeyAlgorithm string

const (
	// KeyECDSAP256 is the default (the zero value maps to it): fast to
	// generate, universally supported in TLS 1.3.
	KeyECDSAP256 KeyAlgorithm = "ecdsa-p256"
	KeyECDSAP384 KeyAlgorithm = "ecdsa-p384"
	KeyRSA2048   KeyAlgorithm = "rsa-2048"
	KeyRSA3072   KeyAlgorithm = "rsa-3072"
)

const (
	// DefaultChainLength is root, intermediate and issuing CA.
	DefaultChainLength = 3
	// MaxChainLength bounds the chain; longer chains serve no purpose here
	// and only slow handshakes down.
	MaxChainLength = 8
	// DefaultCAValidity is how long generated CAs live.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultLeafValidity is how long generated leaves live.
	DefaultLeafValidity = 365 * 24 * time.Hour
	// DefaultChainName prefixes the CA common names.
	DefaultChainName = "Passthru"
	// backdate absorbs clock skew between the issuer and the verifier, so a
	// certificate is valid the moment it is handed out.
	backdate = 5 * time.Minute
)

// ChainOptions configures NewChain. Zero values mean defaults.
type ChainOptions struct {
	Length   int           // number of CAs, root first; default 3 (root, intermediate, issuing CA)
	Name     string        // prefix of the CA common names, default "Passthru"
	Validity time.Duration // lifetime of every CA; default 10 years
	Now      func() time.Time
	// KeyAlgorithm of the CA keys; default ECDSA P-256.
	KeyAlgorithm KeyAlgorithm
}

// CA is one certificate authority of a chain. Key may be nil for a CA loaded
// from disk whose key was not kept (see EnsureDemoPKI); such a CA cannot issue.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Chain is a CA hierarchy: CAs[0] is the root (the single trust anchor),
// CAs[len-1] the issuing CA that signs leaves.
type Chain struct {
	CAs []*CA

	now func() time.Time // clock inherited by IssueLeaf; nil means time.Now
}

// NewChain generates a fresh CA chain. Each CA carries BasicConstraints with
// the tightest MaxPathLen that still allows the CAs below it, KeyUsage
// CertSign|CRLSign, a SubjectKeyId and (below the root) an AuthorityKeyId,
// and a random 128-bit serial.
func NewChain(opts ChainOptions) (*Chain, error) {
	length := opts.Length
	if length == 0 {
		length = DefaultChainLength
	}
	if length < 1 || length > MaxChainLength {
		return nil, fmt.Errorf("new CA chain: length %d out of range 1..%d", length, MaxChainLength)
	}
	name := opts.Name
	if name == "" {
		name = DefaultChainName
	}
	// The longest suffix caCommonName adds is " Intermediate CA <n>" with a
	// one-digit n (MaxChainLength 8); checking two digits leaves headroom.
	if err := validateDescriptive("CA name", name+" Intermediate CA 00"); err != nil {
		return nil, fmt.Errorf("new CA chain: %w", err)
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("new CA chain: negative validity %v", validity)
	}
	now := clock(opts.Now)()
	notBefore, notAfter := now.Add(-backdate), now.Add(validity)

	chain := &Chain{CAs: make([]*CA, 0, length), now: opts.Now}
	for i := range length {
		key, err := generateKey(opts.KeyAlgorithm)
		if err != nil {
			return nil, fmt.Errorf("new CA chain: %w", err)
		}
		serial, err := randomSerial()
		if err != nil {
			return nil, fmt.Errorf("new CA chain: %w", err)
		}
		skid, err := subjectKeyID(key.Public())
		if err != nil {
			return nil, fmt.Errorf("new CA chain: %w", err)
		}
		// Path length counts the CAs that may still follow this one before
		// the leaf: the issuing CA gets 0 and can sign leaves only.
		pathLen := length - 1 - i
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{CommonName: caCommonName(name, i, length)},
			NotBefore:             notBefore,
			NotAfter:              notAfter,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            pathLen,
			MaxPathLenZero:        pathLen == 0,
			SubjectKeyId:          skid,
		}
		parent, signer := tmpl, key
		if i > 0 {
			issuer := chain.CAs[i-1]
			parent, signer = issuer.Cert, issuer.Key
		}
		cert, err := createCertificate(tmpl, parent, key.Public(), signer)
		if err != nil {
			return nil, fmt.Errorf("new CA chain: %s: %w", tmpl.Subject.CommonName, err)
		}
		chain.CAs = append(chain.CAs, &CA{Cert: cert, Key: key})
	}
	return chain, nil
}

func caCommonName(prefix string, i, length int) string {
	switch {
	case i == 0:
		return prefix + " Root CA"
	case i == length-1:
		return prefix + " Issuing CA"
	case length == 3:
		return prefix + " Intermediate CA"
	default:
		return fmt.Sprintf("%s Intermediate CA %d", prefix, i)
	}
}

// Root returns the trust anchor, or nil for an empty chain.
func (c *Chain) Root() *CA {
	if c == nil || len(c.CAs) == 0 {
		return nil
	}
	return c.CAs[0]
}

// Issuing returns the CA that signs leaves, or nil for an empty chain.
func (c *Chain) Issuing() *CA {
	if c == nil || len(c.CAs) == 0 {
		return nil
	}
	return c.CAs[len(c.CAs)-1]
}

// Pool returns a pool holding the root only: intermediates are sent by the
// peer and must chain up to it. It is never nil, because a nil pool in a
// tls.Config means "system roots"; an empty chain yields an empty pool that
// trusts nothing.
func (c *Chain) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	if root := c.Root(); root != nil {
		pool.AddCert(root.Cert)
	}
	return pool
}

// intermediates returns the CA certificates a peer must send with a leaf:
// issuing CA first, up to (not including) the root.
func (c *Chain) intermediates() []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(c.CAs))
	for i := len(c.CAs) - 1; i >= 1; i-- {
		out = append(out, c.CAs[i].Cert)
	}
	return out
}

// LeafOptions configures IssueLeaf.
type LeafOptions struct {
	CommonName string
	Style      CNStyle  // default CNStyleFQDN
	DNSNames   []string // host names (single labels such as localhost allowed, no wildcards)
	IPs        []net.IP // e.g. 127.0.0.1, ::1
	// URIs are URI SANs (e.g. spiffe://passthru.demo/app), how an mTLS
	// client is usually named; see ParseURISAN for what is accepted.
	URIs     []*url.URL
	Server   bool          // ExtKeyUsage serverAuth
	Client   bool          // ExtKeyUsage clientAuth (mTLS)
	Validity time.Duration // default 1 year, never beyond the issuing CA
	// Now overrides the chain's clock (tests issue expired leaves with it).
	Now func() time.Time
	// KeyAlgorithm of the leaf key; default ECDSA P-256.
	KeyAlgorithm KeyAlgorithm
}

// Leaf is an end-entity certificate with its key and the intermediates a
// peer needs to verify it.
type Leaf struct {
	Cert          *x509.Certificate
	Key           crypto.Signer
	Intermediates []*x509.Certificate // issuing CA .. intermediate, not the root
}

// IssueLeaf signs a new leaf with the issuing CA. With CNStyleFQDN the CN is
// validated as an FQDN and added to the DNS SANs. At least one of Server and
// Client must be set: a certificate is issued for what it will be used for.
func (c *Chain) IssueLeaf(opts LeafOptions) (*Leaf, error) {
	issuer := c.Issuing()
	if issuer == nil || issuer.Key == nil {
		return nil, errors.New("issue leaf: the chain has no issuing CA with a private key")
	}
	if err := validateCommonName(opts.CommonName, opts.Style); err != nil {
		return nil, fmt.Errorf("issue leaf: %w", err)
	}
	if !opts.Server && !opts.Client {
		return nil, fmt.Errorf("issue leaf %q: set Server, Client or both", opts.CommonName)
	}
	dnsNames := make([]string, 0, len(opts.DNSNames)+1)
	if opts.Style == CNStyleFQDN {
		dnsNames = append(dnsNames, opts.CommonName)
	}
	for _, n := range opts.DNSNames {
		if err := validateDNSName(n); err != nil {
			return nil, fmt.Errorf("issue leaf %q: DNS SAN: %w", opts.CommonName, err)
		}
		if !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	ips := make([]net.IP, 0, len(opts.IPs))
	for _, ip := range opts.IPs {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("issue leaf %q: invalid IP SAN %v", opts.CommonName, ip)
		}
		ips = append(ips, ip)
	}
	uris := make([]*url.URL, 0, len(opts.URIs))
	for _, u := range opts.URIs {
		if u == nil {
			return nil, fmt.Errorf("issue leaf %q: nil URI SAN", opts.CommonName)
		}
		if _, err := ParseURISAN(u.String()); err != nil {
			return nil, fmt.Errorf("issue leaf %q: %w", opts.CommonName, err)
		}
		uris = append(uris, u)
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("issue leaf %q: negative validity %v", opts.CommonName, validity)
	}
	nowFn := opts.Now
	if nowFn == nil {
		nowFn = c.now
	}
	now := clock(nowFn)()
	notBefore, notAfter := now.Add(-backdate), now.Add(validity)
	// A leaf outliving its issuer would only ever fail verification later.
	if notAfter.After(issuer.Cert.NotAfter) {
		notAfter = issuer.Cert.NotAfter
	}
	if notBefore.Before(issuer.Cert.NotBefore) {
		notBefore = issuer.Cert.NotBefore
	}

	var ekus []x509.ExtKeyUsage
	if opts.Server {
		ekus = append(ekus, x509.ExtKeyUsageServerAuth)
	}
	if opts.Client {
		ekus = append(ekus, x509.ExtKeyUsageClientAuth)
	}
	key, err := generateKey(opts.KeyAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("issue leaf %q: %w", opts.CommonName, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("issue leaf %q: %w", opts.CommonName, err)
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("issue leaf %q: %w", opts.CommonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           ekus,
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          skid,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  uris,
	}
	cert, err := createCertificate(tmpl, issuer.Cert, key.Public(), issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("issue leaf %q: %w", opts.CommonName, err)
	}
	return &Leaf{Cert: cert, Key: key, Intermediates: c.intermediates()}, nil
}

// TLSCertificate returns the leaf with its intermediates, ready for
// tls.Config.Certificates or as an mTLS client certificate.
func (l *Leaf) TLSCertificate() tls.Certificate {
	raw := make([][]byte, 0, 1+len(l.Intermediates))
	raw = append(raw, l.Cert.Raw)
	for _, c := range l.Intermediates {
		raw = append(raw, c.Raw)
	}
	return tls.Certificate{Certificate: raw, PrivateKey: l.Key, Leaf: l.Cert}
}

func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func generateKey(alg KeyAlgorithm) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case "", KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("unknown key algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return key, nil
}

// randomSerial returns a positive serial with 128 random bits, as the CA/B
// baseline asks for at least 64; it fits the 20-octet limit of RFC 5280.
func randomSerial() (*big.Int, error) {
	for {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID follows RFC 7093 §2 method 1: the leftmost 160 bits of the
// SHA-256 of the subjectPublicKey bits (Go's own default uses SHA-1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

func createCertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate: %w", err)
	}
	return cert, nil
}
