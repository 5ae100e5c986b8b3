package bearer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/clock"
)

// fakeClock is the settable test clock: tests cross TTLs and refresh
// intervals by moving it, never by sleeping.
type fakeClock = clock.Fake

func newClock() *fakeClock { return clock.New(time.Now().Truncate(time.Second)) }

// testPKI is a CA and a server certificate for 127.0.0.1.
type testPKI struct {
	pool *x509.CertPool
	leaf *tlsx.Leaf
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	chain, err := tlsx.NewChain(tlsx.ChainOptions{Length: 1})
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	leaf, err := chain.IssueLeaf(tlsx.LeafOptions{
		CommonName: "issuer.test", IPs: []net.IP{net.IPv4(127, 0, 0, 1).To4()}, Server: true,
	})
	if err != nil {
		t.Fatalf("leaf: %v", err)
	}
	return &testPKI{pool: chain.Pool(), leaf: leaf}
}

// testIssuer is an in-test authorization server: metadata and JWK set over
// TLS, signing keys by kid, and counters of what was fetched.
type testIssuer struct {
	t   testing.TB
	srv *httptest.Server
	url string
	pki *testPKI

	mu        sync.Mutex
	signers   map[string]crypto.Signer // every key it can sign with
	published []string                 // kids in the JWK set
	extraJWKS []json.RawMessage        // raw keys appended to the set
	metaIss   string                   // issuer in the metadata; default url
	noOAuth   bool                     // 404 on the RFC 8414 document

	// entered and release hold /slow-jwks until the test lets it answer.
	entered chan struct{}
	release chan struct{}

	jwksFetches atomic.Int64
	metaFetches atomic.Int64
	down        atomic.Bool
}

func newTestIssuer(t testing.TB, pki *testPKI) *testIssuer {
	t.Helper()
	ti := &testIssuer{t: t, pki: pki, signers: map[string]crypto.Signer{},
		entered: make(chan struct{}, 1), release: make(chan struct{})}
	mux := http.NewServeMux()
	meta := func(w http.ResponseWriter, r *http.Request) {
		ti.metaFetches.Add(1)
		if ti.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ti.mu.Lock()
		iss, noOAuth := ti.metaIss, ti.noOAuth
		ti.mu.Unlock()
		if noOAuth && r.URL.Path == "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		if iss == "" {
			iss = ti.url
		}
		writeJSON(w, map[string]any{
			"issuer":                       iss,
			"jwks_uri":                     ti.url + "/jwks",
			"token_endpoint":               ti.url + "/token",
			"introspection_endpoint":       ti.url + "/introspect",
			"introspection_batch_endpoint": ti.url + "/introspect/batch",
		})
	}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", meta)
	mux.HandleFunc("GET /.well-known/openid-configuration", meta)
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		ti.jwksFetches.Add(1)
		if ti.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, ti.jwks())
	})
	// Misbehaving endpoints, for JWKSURI.
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"pad":"`))
		_, _ = w.Write(make([]byte, maxDocumentSize))
	})
	mux.HandleFunc("GET /to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/jwks", http.StatusFound)
	})
	mux.HandleFunc("GET /to-https", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks", http.StatusFound)
	})
	mux.HandleFunc("GET /loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("GET /slow-jwks", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksFetches.Add(1)
		ti.entered <- struct{}{}
		<-ti.release
		writeJSON(w, ti.jwks())
	})
	ti.srv = httptest.NewUnstartedServer(mux)
	ti.srv.TLS = tlsx.ServerConfig(pki.leaf.TLSCertificate(), nil)
	ti.srv.StartTLS()
	t.Cleanup(ti.srv.Close)
	ti.url = ti.srv.URL
	ti.addKey("k1", true)
	return ti
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (ti *testIssuer) jwks() map[string]any {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	keys := make([]any, 0, len(ti.published)+len(ti.extraJWKS))
	for _, kid := range ti.published {
		keys = append(keys, jose.JSONWebKey{Key: ti.signers[kid].Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"})
	}
	for _, raw := range ti.extraJWKS {
		keys = append(keys, raw)
	}
	return map[string]any{"keys": keys}
}

// addKey creates an ES256 key; publish puts it in the JWK set.
func (ti *testIssuer) addKey(kid string, publish bool) {
	ti.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ti.t.Fatalf("key: %v", err)
	}
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.signers[kid] = key
	if publish {
		ti.published = append(ti.published, kid)
	}
}

func (ti *testIssuer) unpublish(kid string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	for i, k := range ti.published {
		if k == kid {
			ti.published = append(ti.published[:i], ti.published[i+1:]...)
			return
		}
	}
}

func (ti *testIssuer) signer(kid string) crypto.Signer {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.signers[kid]
}

// config is the IssuerConfig trusting ti with audience "kms".
func (ti *testIssuer) config() IssuerConfig {
	return IssuerConfig{Issuer: ti.url, Audiences: []string{"kms"}, Roots: ti.pki.pool}
}

// claims are valid access-token claims of ti at now.
func (ti *testIssuer) claims(now time.Time) *authn.Claims {
	return &authn.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    ti.url,
			Subject:   "alice",
			Audience:  jwt.ClaimStrings{"kms"},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		ClientID: "client-1",
		Scope:    "kms:encrypt kms:decrypt",
		TenantID: testTenant.String(),
		Roles:    []string{"operator"},
	}
}

var testTenant = uuid.MustParse("3f0c6f4e-8a52-4d1b-9b1e-0c5d2a7e9f10")

// sign signs c with the key kid as an at+jwt, ES256.
func (ti *testIssuer) sign(kid string, c jwt.Claims) string {
	return signToken(ti.t, jwt.SigningMethodES256, ti.signer(kid), map[string]any{"kid": kid, "typ": "at+jwt"}, c)
}

// signToken signs c with method and key; header replaces the default
// header parameters (a nil value removes one).
func signToken(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func newTestVerifier(t testing.TB, clk *fakeClock, issuers ...IssuerConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(Options{Issuers: issuers, Now: clk.Now})
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	return v
}
