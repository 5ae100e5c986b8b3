package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/bearer"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
	"github.com/passthru-dev/passthru/testkit/tlstest"
)

// Bearer tokens at a resource server: verifying an RFC 9068 access token
// (ES256) with bearer.Verifier, from its cache and in full, and a whole KMS
// encrypt request authenticated by an Identity token, to compare with the
// Basic one (BenchmarkKMSEncrypt).
//
// Besides allocations they report what the verifier and the revocation
// checker did, per operation, from their counters: verifications/op
// (signature checks), jwks-fetches/op (requests for the issuer's JWK set)
// and, at the KMS, introspections/op (calls to Identity). A token the
// resource server has seen before must cost none of them; the gate fails
// when one of these zeros becomes anything else.

// benchKID names the bench issuer's only signing key.
const benchKID = "bench-1"

// benchIssuer is an in-process token issuer: an ES256 key and its JWK set,
// served over TLS 1.3 by a loopback server whose CA only its verifiers trust.
type benchIssuer struct {
	url string
	pki *tlstest.PKI
	key *ecdsa.PrivateKey
}

func newBenchIssuer(b *testing.B) *benchIssuer {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &key.PublicKey, KeyID: benchKID, Algorithm: "ES256", Use: "sig"},
	}})
	require.NoError(b, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	pki := tlstest.New(b)
	srv := pki.NewServer(b, mux)
	return &benchIssuer{url: srv.URL, pki: pki, key: key}
}

// verifier trusts the issuer for audience "kms", with its JWK set already
// fetched (as a server's start-up Prefetch does), so the loop measures
// verification alone. cacheSize bounds the verified-token cache.
func (is *benchIssuer) verifier(b *testing.B, cacheSize int) *bearer.Verifier {
	b.Helper()
	v, err := bearer.NewVerifier(bearer.Options{
		Issuers: []bearer.IssuerConfig{{
			Issuer: is.url, JWKSURI: is.url + "/jwks", Audiences: []string{"kms"}, Roots: is.pki.Roots,
		}},
		CacheSize: cacheSize,
	})
	require.NoError(b, err)
	b.Cleanup(v.Close)
	require.NoError(b, v.Prefetch(b.Context()))
	return v
}

// tokens signs n distinct access tokens shaped like Identity's (RFC 9068
// at+jwt: client credentials of a service, a tenant and KMS scopes).
func (is *benchIssuer) tokens(b *testing.B, n int) []string {
	b.Helper()
	now := time.Now()
	out := make([]string, n)
	for i := range out {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, &authn.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    is.url,
				Subject:   "svc-orders",
				Audience:  jwt.ClaimStrings{"kms"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
				IssuedAt:  jwt.NewNumericDate(now),
				NotBefore: jwt.NewNumericDate(now),
				ID:        uuid.NewString(),
			},
			ClientID: "svc-orders",
			Scope:    "kms:encrypt kms:decrypt",
			TenantID: "3f0c6f4e-8a52-4d1b-9b1e-0c5d2a7e9f10",
		})
		tok.Header["kid"] = benchKID
		tok.Header["typ"] = "at+jwt"
		raw, err := tok.SignedString(is.key)
		require.NoError(b, err)
		out[i] = raw
	}
	return out
}

// reportVerifier publishes the verifier's work since start per operation.
func reportVerifier(b *testing.B, v *bearer.Verifier, start bearer.Stats) bearer.Stats {
	b.Helper()
	d := v.Stats()
	d.Verifications -= start.Verifications
	d.JWKSFetches -= start.JWKSFetches
	d.CacheHits -= start.CacheHits
	b.ReportMetric(float64(d.Verifications)/float64(b.N), "verifications/op")
	b.ReportMetric(float64(d.JWKSFetches)/float64(b.N), "jwks-fetches/op")
	return d
}

// BenchmarkBearerVerifyCached is the hot path: a client presenting the
// token it presented before. A hit hashes the token, finds it and checks
// that its key is still published; no parsing, no signature.
func BenchmarkBearerVerifyCached(b *testing.B) {
	is := newBenchIssuer(b)
	v := is.verifier(b, 0)
	raw := is.tokens(b, 1)[0]
	_, err := v.Verify(b.Context(), raw) // the first presentation verifies and caches
	require.NoError(b, err)
	start := v.Stats()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
	d := reportVerifier(b, v, start)
	if d.Verifications != 0 || d.CacheHits != uint64(b.N) {
		b.Fatalf("%d signature checks and %d cache hits for %d presentations of one token", d.Verifications, d.CacheHits, b.N)
	}
}

// uncachedCacheSize is the verified-token cache of the uncached benchmark,
// kept full: every new token evicts one, as on a busy server, so the cost
// per token does not depend on how many the loop runs (a growing map would
// add its growth steps to B/op).
const uncachedCacheSize = 64

// uncachedBatch is how many tokens are signed at a time, outside the timer.
const uncachedBatch = 256

// BenchmarkBearerVerifyUncached is a token seen for the first time: parse,
// ES256 signature, registered and RFC 9068 claims, caching. Each iteration
// presents a new token; signing them is not measured.
func BenchmarkBearerVerifyUncached(b *testing.B) {
	is := newBenchIssuer(b)
	v := is.verifier(b, uncachedCacheSize)
	for _, raw := range is.tokens(b, uncachedCacheSize) {
		_, err := v.Verify(b.Context(), raw)
		require.NoError(b, err)
	}
	var pending []string
	start := v.Stats()
	b.ReportAllocs()
	for b.Loop() {
		if len(pending) == 0 {
			// Signing in batches keeps the timer's stops (each reads the
			// allocation counters) rare.
			b.StopTimer()
			pending = is.tokens(b, uncachedBatch)
			b.StartTimer()
		}
		raw := pending[0]
		pending = pending[1:]
		if _, err := v.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
	d := reportVerifier(b, v, start)
	if d.Verifications != uint64(b.N) || d.CacheHits != 0 {
		b.Fatalf("%d signature checks and %d cache hits for %d new tokens", d.Verifications, d.CacheHits, b.N)
	}
}

// BenchmarkKMSEncryptBearer is BenchmarkKMSEncrypt with a client-credentials
// access token of the Identity service instead of a password: the KMS trusts
// that Identity (the demo trust, revocation in sensitive mode) and the
// token's tenant is the key's. Encrypt is not a sensitive operation, so
// after the first request the token is answered by the verifier's cache and
// the revocation checker's remembered answer: no signature check, no JWK
// set fetch and no introspection call per request. The revocation interval
// is an hour so that no re-check falls inside the loop.
func BenchmarkKMSEncryptBearer(b *testing.B) {
	pki := filepath.Join(b.TempDir(), "tls")
	idp := fixture.StartIdentity(b, dbtest.SQLite, steadyIdentity, fixture.WithIdentityPKIDir(pki))
	k := fixture.StartKMS(b, dbtest.SQLite, quietKMS, steadyKMS, fixture.WithKMSPKIDir(pki), fixture.WithKMSConfig(func(c *kmsserver.Config) {
		c.Demo.IdentityFile = idp.DemoFile
		c.Demo.RevocationInterval = time.Hour
	}))
	require.NotNil(b, k.Tokens, "the KMS trusts no token issuer")
	require.NotEmpty(b, k.Introspection, "the KMS checks no token for revocation")

	var tok tokenResponse
	svc := idp.ClientOfKind(b, 0, demofile.KindService)
	require.NoError(b, postForm(b, idp.Client, idp.URL+"/oauth2/v1/token", svc, url.Values{"grant_type": {"client_credentials"}}, &tok))
	require.NotEmpty(b, tok.AccessToken)
	key := k.Key(b, 0, "A256GCM")
	encrypt := kmsEncrypter(b, k, key.ID, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) })

	// The first request verifies the token, asks Identity about it and
	// opens the TLS connection: setup, not the hot path.
	require.NoError(b, encrypt())
	tokens, checks, c := k.Tokens.Stats(), introspection(k), startCost(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := encrypt(); err != nil {
			b.Fatal(err)
		}
	}
	st, ic := k.Tokens.Stats(), introspection(k)
	b.ReportMetric(float64(st.Verifications-tokens.Verifications)/float64(b.N), "jwks-verifications/op")
	b.ReportMetric(float64(st.JWKSFetches-tokens.JWKSFetches)/float64(b.N), "jwks-fetches/op")
	b.ReportMetric(float64(ic.Calls-checks.Calls)/float64(b.N), "introspections/op")
	c.report(b)
	// Every request must still be checked for revocation (from memory):
	// a path that skipped the check would report 0 introspections too.
	if hits := ic.CacheHits - checks.CacheHits; hits != uint64(b.N) {
		b.Fatalf("%d revocation checks answered from memory for %d requests", hits, b.N)
	}
}

// introspection sums the counters of the KMS's revocation checkers.
func introspection(k *fixture.KMS) (sum struct{ Calls, CacheHits uint64 }) {
	for _, c := range k.Introspection {
		st := c.Stats()
		sum.Calls += st.Calls
		sum.CacheHits += st.CacheHits
	}
	return sum
}
