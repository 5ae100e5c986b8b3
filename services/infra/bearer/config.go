package bearer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of an IssuerConfig.
const (
	// DefaultLeeway absorbs clock skew between the issuer and this server
	// on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway outside DevMode: more would keep
	// expired tokens alive noticeably longer.
	MaxLeeway = 30 * time.Second
	// MaxDevLeeway is the largest leeway even in DevMode (laptops with
	// drifting clocks, containers resumed from sleep).
	MaxDevLeeway = 5 * time.Minute
	// DefaultJWKSCacheTTL is how long a fetched JWK set is used before it is
	// fetched again.
	DefaultJWKSCacheTTL = 5 * time.Minute
	// DefaultMinRefreshInterval is the least time between two fetches of an
	// issuer's JWK set triggered by tokens (unknown kid, stale set).
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultMaxKeys bounds the JWK set of an issuer. A set with more keys is
	// refused as a whole rather than truncated: which keys a truncation
	// dropped would be arbitrary, and the current signing key might be one.
	DefaultMaxKeys = 32
)

// DefaultAlgorithms is the algorithm allow-list of an issuer that names none.
var DefaultAlgorithms = []string{"ES256"}

// supportedAlgorithms are the asymmetric JWS algorithms an issuer may be
// allowed. HMAC algorithms are absent on purpose: a resource server holding
// the issuer's secret could mint tokens itself, and allowing HS* next to
// public keys is the classic algorithm-confusion hole.
var supportedAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact iss of its tokens and the issuer identifier of its
	// metadata (an https URL).
	Issuer string
	// JWKSURI is where its JWK set is fetched; empty means discovered from
	// the issuer's metadata.
	JWKSURI string
	// Audiences identify this resource server: a token's aud must contain
	// at least one of them.
	Audiences []string
	// Algorithms the issuer signs with; default ES256.
	Algorithms []string
	// Roots verify the issuer's HTTPS endpoints (required: there is no
	// fallback to the system roots).
	Roots *x509.CertPool
	// ClientCert is presented to the issuer's endpoints when set (mTLS).
	ClientCert *tls.Certificate
	// Leeway on exp, nbf and iat; default DefaultLeeway, at most MaxLeeway
	// (MaxDevLeeway with DevMode).
	Leeway  time.Duration
	DevMode bool
	// JWKSCacheTTL is how long a fetched JWK set (and the metadata) is used
	// before being fetched again; default DefaultJWKSCacheTTL.
	JWKSCacheTTL time.Duration
	// MinRefreshInterval is the least time between two fetches of the JWK
	// set; default DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxKeys is the most keys a JWK set may hold (a larger set is refused
	// and the keys known before stay in use); default DefaultMaxKeys.
	MaxKeys int
}

// Validate reports the first problem of c, naming the field. Zero values of
// the optional fields are valid (they mean the defaults); Validate does not
// change c.
func (c *IssuerConfig) Validate() error {
	if c == nil {
		return errors.New("bearer issuer: no configuration")
	}
	if err := checkHTTPSURL(c.Issuer, true); err != nil {
		return fmt.Errorf("bearer issuer %q: Issuer: %w", c.Issuer, err)
	}
	if c.JWKSURI != "" {
		if err := checkHTTPSURL(c.JWKSURI, false); err != nil {
			return fmt.Errorf("bearer issuer %q: JWKSURI: %w", c.Issuer, err)
		}
	}
	if len(c.Audiences) == 0 {
		return fmt.Errorf("bearer issuer %q: Audiences: at least one audience is required", c.Issuer)
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("bearer issuer %q: Audiences: empty audience", c.Issuer)
		}
	}
	for _, alg := range c.Algorithms {
		if !slices.Contains(supportedAlgorithms, alg) {
			return fmt.Errorf("bearer issuer %q: Algorithms: %q is not allowed (allowed: %s; none and HMAC never are)",
				c.Issuer, alg, strings.Join(supportedAlgorithms, ", "))
		}
	}
	if c.Roots == nil {
		return fmt.Errorf("bearer issuer %q: Roots: a CA bundle for the issuer's endpoints is required", c.Issuer)
	}
	switch {
	case c.Leeway < 0:
		return fmt.Errorf("bearer issuer %q: Leeway: negative (%v)", c.Issuer, c.Leeway)
	case c.Leeway > MaxDevLeeway:
		return fmt.Errorf("bearer issuer %q: Leeway: %v exceeds %v", c.Issuer, c.Leeway, MaxDevLeeway)
	case c.Leeway > MaxLeeway && !c.DevMode:
		return fmt.Errorf("bearer issuer %q: Leeway: %v exceeds %v (only DevMode allows up to %v)",
			c.Issuer, c.Leeway, MaxLeeway, MaxDevLeeway)
	}
	if c.JWKSCacheTTL < 0 {
		return fmt.Errorf("bearer issuer %q: JWKSCacheTTL: negative (%v)", c.Issuer, c.JWKSCacheTTL)
	}
	if c.MinRefreshInterval < 0 {
		return fmt.Errorf("bearer issuer %q: MinRefreshInterval: negative (%v)", c.Issuer, c.MinRefreshInterval)
	}
	if c.MaxKeys < 0 {
		return fmt.Errorf("bearer issuer %q: MaxKeys: negative (%d)", c.Issuer, c.MaxKeys)
	}
	return nil
}

// withDefaults returns a copy of c with the zero optional fields set.
func (c IssuerConfig) withDefaults() IssuerConfig {
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	c.Algorithms = slices.Clone(c.Algorithms)
	c.Audiences = slices.Clone(c.Audiences)
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.JWKSCacheTTL == 0 {
		c.JWKSCacheTTL = DefaultJWKSCacheTTL
	}
	if c.MinRefreshInterval == 0 {
		c.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	return c
}

// checkHTTPSURL accepts an absolute https URL with a host and no fragment;
// an issuer identifier may not have a query either (RFC 8414 §2).
func checkHTTPSURL(s string, issuer bool) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("%q is not an https URL", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q has a fragment", s)
	case issuer && (u.RawQuery != "" || strings.Contains(s, "?")):
		return fmt.Errorf("%q has a query", s)
	case u.User != nil:
		return fmt.Errorf("%q carries user information", s)
	}
	return nil
}
