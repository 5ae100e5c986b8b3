package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

func mustJWK(t *testing.T, k jose.JSONWebKey) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeySet(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := func(kid, use string) json.RawMessage {
		return mustJWK(t, jose.JSONWebKey{Key: ec.Public(), KeyID: kid, Use: use, Algorithm: "ES256"})
	}
	set := func(keys ...json.RawMessage) []byte {
		if keys == nil {
			keys = []json.RawMessage{}
		}
		b, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		desc        string
		body        []byte
		wantKids    []string
		wantSkipped int
		wantErr     string
	}{
		{"one signature key", set(pub("a", "sig")), []string{"a"}, 0, ""},
		{"use empty counts as sig", set(pub("a", "")), []string{"a"}, 0, ""},
		{"encryption key ignored", set(pub("a", "sig"), pub("e", "enc")), []string{"a"}, 1, ""},
		{"private key ignored", set(pub("a", "sig"), mustJWK(t, jose.JSONWebKey{Key: ec, KeyID: "p", Use: "sig"})), []string{"a"}, 1, ""},
		{"symmetric key ignored", set(pub("a", "sig"), mustJWK(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "h"})), []string{"a"}, 1, ""},
		{"key without kid ignored", set(pub("a", "sig"), pub("", "sig")), []string{"a"}, 1, ""},
		{"unreadable key ignored, rest kept", set(pub("a", "sig"), json.RawMessage(`{"kty":"XYZ","kid":"x"}`)), []string{"a"}, 1, ""},
		{"duplicate kid dropped altogether", set(pub("a", "sig"), pub("a", "sig"), pub("a", "sig"), pub("b", "sig")), []string{"b"}, 3, ""},
		{"empty set refused: the known keys stay", set(), nil, 0, "no usable signing key"},
		{"only unusable keys refused", set(pub("e", "enc")), nil, 0, "no usable signing key"},
		{"too many keys", set(pub("a", ""), pub("b", ""), pub("c", ""), pub("d", ""), pub("e", "")), nil, 0, "exceed"},
		{"not JSON", []byte("<html>"), nil, 0, "not a JWK set"},
		{"no keys member", []byte(`{"kty":"EC"}`), nil, 0, `no "keys"`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			keys, skipped, err := parseKeySet(tc.body, 4)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseKeySet: %v", err)
			}
			kids := make([]string, 0, len(keys))
			for kid := range keys {
				kids = append(kids, kid)
			}
			slices.Sort(kids)
			if !slices.Equal(kids, tc.wantKids) || skipped != tc.wantSkipped {
				t.Fatalf("kids %v skipped %d, want %v skipped %d", kids, skipped, tc.wantKids, tc.wantSkipped)
			}
		})
	}
}

func TestKeyFits(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		desc string
		key  verifyKey
		alg  string
		want bool
	}{
		{"P-256 for ES256", verifyKey{key: &p256.PublicKey}, "ES256", true},
		{"P-256 for ES384", verifyKey{key: &p256.PublicKey}, "ES384", false},
		{"P-384 for ES384", verifyKey{key: &p384.PublicKey}, "ES384", true},
		{"P-521 for ES512", verifyKey{key: &p521.PublicKey}, "ES512", true},
		{"P-256 for RS256", verifyKey{key: &p256.PublicKey}, "RS256", false},
		{"RSA for RS256", verifyKey{key: &rsa2048.PublicKey}, "RS256", true},
		{"RSA for PS256", verifyKey{key: &rsa2048.PublicKey}, "PS256", true},
		{"RSA restricted to RS256 used for PS256", verifyKey{key: &rsa2048.PublicKey, alg: "RS256"}, "PS256", false},
		{"RSA 1024 too short", verifyKey{key: &rsa1024.PublicKey}, "RS256", false},
		{"RSA for ES256", verifyKey{key: &rsa2048.PublicKey}, "ES256", false},
		{"Ed25519 for EdDSA", verifyKey{key: edPub}, "EdDSA", true},
		{"Ed25519 for ES256", verifyKey{key: edPub}, "ES256", false},
		{"bytes never fit", verifyKey{key: []byte("secret")}, "HS256", false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := keyFits(tc.key, tc.alg); got != tc.want {
				t.Fatalf("keyFits = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyRSAAndEdDSAIssuer(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti.mu.Lock()
	ti.extraJWKS = []json.RawMessage{
		mustJWK(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "rsa", Use: "sig"}),
		mustJWK(t, jose.JSONWebKey{Key: edPub, KeyID: "ed", Algorithm: "EdDSA", Use: "sig"}),
	}
	ti.mu.Unlock()
	clk := newClock()
	cfg := ti.config()
	cfg.Algorithms = []string{"RS256", "PS256", "EdDSA"}
	v := newTestVerifier(t, clk, cfg)
	now := clk.Now()
	cases := []struct {
		desc   string
		method jwt.SigningMethod
		key    any
		kid    string
		ok     bool
	}{
		{"RS256", jwt.SigningMethodRS256, rsaKey, "rsa", true},
		{"PS256", jwt.SigningMethodPS256, rsaKey, "rsa", true},
		{"EdDSA", jwt.SigningMethodEdDSA, edPriv, "ed", true},
		{"EdDSA token naming the RSA key", jwt.SigningMethodEdDSA, edPriv, "rsa", false},
		{"ES256 no longer allowed", jwt.SigningMethodES256, ti.signer("k1"), "k1", false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			raw := signToken(t, tc.method, tc.key, map[string]any{"kid": tc.kid, "typ": "at+jwt"}, ti.claims(now))
			_, err := v.Verify(context.Background(), raw)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, authn.ErrInvalidCredentials) {
				t.Fatalf("err = %v, want invalid credentials", err)
			}
		})
	}
}

func TestJWKSWithTooManyKeysIsRefused(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	for i := range 3 {
		ti.addKey(fmt.Sprintf("extra-%d", i), true)
	}
	clk := newClock()
	cfg := ti.config()
	cfg.MaxKeys = 3 // the set has 4
	v := newTestVerifier(t, clk, cfg)
	_, err := v.Verify(context.Background(), ti.sign("k1", ti.claims(clk.Now())))
	if !errors.Is(err, authn.ErrUnavailable) || !strings.Contains(err.Error(), "exceed") {
		t.Fatalf("err = %v, want unavailable naming the limit", err)
	}
}

func TestMetadata(t *testing.T) {
	pki := newPKI(t)
	ctx := context.Background()

	t.Run("discovered, cached, copied", func(t *testing.T) {
		ti := newTestIssuer(t, pki)
		v := newTestVerifier(t, newClock(), ti.config())
		md, err := v.Metadata(ctx, ti.url)
		if err != nil {
			t.Fatal(err)
		}
		want := Metadata{
			Issuer: ti.url, JWKSURI: ti.url + "/jwks", TokenEndpoint: ti.url + "/token",
			IntrospectionEndpoint: ti.url + "/introspect", IntrospectionBatchEndpoint: ti.url + "/introspect/batch",
		}
		if md.Issuer != want.Issuer || md.JWKSURI != want.JWKSURI || md.TokenEndpoint != want.TokenEndpoint ||
			md.IntrospectionEndpoint != want.IntrospectionEndpoint || md.IntrospectionBatchEndpoint != want.IntrospectionBatchEndpoint {
			t.Fatalf("metadata = %+v, want %+v", md, want)
		}
		md.JWKSURI = "changed by the caller"
		md2, err := v.Metadata(ctx, ti.url)
		if err != nil || md2.JWKSURI != want.JWKSURI {
			t.Fatalf("second Metadata = %+v, %v: the cache must not be shared", md2, err)
		}
		if got := ti.metaFetches.Load(); got != 1 {
			t.Fatalf("metadata fetched %d times, want 1", got)
		}
	})

	t.Run("falls back to OpenID discovery", func(t *testing.T) {
		ti := newTestIssuer(t, pki)
		ti.mu.Lock()
		ti.noOAuth = true
		ti.mu.Unlock()
		v := newTestVerifier(t, newClock(), ti.config())
		if _, err := v.Metadata(ctx, ti.url); err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		if got := ti.metaFetches.Load(); got != 2 {
			t.Fatalf("metadata fetched %d times, want 2 (RFC 8414, then OpenID)", got)
		}
	})

	t.Run("another issuer's document is refused", func(t *testing.T) {
		ti := newTestIssuer(t, pki)
		ti.mu.Lock()
		ti.metaIss = "https://evil.example"
		ti.mu.Unlock()
		v := newTestVerifier(t, newClock(), ti.config())
		_, err := v.Metadata(ctx, ti.url)
		if !errors.Is(err, authn.ErrUnavailable) || !strings.Contains(err.Error(), "evil.example") {
			t.Fatalf("err = %v, want unavailable naming the wrong issuer", err)
		}
		// And its tokens cannot be verified: the keys are never fetched.
		_, err = v.Verify(ctx, ti.sign("k1", ti.claims(time.Now())))
		if !errors.Is(err, authn.ErrUnavailable) || ti.jwksFetches.Load() != 0 {
			t.Fatalf("err = %v, %d JWK set fetches; want unavailable and none", err, ti.jwksFetches.Load())
		}
	})

	t.Run("unknown issuer", func(t *testing.T) {
		ti := newTestIssuer(t, pki)
		v := newTestVerifier(t, newClock(), ti.config())
		if _, err := v.Metadata(ctx, "https://other.example"); !errors.Is(err, ErrUnknownIssuer) {
			t.Fatalf("err = %v, want ErrUnknownIssuer", err)
		}
	})

	t.Run("refreshed after the TTL, old one kept while the issuer is down", func(t *testing.T) {
		ti := newTestIssuer(t, pki)
		clk := newClock()
		v := newTestVerifier(t, clk, ti.config())
		if _, err := v.Metadata(ctx, ti.url); err != nil {
			t.Fatal(err)
		}
		ti.down.Store(true)
		clk.Advance(DefaultJWKSCacheTTL)
		if _, err := v.Metadata(ctx, ti.url); err != nil {
			t.Fatalf("within grace: %v", err)
		}
		if got := ti.metaFetches.Load(); got < 2 {
			t.Fatalf("metadata fetched %d times, want a refresh attempt", got)
		}
		clk.Advance(DefaultJWKSCacheTTL)
		if _, err := v.Metadata(ctx, ti.url); !errors.Is(err, authn.ErrUnavailable) {
			t.Fatalf("past grace: err = %v, want unavailable", err)
		}
	})
}

func TestMetadataURLs(t *testing.T) {
	cases := []struct {
		desc   string
		issuer string
		want   []string
	}{
		{"host only", "https://id.example", []string{
			"https://id.example/.well-known/oauth-authorization-server",
			"https://id.example/.well-known/openid-configuration",
		}},
		{"with path", "https://id.example/realms/a/", []string{
			"https://id.example/realms/a/.well-known/oauth-authorization-server",
			"https://id.example/.well-known/oauth-authorization-server/realms/a",
			"https://id.example/realms/a/.well-known/openid-configuration",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := metadataURLs(tc.issuer); !slices.Equal(got, tc.want) {
				t.Fatalf("metadataURLs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPrefetch(t *testing.T) {
	pki := newPKI(t)
	up, down := newTestIssuer(t, pki), newTestIssuer(t, pki)
	down.down.Store(true)
	clk := newClock()
	v := newTestVerifier(t, clk, up.config(), down.config())
	err := v.Prefetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), down.url) || strings.Contains(err.Error(), up.url+`"`) {
		t.Fatalf("Prefetch err = %v, want only the down issuer named", err)
	}
	if up.jwksFetches.Load() != 1 {
		t.Fatalf("up issuer fetched %d times, want 1", up.jwksFetches.Load())
	}
	// The prefetched keys serve the first token without another fetch.
	if _, err := v.Verify(context.Background(), up.sign("k1", up.claims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	if up.jwksFetches.Load() != 1 {
		t.Fatalf("up issuer fetched %d times after a token, want still 1", up.jwksFetches.Load())
	}
	// After Close the verifier still fetches (on a new connection).
	v.Close()
	clk.Advance(DefaultJWKSCacheTTL)
	if _, err := v.Verify(context.Background(), up.sign("k1", up.claims(clk.Now()))); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if up.jwksFetches.Load() != 2 {
		t.Fatalf("up issuer fetched %d times after the TTL, want 2", up.jwksFetches.Load())
	}
}
