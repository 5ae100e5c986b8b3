package bearer

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestIssuerConfigValidate(t *testing.T) {
	pool := x509.NewCertPool()
	good := func() IssuerConfig {
		return IssuerConfig{Issuer: "https://id.example/tenant", Audiences: []string{"kms"}, Roots: pool}
	}
	cases := []struct {
		desc    string
		mod     func(c *IssuerConfig)
		wantErr string // substring naming the field; empty: valid
	}{
		{"minimal", func(*IssuerConfig) {}, ""},
		{"all options", func(c *IssuerConfig) {
			c.JWKSURI = "https://id.example/jwks"
			c.Algorithms = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}
			c.Leeway, c.JWKSCacheTTL, c.MinRefreshInterval, c.MaxKeys = 10*time.Second, time.Minute, time.Second, 4
		}, ""},
		{"dev mode leeway", func(c *IssuerConfig) { c.DevMode, c.Leeway = true, 5*time.Minute }, ""},
		{"no issuer", func(c *IssuerConfig) { c.Issuer = "" }, "Issuer"},
		{"http issuer", func(c *IssuerConfig) { c.Issuer = "http://id.example" }, "Issuer"},
		{"issuer without host", func(c *IssuerConfig) { c.Issuer = "https:///x" }, "Issuer"},
		{"issuer with query", func(c *IssuerConfig) { c.Issuer = "https://id.example?x=1" }, "Issuer"},
		{"issuer with fragment", func(c *IssuerConfig) { c.Issuer = "https://id.example#x" }, "Issuer"},
		{"issuer with user info", func(c *IssuerConfig) { c.Issuer = "https://u:p@id.example" }, "Issuer"},
		{"issuer not a URL", func(c *IssuerConfig) { c.Issuer = "https://id.example/%zz" }, "Issuer"},
		{"http JWKS URI", func(c *IssuerConfig) { c.JWKSURI = "http://id.example/jwks" }, "JWKSURI"},
		{"no audience", func(c *IssuerConfig) { c.Audiences = nil }, "Audiences"},
		{"blank audience", func(c *IssuerConfig) { c.Audiences = []string{"kms", " "} }, "Audiences"},
		{"alg none", func(c *IssuerConfig) { c.Algorithms = []string{"none"} }, "Algorithms"},
		{"alg HS256", func(c *IssuerConfig) { c.Algorithms = []string{"ES256", "HS256"} }, "Algorithms"},
		{"alg unknown", func(c *IssuerConfig) { c.Algorithms = []string{"RS1"} }, "Algorithms"},
		{"no roots", func(c *IssuerConfig) { c.Roots = nil }, "Roots"},
		{"negative leeway", func(c *IssuerConfig) { c.Leeway = -time.Second }, "Leeway"},
		{"leeway above 30s", func(c *IssuerConfig) { c.Leeway = 31 * time.Second }, "Leeway"},
		{"dev leeway above 5m", func(c *IssuerConfig) { c.DevMode, c.Leeway = true, 5*time.Minute+time.Second }, "Leeway"},
		{"negative TTL", func(c *IssuerConfig) { c.JWKSCacheTTL = -1 }, "JWKSCacheTTL"},
		{"negative refresh interval", func(c *IssuerConfig) { c.MinRefreshInterval = -1 }, "MinRefreshInterval"},
		{"negative max keys", func(c *IssuerConfig) { c.MaxKeys = -1 }, "MaxKeys"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := good()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("Validate accepted the configuration")
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr+":"):
				t.Fatalf("error %q does not name %s", err, tc.wantErr)
			}
		})
	}
	var nilCfg *IssuerConfig
	if err := nilCfg.Validate(); err == nil {
		t.Fatal("nil configuration accepted")
	}
}

func TestIssuerConfigDefaults(t *testing.T) {
	c := IssuerConfig{Issuer: "https://id.example", Audiences: []string{"kms"}, Roots: x509.NewCertPool()}
	d := c.withDefaults()
	if len(d.Algorithms) != 1 || d.Algorithms[0] != "ES256" || d.Leeway != DefaultLeeway ||
		d.JWKSCacheTTL != DefaultJWKSCacheTTL || d.MinRefreshInterval != DefaultMinRefreshInterval || d.MaxKeys != DefaultMaxKeys {
		t.Fatalf("defaults = %+v", d)
	}
	if c.Algorithms != nil || c.Leeway != 0 {
		t.Fatal("withDefaults changed the original")
	}
}

func TestNewVerifierRefusesBadOptions(t *testing.T) {
	good := IssuerConfig{Issuer: "https://id.example", Audiences: []string{"kms"}, Roots: x509.NewCertPool()}
	bad := good
	bad.Algorithms = []string{"HS256"}
	cases := []struct {
		desc    string
		opts    Options
		wantErr string
	}{
		{"no issuers", Options{}, "Issuers"},
		{"invalid issuer", Options{Issuers: []IssuerConfig{bad}}, "Algorithms"},
		{"duplicate issuer", Options{Issuers: []IssuerConfig{good, good}}, "twice"},
		{"negative cache size", Options{Issuers: []IssuerConfig{good}, CacheSize: -1}, "CacheSize"},
		{"negative cache age", Options{Issuers: []IssuerConfig{good}, CacheMaxAge: -1}, "CacheMaxAge"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewVerifier(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}
