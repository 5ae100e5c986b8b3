package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

const testIssuer = "https://issuer.test"

// rig is a Server on a real store and barrier, without HTTP listeners, so
// tests can mint tokens with the service's own keys but wrong claims.
type rig struct {
	s      *Server
	keys   *tokens.Keys
	tenant uuid.UUID
	user   *identity.User
	rs     *identity.Client // may introspect
	rsPass string
	web    *identity.Client
	now    time.Time
	db     *db.DB
}

// testUnseal unseals every test barrier: replicas on one database must
// use the same secrets.
var testUnseal = barrier.Options{Secrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}}

// newServer starts a Server on database d as a replica of the service
// does: its own store, barrier and signing keys, and the CSRF key every
// replica on d shares.
func newServer(t testing.TB, d *db.DB, clock func() time.Time) (*Server, *tokens.Keys) {
	t.Helper()
	ctx := t.Context()
	st, err := store.New(ctx, d)
	require.NoError(t, err)
	bar, err := barrier.Open(ctx, d.Gorm(), testUnseal)
	require.NoError(t, err)
	keys, err := tokens.NewKeys(ctx, st, bar, tokens.KeyOptions{RotationPeriod: time.Hour, PrePublish: 10 * time.Minute, MaxTokenTTL: 10 * time.Minute, Now: clock})
	require.NoError(t, err)
	csrfKey, err := LoadCSRFKey(ctx, st, bar)
	require.NoError(t, err)
	s, err := New(Config{
		Issuer: testIssuer, Store: st, Tokens: &tokens.Issuer{Keys: keys, Issuer: testIssuer, Now: clock},
		Hasher: password.Hasher{Iterations: 1000}, Now: clock, CSRFKey: csrfKey,
	})
	require.NoError(t, err)
	return s, keys
}

func newRig(t *testing.T, b dbtest.Backend) *rig {
	t.Helper()
	return newRigOn(t, dbtest.Open(t, b))
}

// newRigOn is newRig on database d.
func newRigOn(t testing.TB, d *db.DB) *rig {
	t.Helper()
	ctx := t.Context()
	r := &rig{now: time.Now().UTC().Truncate(time.Second), tenant: ids.NewTenant(), db: d}
	r.s, r.keys = newServer(t, d, func() time.Time { return r.now })
	st := storeOf(r.s)
	require.NoError(t, st.CreateTenant(ctx, r.tenant, "t", false))
	h := password.Hasher{Iterations: 1000}
	uh, _ := h.Hash("pw-pw-pw-pw-pw")
	r.user = &identity.User{ID: ids.NewEntity(), Username: "user", PasswordHash: uh}
	require.NoError(t, st.CreateUser(ctx, r.tenant, r.user))
	r.rsPass = "rs-secret"
	sh, _ := h.Hash(r.rsPass)
	r.rs = &identity.Client{ClientID: "rs-" + r.tenant.String()[:8], Name: "rs", Kind: identity.KindResourceServer, SecretHash: sh, CanIntrospect: true, Audiences: []string{"kms"}}
	require.NoError(t, st.CreateClient(ctx, r.tenant, r.rs))
	r.web = &identity.Client{ClientID: "web-" + r.tenant.String()[:8], Name: "web", Kind: identity.KindConfidential, SecretHash: sh,
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "profile"}, Audiences: []string{"identity", "kms"}, RedirectURIs: []string{"https://app.test/cb"}}
	require.NoError(t, st.CreateClient(ctx, r.tenant, r.web))
	return r
}

// mint issues a genuine token for the user through the server, then lets
// edit change its claims before signing with issuer iss.
func (r *rig) mint(t *testing.T, iss string, edit func(c *tokens.AccessClaims)) string {
	t.Helper()
	resp, err := r.s.issueTokens(t.Context(), issue{tenant: r.tenant, client: r.web, user: r.user, scopes: []string{"openid", "profile"}, audience: SelfAudience, authTime: r.now})
	require.NoError(t, err)
	if edit == nil && iss == testIssuer {
		return resp.AccessToken
	}
	c, err := r.s.cfg.Tokens.ParseAccess(t.Context(), resp.AccessToken, "")
	require.NoError(t, err)
	if edit != nil {
		edit(c)
	}
	other := &tokens.Issuer{Keys: r.keys, Issuer: iss, Now: func() time.Time { return r.now }}
	c.Issuer = iss
	tok, err := other.SignAccess(t.Context(), c)
	require.NoError(t, err)
	return tok
}

func (r *rig) userinfo(t *testing.T, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/oidc/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	r.s.userinfo(w, req)
	return w.Code, w.Header().Get("WWW-Authenticate")
}

func (r *rig) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oauth2/v1/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(r.rs.ClientID, r.rsPass)
	w := httptest.NewRecorder()
	r.s.introspect(w, req)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	out := map[string]any{}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	return out
}

func TestTokenValidationRefusesForgeries(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		good := r.mint(t, testIssuer, nil)
		code, _ := r.userinfo(t, good)
		require.Equal(t, http.StatusOK, code, "the genuine token works")
		require.Equal(t, true, r.introspect(t, good)["active"])

		signer, err := r.keys.Signer(t.Context())
		require.NoError(t, err)
		pubDER, err := x509.MarshalPKIXPublicKey(signer.Public)
		require.NoError(t, err)
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		genuine, err := r.s.cfg.Tokens.ParseAccess(t.Context(), good, "")
		require.NoError(t, err)

		sign := func(method jwt.SigningMethod, kid string, key any, c jwt.Claims) string {
			tok := jwt.NewWithClaims(method, c)
			tok.Header["typ"] = "at+jwt"
			if kid != "" {
				tok.Header["kid"] = kid
			}
			s, err := tok.SignedString(key)
			require.NoError(t, err)
			return s
		}
		stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)

		for _, tc := range []struct {
			desc  string
			token func() string
		}{
			{desc: "alg none", token: func() string {
				return sign(jwt.SigningMethodNone, signer.KID, jwt.UnsafeAllowNoneSignatureType, genuine)
			}},
			{desc: "HS256 signed with the public key as secret", token: func() string {
				return sign(jwt.SigningMethodHS256, signer.KID, pubPEM, genuine)
			}},
			{desc: "HS256 signed with the DER public key as secret", token: func() string {
				return sign(jwt.SigningMethodHS256, signer.KID, pubDER, genuine)
			}},
			{desc: "unknown kid", token: func() string { return sign(jwt.SigningMethodES256, "no-such-kid", stranger, genuine) }},
			{desc: "no kid", token: func() string { return sign(jwt.SigningMethodES256, "", stranger, genuine) }},
			{desc: "right kid, wrong key", token: func() string { return sign(jwt.SigningMethodES256, signer.KID, stranger, genuine) }},
			{desc: "wrong issuer", token: func() string { return r.mint(t, "https://evil.test", nil) }},
			{desc: "wrong audience", token: func() string {
				return r.mint(t, testIssuer, func(c *tokens.AccessClaims) { c.Audience = jwt.ClaimStrings{"https://evil.test"} })
			}},
			{desc: "expired", token: func() string {
				return r.mint(t, testIssuer, func(c *tokens.AccessClaims) {
					c.ExpiresAt = jwt.NewNumericDate(r.now.Add(-time.Minute))
				})
			}},
			{desc: "tenant swapped", token: func() string {
				return r.mint(t, testIssuer, func(c *tokens.AccessClaims) { c.TenantID = ids.NewTenant().String() })
			}},
			{desc: "tenant not a UUID", token: func() string {
				return r.mint(t, testIssuer, func(c *tokens.AccessClaims) { c.TenantID = "not-a-uuid" })
			}},
			{desc: "subject neither the client nor a user id", token: func() string {
				return r.mint(t, testIssuer, func(c *tokens.AccessClaims) { c.Subject = "not-a-uuid" })
			}},
			{desc: "unknown jti", token: func() string {
				return r.mint(t, testIssuer, func(c *tokens.AccessClaims) { c.ID = ids.NewEntity().String() })
			}},
			{desc: "not an access token (typ JWT)", token: func() string {
				tok := jwt.NewWithClaims(jwt.SigningMethodES256, genuine)
				tok.Header["kid"] = signer.KID
				s, err := tok.SignedString(signer.Private)
				require.NoError(t, err)
				return s
			}},
			{desc: "garbage", token: func() string { return "not-a-jwt" }},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok := tc.token()
				code, challenge := r.userinfo(t, tok)
				assert.Equal(t, http.StatusUnauthorized, code)
				assert.Contains(t, challenge, `error="invalid_token"`)
				assert.Equal(t, map[string]any{"active": false}, r.introspect(t, tok))
			})
		}

		t.Run("a disabled user's tokens stop working", func(t *testing.T) {
			tok := r.mint(t, testIssuer, nil)
			r.user.Disabled = true
			require.NoError(t, storeOf(r.s).UpdateUser(t.Context(), r.tenant, r.user))
			t.Cleanup(func() {
				r.user.Disabled = false
				require.NoError(t, storeOf(r.s).UpdateUser(context.Background(), r.tenant, r.user))
			})
			code, _ := r.userinfo(t, tok)
			assert.Equal(t, http.StatusUnauthorized, code)
			assert.Equal(t, false, r.introspect(t, tok)["active"])
		})

		t.Run("expiry by the clock", func(t *testing.T) {
			tok := r.mint(t, testIssuer, nil)
			r.now = r.now.Add(11 * time.Minute)
			code, _ := r.userinfo(t, tok)
			assert.Equal(t, http.StatusUnauthorized, code)
			assert.Equal(t, false, r.introspect(t, tok)["active"])
		})
	})
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		desc string
		cfg  Config
	}{
		{desc: "no issuer", cfg: Config{}},
		{desc: "trailing slash", cfg: Config{Issuer: "https://x/"}},
		{desc: "no store", cfg: Config{Issuer: "https://x"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(tc.cfg)
			assert.Error(t, err)
		})
	}
}

// introspectVia asks the server's router to introspect a made-up token as
// client id: the answer shows how the client's authentication went.
func introspectVia(mux *http.ServeMux, id, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, PathIntrospect, strings.NewReader(url.Values{"token": {"not-a-token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w
}

// takeEveryPlace fills p, as a flood of uncached checks would; release
// gives the places back.
func takeEveryPlace(p *credential.Pool) (release func()) {
	var held []*credential.Ticket
	for {
		tk, err := p.Reserve()
		if err != nil {
			break
		}
		held = append(held, tk)
	}
	return func() {
		for _, tk := range held {
			tk.Release()
		}
	}
}

// TestFullPoolRefusesOnlyUncachedClients: with every place of the
// verifier's pool taken (as a flood of wrong secrets takes them), the
// server's own router answers an uncached client with 503
// temporarily_unavailable and Retry-After, without hashing, and still
// serves a client whose secret it verified earlier.
func TestFullPoolRefusesOnlyUncachedClients(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	mux := http.NewServeMux()
	r.s.Register(mux)
	introspect := func(id, secret string) (*httptest.ResponseRecorder, map[string]any) {
		w := introspectVia(mux, id, secret)
		out := map[string]any{}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
		return w, out
	}
	w, _ := introspect(r.rs.ClientID, r.rsPass)
	require.Equal(t, http.StatusOK, w.Code, "the resource server's secret is verified and cached")

	release := takeEveryPlace(r.s.creds.Pool())
	before := r.s.PasswordChecks()
	for _, c := range []struct{ id, secret string }{
		{id: r.web.ClientID, secret: r.rsPass},      // right secret, never verified
		{id: r.rs.ClientID, secret: "wrong-secret"}, // wrong secret
		{id: "no-such-client", secret: "x"},         // unknown client
	} {
		w, body := introspect(c.id, c.secret)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, "%s: %v", c.id, body)
		assert.Equal(t, "temporarily_unavailable", body["error"])
		assert.Equal(t, "1", w.Header().Get("Retry-After"))
		w, _ = introspect(r.rs.ClientID, r.rsPass)
		assert.Equal(t, http.StatusOK, w.Code, "the cached client is served")
	}
	assert.Equal(t, before, r.s.PasswordChecks(), "nothing was hashed while the pool was full")

	release()
	w, body := introspect(r.web.ClientID, r.rsPass)
	assert.Equal(t, http.StatusForbidden, w.Code, "authenticated once the pool has room (and not allowed to introspect): %v", body)
}

// TestFloodDoesNotLiftAClientLock: failures for many distinct client ids
// fill the verifier's bounded lockout table; the lock of the client under
// attack stays. The table it replaces was wiped whenever it was full.
func TestFloodDoesNotLiftAClientLock(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	creds, err := credential.New(credential.Options{Hasher: r.s.cfg.Hasher, Now: r.s.cfg.Now, LockoutSize: 16})
	require.NoError(t, err)
	r.s, err = New(Config{Issuer: testIssuer, Store: r.s.cfg.Store, Tokens: r.s.cfg.Tokens, Hasher: r.s.cfg.Hasher, Now: r.s.cfg.Now, Credentials: creds, CSRFKey: r.s.cfg.CSRFKey})
	require.NoError(t, err)
	mux := http.NewServeMux()
	r.s.Register(mux)
	introspect := func(id, secret string) int { return introspectVia(mux, id, secret).Code }
	for range credential.DefaultLockoutThreshold {
		require.Equal(t, http.StatusUnauthorized, introspect(r.rs.ClientID, "wrong-secret"))
	}
	require.Equal(t, http.StatusTooManyRequests, introspect(r.rs.ClientID, r.rsPass))
	for i := range 100 {
		require.Equal(t, http.StatusUnauthorized, introspect("flood-"+strconv.Itoa(i), "x"))
	}
	assert.Equal(t, http.StatusTooManyRequests, introspect(r.rs.ClientID, r.rsPass), "still locked after the flood")
	r.now = r.now.Add(credential.DefaultLockoutBackoff)
	assert.Equal(t, http.StatusOK, introspect(r.rs.ClientID, r.rsPass), "the lock ends on time")
}

// TestLoginPageWhenBusy: with every place of the verifier's pool taken, the
// login form answers 503 with Retry-After and a page saying so, and signs
// the user in once the pool has room. Driven through the server's router:
// authorize, the login page (CSRF cookie and token), the form post.
func TestLoginPageWhenBusy(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	mux := http.NewServeMux()
	r.s.Register(mux)
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	q := url.Values{
		"response_type": {"code"}, "client_id": {r.web.ClientID}, "redirect_uri": {"https://app.test/cb"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	w := serve(httptest.NewRequest(http.MethodGet, PathAuthorize+"?"+q.Encode(), nil))
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	w = serve(httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	fields := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(w.Body.String(), -1) {
		fields.Set(m[1], html.UnescapeString(m[2]))
	}
	require.NotEmpty(t, fields.Get("csrf_token"))
	cookies := w.Result().Cookies()
	fields.Set("username", r.user.Username)
	fields.Set("password", "pw-pw-pw-pw-pw")
	login := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, PathLogin, strings.NewReader(fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return serve(req)
	}

	release := takeEveryPlace(r.s.creds.Pool())
	w = login()
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), "The service is busy.")
	release()
	w = login()
	assert.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Contains(t, w.Header().Get("Location"), PathConsent)
}

// storeOf is the real store behind a test server, for the set-up calls the
// endpoints' narrow interfaces do not offer.
func storeOf(s *Server) *store.Store { return s.cfg.Store.(*store.Store) }
