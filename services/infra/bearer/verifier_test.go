package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

func TestVerifyValidToken(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())

	raw := ti.sign("k1", ti.claims(clk.Now()))
	tok, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if tok.Issuer != ti.url || tok.Claims.Subject != "alice" || tok.Claims.TenantID != testTenant.String() ||
		tok.Claims.ClientID != "client-1" || tok.Claims.Scope != "kms:encrypt kms:decrypt" {
		t.Fatalf("token = %+v, claims %+v", tok, tok.Claims)
	}
	if tok.Hash == [32]byte{} {
		t.Fatal("no hash")
	}
	if got := ti.jwksFetches.Load(); got != 1 {
		t.Fatalf("JWK set fetched %d times, want 1", got)
	}
	if s := v.Stats(); s.JWKSFetches != 1 || s.Verifications != 1 || s.CacheHits != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestVerifyRefusesForgedTokens: every token below must be refused as
// invalid credentials, never accepted and never reported as unavailable.
func TestVerifyRefusesForgedTokens(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	other := newTestIssuer(t, pki) // untrusted, but reachable
	ti.addKey("unpublished", false)
	clk := newClock()
	now := clk.Now()

	pubDER, err := x509.MarshalPKIXPublicKey(ti.signer("k1").Public())
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mod func(c *authn.Claims)) *authn.Claims {
		c := ti.claims(now)
		mod(c)
		return c
	}
	valid := ti.sign("k1", ti.claims(now))

	cases := []struct {
		desc string
		raw  string
	}{
		{"alg none", signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			map[string]any{"kid": "k1", "typ": "at+jwt"}, ti.claims(now))},
		{"HS256 keyed with the issuer's public key", signToken(t, jwt.SigningMethodHS256, pubDER,
			map[string]any{"kid": "k1", "typ": "at+jwt"}, ti.claims(now))},
		{"unknown kid", ti.sign("unpublished", ti.claims(now))},
		{"no kid", signToken(t, jwt.SigningMethodES256, ti.signer("k1"), map[string]any{"typ": "at+jwt"}, ti.claims(now))},
		{"untrusted iss", ti.sign("k1", with(func(c *authn.Claims) { c.Issuer = "https://evil.example" }))},
		{"iss differs by a trailing slash", ti.sign("k1", with(func(c *authn.Claims) { c.Issuer += "/" }))},
		{"wrong aud", ti.sign("k1", with(func(c *authn.Claims) { c.Audience = jwt.ClaimStrings{"billing"} }))},
		{"no aud", ti.sign("k1", with(func(c *authn.Claims) { c.Audience = nil }))},
		{"typ JWT", signToken(t, jwt.SigningMethodES256, ti.signer("k1"), map[string]any{"kid": "k1", "typ": "JWT"}, ti.claims(now))},
		{"typ missing", signToken(t, jwt.SigningMethodES256, ti.signer("k1"), map[string]any{"kid": "k1", "typ": nil}, ti.claims(now))},
		{"expired beyond leeway", ti.sign("k1", with(func(c *authn.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
			c.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.NotBefore = c.IssuedAt
		}))},
		{"no exp", ti.sign("k1", with(func(c *authn.Claims) { c.ExpiresAt = nil }))},
		{"nbf in the future", ti.sign("k1", with(func(c *authn.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(2 * time.Minute)) }))},
		{"iat in the future", ti.sign("k1", with(func(c *authn.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(2 * time.Minute)) }))},
		{"no iat", ti.sign("k1", with(func(c *authn.Claims) { c.IssuedAt = nil }))},
		{"no sub", ti.sign("k1", with(func(c *authn.Claims) { c.Subject = "" }))},
		{"no tenant_id", ti.sign("k1", with(func(c *authn.Claims) { c.TenantID = "" }))},
		{"scope with a control character", ti.sign("k1", with(func(c *authn.Claims) { c.Scope = "kms:encrypt\tkms:decrypt" }))},
		{"scope with a quote", ti.sign("k1", with(func(c *authn.Claims) { c.Scope = `kms:"x"` }))},
		{"untrusted issuer's key claiming the trusted iss and kid",
			signToken(t, jwt.SigningMethodES256, other.signer("k1"), map[string]any{"kid": "k1", "typ": "at+jwt"}, ti.claims(now))},
		{"ID token (typ JWT, aud the client)", signToken(t, jwt.SigningMethodES256, ti.signer("k1"),
			map[string]any{"kid": "k1", "typ": "JWT"}, with(func(c *authn.Claims) { c.Audience = jwt.ClaimStrings{"client-1"} }))},
		{"algorithm outside the allow-list", signToken(t, jwt.SigningMethodES384, p384,
			map[string]any{"kid": "k1", "typ": "at+jwt"}, ti.claims(now))},
		{"critical header extension", signToken(t, jwt.SigningMethodES256, ti.signer("k1"),
			map[string]any{"kid": "k1", "typ": "at+jwt", "crit": []string{"exp"}}, ti.claims(now))},
		{"tampered payload", tamper(t, valid)},
		{"signature stripped", valid[:strings.LastIndexByte(valid, '.')+1]},
		{"JWE-shaped", "a.b.c.d.e"},
		{"empty", ""},
		{"oversized", strings.Repeat("a", MaxTokenSize) + ".b.c"},
		{"garbage segments", "!!.??.**"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			// A fresh verifier per case: no cache or refresh state leaks.
			v := newTestVerifier(t, clk, ti.config())
			tok, err := v.Verify(context.Background(), tc.raw)
			if err == nil {
				t.Fatalf("accepted: %+v", tok.Claims)
			}
			if !errors.Is(err, authn.ErrInvalidCredentials) || errors.Is(err, authn.ErrUnavailable) {
				t.Fatalf("err = %v, want invalid credentials only", err)
			}
		})
	}

	// The control: the unmodified token passes with the same setup.
	if _, err := newTestVerifier(t, clk, ti.config()).Verify(context.Background(), valid); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
}

// tamper changes the subject in the payload and keeps the signature.
func tamper(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	c := new(authn.Claims)
	if _, _, err := jwt.NewParser().ParseUnverified(raw, c); err != nil {
		t.Fatal(err)
	}
	c.Subject = "mallory"
	forged := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	s, err := forged.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + strings.Split(s, ".")[1] + "." + parts[2]
}

func TestVerifyAcceptsWithinLeewayAndTypVariants(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	now := clk.Now()
	cases := []struct {
		desc string
		typ  string
		mod  func(c *authn.Claims)
	}{
		{"typ upper case", "AT+JWT", func(*authn.Claims) {}},
		{"typ application/at+jwt", "application/at+jwt", func(*authn.Claims) {}},
		{"expired within leeway", "at+jwt", func(c *authn.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-20 * time.Second)) }},
		{"iat slightly ahead", "at+jwt", func(c *authn.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(20 * time.Second)) }},
		{"aud one of several", "at+jwt", func(c *authn.Claims) { c.Audience = jwt.ClaimStrings{"other", "kms"} }},
		{"no scope", "at+jwt", func(c *authn.Claims) { c.Scope = "" }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := ti.claims(now)
			tc.mod(c)
			raw := signToken(t, jwt.SigningMethodES256, ti.signer("k1"), map[string]any{"kid": "k1", "typ": tc.typ}, c)
			if _, err := newTestVerifier(t, clk, ti.config()).Verify(context.Background(), raw); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestVerifyTwoTrustedIssuersUseTheirOwnKeys(t *testing.T) {
	pki := newPKI(t)
	a, b := newTestIssuer(t, pki), newTestIssuer(t, pki)
	clk := newClock()
	v := newTestVerifier(t, clk, a.config(), b.config())
	now := clk.Now()

	cases := []struct {
		desc    string
		raw     string
		wantIss string
	}{
		{"issuer A with A's key", a.sign("k1", a.claims(now)), a.url},
		{"issuer B with B's key", b.sign("k1", b.claims(now)), b.url},
		{"claims B, signed with A's key of the same kid", a.sign("k1", b.claims(now)), ""},
		{"claims A, signed with B's key of the same kid", b.sign("k1", a.claims(now)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tok, err := v.Verify(context.Background(), tc.raw)
			if tc.wantIss == "" {
				if !errors.Is(err, authn.ErrInvalidCredentials) {
					t.Fatalf("err = %v, want invalid credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tok.Issuer != tc.wantIss {
				t.Fatalf("issuer %q, want %q", tok.Issuer, tc.wantIss)
			}
		})
	}
}

func TestKeyRotationWithoutRestart(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	ctx := context.Background()

	if _, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now()))); err != nil {
		t.Fatalf("k1: %v", err)
	}
	ti.addKey("k2", true)
	clk.Advance(DefaultMinRefreshInterval)
	tok, err := v.Verify(ctx, ti.sign("k2", ti.claims(clk.Now())))
	if err != nil {
		t.Fatalf("new key k2 refused: %v", err)
	}
	if tok.Claims.Subject != "alice" {
		t.Fatalf("claims %+v", tok.Claims)
	}
	if got := ti.jwksFetches.Load(); got != 2 {
		t.Fatalf("JWK set fetched %d times, want 2", got)
	}
	// k1 stays valid beside k2, without another fetch.
	if _, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now()))); err != nil {
		t.Fatalf("k1 after rotation: %v", err)
	}
	if got := ti.jwksFetches.Load(); got != 2 {
		t.Fatalf("JWK set fetched %d times, want still 2", got)
	}
}

func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	ti.addKey("attacker", false)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	ctx := context.Background()

	if _, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now()))); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				raw := signToken(t, jwt.SigningMethodES256, ti.signer("attacker"),
					map[string]any{"kid": fmt.Sprintf("random-%d", i), "typ": "at+jwt"}, ti.claims(clk.Now()))
				if _, err := v.Verify(ctx, raw); !errors.Is(err, authn.ErrInvalidCredentials) {
					t.Errorf("kid random-%d: err = %v, want invalid credentials", i, err)
				}
			})
		}
		wg.Wait()
	}

	cases := []struct {
		desc        string
		advance     time.Duration
		wantFetches int64
	}{
		{"within the interval of the first fetch: no fetch", 0, 1},
		{"just short of the interval: still none", DefaultMinRefreshInterval - time.Second, 1},
		{"interval crossed: exactly one fetch", time.Second, 2},
		{"same instant again: none", 0, 2},
		{"next interval: one more", DefaultMinRefreshInterval, 3},
	}
	for _, tc := range cases {
		clk.Advance(tc.advance)
		flood()
		if got := ti.jwksFetches.Load(); got != tc.wantFetches {
			t.Fatalf("%s: JWK set fetched %d times, want %d", tc.desc, got, tc.wantFetches)
		}
	}
	if s := v.Stats(); s.JWKSFetches != uint64(ti.jwksFetches.Load()) {
		t.Fatalf("Stats.JWKSFetches = %d, server saw %d", s.JWKSFetches, ti.jwksFetches.Load())
	}
}

func TestFailClosedWhenKeysNeverFetched(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	ti.down.Store(true)
	clk := newClock()
	cfg := ti.config()
	cfg.JWKSURI = ti.url + "/jwks"
	v := newTestVerifier(t, clk, cfg)
	raw := ti.sign("k1", ti.claims(clk.Now()))

	for i, wantFetches := range []int64{1, 1} { // the second try is within the refresh interval
		_, err := v.Verify(context.Background(), raw)
		if !errors.Is(err, authn.ErrUnavailable) || errors.Is(err, authn.ErrInvalidCredentials) {
			t.Fatalf("try %d: err = %v, want unavailable", i, err)
		}
		if got := ti.jwksFetches.Load(); got != wantFetches {
			t.Fatalf("try %d: fetched %d times, want %d", i, got, wantFetches)
		}
	}
	// The issuer comes back: after the interval its tokens pass.
	ti.down.Store(false)
	clk.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestFailClosedWhenIssuerUnreachable(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	raw := ti.sign("k1", ti.claims(time.Now()))
	ti.srv.Close() // nothing listens any more
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	_, err := v.Verify(context.Background(), raw)
	if !errors.Is(err, authn.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if _, err := v.Metadata(context.Background(), ti.url); !errors.Is(err, authn.ErrUnavailable) {
		t.Fatalf("Metadata err = %v, want unavailable", err)
	}
}

func TestStaleKeysGraceThenUnavailable(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	ctx := context.Background()
	if _, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	ti.down.Store(true)

	cases := []struct {
		desc    string
		advance time.Duration
		wantErr error
	}{
		{"past the TTL, refresh fails: old keys serve", DefaultJWKSCacheTTL, nil},
		{"just before twice the TTL: still served", DefaultJWKSCacheTTL - time.Second, nil},
		{"past twice the TTL: unavailable", time.Second, authn.ErrUnavailable},
	}
	for _, tc := range cases {
		clk.Advance(tc.advance)
		// A new token each time: cache hits are covered elsewhere.
		_, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now())))
		if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: err = %v, want %v", tc.desc, err, tc.wantErr)
		}
	}
	// The issuer recovers: the next token after the interval fetches again.
	ti.down.Store(false)
	clk.Advance(DefaultMinRefreshInterval)
	if _, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now()))); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestUnknownKidWhenRefreshFailsIsUnavailable(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	ti.addKey("k2", false)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	ctx := context.Background()
	if _, err := v.Verify(ctx, ti.sign("k1", ti.claims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	ti.down.Store(true)
	clk.Advance(DefaultMinRefreshInterval)
	_, err := v.Verify(ctx, ti.sign("k2", ti.claims(clk.Now())))
	if !errors.Is(err, authn.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v, err := NewVerifier(Options{Issuers: []IssuerConfig{ti.config()}, Now: clk.Now, CacheMaxAge: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := ti.claims(clk.Now())
	c.ExpiresAt = jwt.NewNumericDate(clk.Now().Add(time.Hour))
	raw := ti.sign("k1", c)

	steps := []struct {
		desc              string
		advance           time.Duration
		act               func()
		wantVerifications uint64
		wantHits          uint64
		wantErr           error
	}{
		{desc: "first use verifies", wantVerifications: 1},
		{desc: "second use is a cache hit", wantVerifications: 1, wantHits: 1},
		{desc: "third use too", wantVerifications: 1, wantHits: 2},
		{desc: "past CacheMaxAge: verified again", advance: 10 * time.Minute, wantVerifications: 2, wantHits: 2},
		{desc: "and cached again", wantVerifications: 2, wantHits: 3},
		{
			desc: "key withdrawn by the issuer and learnt: cached token no longer vouched for",
			act: func() {
				ti.unpublish("k1")
				ti.addKey("k2", true)
				clk.Advance(DefaultMinRefreshInterval)
				// A token with a new kid makes the verifier refresh.
				if _, err := v.Verify(ctx, ti.sign("k2", ti.claims(clk.Now()))); err != nil {
					t.Fatalf("k2: %v", err)
				}
			},
			wantVerifications: 3, wantHits: 3, wantErr: authn.ErrInvalidCredentials,
		},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.act != nil {
			s.act()
		}
		_, err := v.Verify(ctx, raw)
		if s.wantErr == nil && err != nil || s.wantErr != nil && !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: err = %v, want %v", s.desc, err, s.wantErr)
		}
		if st := v.Stats(); st.Verifications != s.wantVerifications || st.CacheHits != s.wantHits {
			t.Fatalf("%s: stats %+v, want %d verifications, %d hits", s.desc, st, s.wantVerifications, s.wantHits)
		}
	}
}

func TestCacheEntryEndsAtExp(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	c := ti.claims(clk.Now())
	c.ExpiresAt = jwt.NewNumericDate(clk.Now().Add(time.Minute))
	raw := ti.sign("k1", c)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute) // beyond exp and the leeway
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Fatalf("expired cached token: err = %v, want invalid credentials", err)
	}
	if st := v.Stats(); st.CacheHits != 0 || st.Verifications != 2 {
		t.Fatalf("stats %+v: the expired entry must not be a hit", st)
	}
}

func TestCacheIsBounded(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v, err := NewVerifier(Options{Issuers: []IssuerConfig{ti.config()}, Now: clk.Now, CacheSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c := ti.claims(clk.Now())
		c.ExpiresAt = jwt.NewNumericDate(clk.Now().Add(time.Duration(i+1) * time.Minute))
		if _, err := v.Verify(context.Background(), ti.sign("k1", c)); err != nil {
			t.Fatal(err)
		}
	}
	v.cache.mu.RLock()
	n := len(v.cache.m)
	v.cache.mu.RUnlock()
	if n != 3 {
		t.Fatalf("cache holds %d entries, want 3", n)
	}
	// Expired entries are the first to go.
	clk.Advance(90 * time.Minute)
	v.cache.mu.Lock()
	v.cache.evictLocked(clk.Now())
	n = len(v.cache.m)
	v.cache.mu.Unlock()
	if n != 0 {
		t.Fatalf("after expiry eviction %d entries remain, want 0", n)
	}
}

func TestConcurrentVerificationsOfOneTokenShareOne(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	clk := newClock()
	v := newTestVerifier(t, clk, ti.config())
	raw := ti.sign("k1", ti.claims(clk.Now()))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), raw); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	// Each call either shared the first verification or hit the cache.
	if st := v.Stats(); st.Verifications != 1 {
		t.Fatalf("stats %+v, want exactly 1 verification", st)
	}
}
