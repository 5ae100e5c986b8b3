package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// answer is one HTTP answer of an endpoint called in-process.
type answer struct {
	status int
	body   map[string]any
	err    error
}

// call posts form to one of the server's handlers as client c with the
// rig's client secret. Safe in any goroutine: it fails no test itself.
func (r *rig) call(handler http.HandlerFunc, path string, c *identity.Client, form url.Values) answer {
	return r.callAs(handler, path, c.ClientID, r.rsPass, form)
}

// callAs is call with Basic credentials id and secret.
func (r *rig) callAs(handler http.HandlerFunc, path, id, secret string, form url.Values) answer {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	w := httptest.NewRecorder()
	handler(w, req)
	a := answer{status: w.Code, body: map[string]any{}}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
			a.err = errors.Join(err, errors.New(w.Body.String()))
		}
	}
	return a
}

// tokenCall posts a token request for a client whose secret is the rig's.
func (r *rig) tokenCall(t *testing.T, c *identity.Client, form url.Values) (int, map[string]any) {
	t.Helper()
	a := r.call(r.s.token, PathToken, c, form)
	require.NoError(t, a.err)
	return a.status, a.body
}

// withGrants returns a copy of the rig whose server keeps its grants in g.
func (r *rig) withGrants(t *testing.T, g GrantStore) *rig {
	t.Helper()
	cfg := r.s.cfg
	cfg.Grants = g
	s, err := New(cfg)
	require.NoError(t, err)
	out := *r
	out.s = s
	return &out
}

// refresher is a client of the rig's tenant allowed to refresh.
func (r *rig) refresher(t *testing.T) *identity.Client {
	t.Helper()
	c := &identity.Client{ClientID: "app-" + uuid.NewString()[:8], Name: "app", Kind: identity.KindConfidential, SecretHash: r.rs.SecretHash,
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"}, Audiences: []string{"identity"}, RedirectURIs: []string{"https://app.test/cb"}}
	require.NoError(t, storeOf(r.s).CreateClient(t.Context(), r.tenant, c))
	return c
}

// newCode stores a code for client c and returns the token request that
// redeems it.
func (r *rig) newCode(t *testing.T, c *identity.Client) (hash string, form url.Values) {
	t.Helper()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	code := newOpaque()
	require.NoError(t, storeOf(r.s).SaveCode(t.Context(), r.tenant, &identity.AuthCode{
		IDHash: hashOpaque(code), ClientID: c.ClientID, UserID: r.user.ID, RedirectURI: "https://app.test/cb",
		Scope: "openid", CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), Audience: SelfAudience,
		AuthTime: r.now, ExpiresAt: r.now.Add(time.Minute),
	}))
	return hashOpaque(code), url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.test/cb"}, "code_verifier": {verifier}}
}

// newRefresh issues tokens with a refresh token to c, as a code would.
func (r *rig) newRefresh(t *testing.T, c *identity.Client) *TokenResponse {
	t.Helper()
	resp, err := r.s.issueTokens(t.Context(), issue{tenant: r.tenant, client: c, user: r.user, scopes: []string{"openid"},
		audience: SelfAudience, authTime: r.now, refresh: true})
	require.NoError(t, err)
	return resp
}

// accessRecords counts the access tokens stored for a code.
func (r *rig) accessRecords(t *testing.T, codeHash string) int64 {
	t.Helper()
	g, err := r.db.Tenant(t.Context(), r.tenant)
	require.NoError(t, err)
	var n int64
	require.NoError(t, g.Model(&identity.AccessToken{}).Where("code_hash = ?", codeHash).Count(&n).Error)
	return n
}

// pausingGrants is the real store, except that the first grant to save an
// access token stops there, inside its transaction, after consuming its
// code or refresh token, until release is closed.
type pausingGrants struct {
	*store.Store
	once    sync.Once
	paused  chan struct{}
	release chan struct{}
}

func newPausingGrants(st *store.Store) *pausingGrants {
	return &pausingGrants{Store: st, paused: make(chan struct{}), release: make(chan struct{})}
}

func (p *pausingGrants) SaveAccess(ctx context.Context, tenant uuid.UUID, a *identity.AccessToken) error {
	if err := p.Store.SaveAccess(ctx, tenant, a); err != nil {
		return err
	}
	p.once.Do(func() {
		close(p.paused)
		<-p.release
	})
	return nil
}

// inFlight runs first until it pauses in its grant's transaction, then
// second, which must wait for that transaction; once it waits (observable
// on PostgreSQL), first goes on. It returns both answers.
func (r *rig) inFlight(t *testing.T, p *pausingGrants, first, second func() answer) (answer, answer) {
	t.Helper()
	firstDone, secondDone := make(chan answer, 1), make(chan answer, 1)
	go func() { firstDone <- first() }()
	select {
	case <-p.paused:
	case a := <-firstDone:
		t.Fatalf("the first request ended before its grant paused: %d %v %v", a.status, a.body, a.err)
	}
	go func() { secondDone <- second() }()
	dbtest.WaitForLockWaiters(t.Context(), t, r.db, 1)
	close(p.release)
	a1, a2 := <-firstDone, <-secondDone
	require.NoError(t, a1.err)
	require.NoError(t, a2.err)
	return a1, a2
}

// TestGrantInFlight holds a grant's transaction open after it consumed its
// code or refresh token and saved its access token, and sends the request
// that races it: a replay of the code, a reuse of the refresh token, a
// revocation. The racer waits for the grant's transaction; the grant gets
// its tokens, and the racer's revocation reaches them.
func TestGrantInFlight(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		ctx := t.Context()
		refresher := r.refresher(t)

		for _, tc := range []struct {
			desc   string
			client *identity.Client
		}{
			{desc: "code without refresh grant", client: r.web},
			{desc: "code with refresh grant", client: refresher},
		} {
			t.Run("code replayed mid-redemption: "+tc.desc, func(t *testing.T) {
				p := newPausingGrants(storeOf(r.s))
				pr := r.withGrants(t, p)
				hash, form := r.newCode(t, tc.client)
				redeem := func() answer { return pr.call(pr.s.token, PathToken, tc.client, form) }
				won, replay := r.inFlight(t, p, redeem, redeem)

				require.Equal(t, http.StatusOK, won.status, won.body)
				assert.Equal(t, http.StatusBadRequest, replay.status, replay.body)
				assert.Equal(t, "invalid_grant", replay.body["error"])
				assert.NotContains(t, replay.body, "access_token")
				assert.Equal(t, false, r.introspect(t, won.body["access_token"].(string))["active"], "the replay revoked the winner's access token")
				if rt, ok := won.body["refresh_token"].(string); ok {
					assert.Equal(t, false, r.introspect(t, rt)["active"], "the replay revoked the winner's refresh token")
				}
				assert.Equal(t, int64(1), r.accessRecords(t, hash), "one redemption saved tokens")
			})
		}

		t.Run("refresh token reused mid-rotation", func(t *testing.T) {
			p := newPausingGrants(storeOf(r.s))
			pr := r.withGrants(t, p)
			first := r.newRefresh(t, refresher)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
			rotate := func() answer { return pr.call(pr.s.token, PathToken, refresher, form) }
			won, reuse := r.inFlight(t, p, rotate, rotate)

			require.Equal(t, http.StatusOK, won.status, won.body)
			assert.Equal(t, http.StatusBadRequest, reuse.status, reuse.body)
			assert.Equal(t, "invalid_grant", reuse.body["error"])
			assert.Contains(t, reuse.body["error_description"], "already used")
			for desc, tok := range map[string]string{
				"the family's first access token": first.AccessToken,
				"the rotation's access token":     won.body["access_token"].(string),
				"the rotation's refresh token":    won.body["refresh_token"].(string),
			} {
				assert.Equal(t, false, r.introspect(t, tok)["active"], "%s is revoked with the family", desc)
			}
			old, err := storeOf(r.s).Refresh(ctx, r.tenant, hashOpaque(first.RefreshToken))
			require.NoError(t, err)
			assert.NotNil(t, old.UsedAt, "the winner consumed the presented token")
		})

		t.Run("revocation of the family mid-rotation", func(t *testing.T) {
			p := newPausingGrants(storeOf(r.s))
			pr := r.withGrants(t, p)
			first := r.newRefresh(t, refresher)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
			won, revoked := r.inFlight(t, p,
				func() answer { return pr.call(pr.s.token, PathToken, refresher, form) },
				func() answer {
					return r.call(r.s.revoke, PathRevoke, refresher, url.Values{"token": {first.RefreshToken}})
				})
			assert.Equal(t, http.StatusOK, revoked.status, revoked.body)
			require.Equal(t, http.StatusOK, won.status, won.body)
			assert.Equal(t, false, r.introspect(t, won.body["refresh_token"].(string))["active"], "the rotation's refresh token is revoked")
			assert.Equal(t, false, r.introspect(t, won.body["access_token"].(string))["active"], "the rotation's access token is revoked")
		})
	})
}

// failingGrants is the real store, except that saving a refresh token
// fails: a grant fails after it consumed its code or refresh token and
// saved its access token.
type failingGrants struct{ *store.Store }

var errSaveFailed = errors.New("refresh token storage failed")

func (failingGrants) SaveRefresh(context.Context, uuid.UUID, *identity.RefreshToken) error {
	return errSaveFailed
}

// TestGrantFailureRollsBack: a grant that fails after consuming its code
// or refresh token leaves both unused and stores none of its tokens, so the
// client can simply retry.
func TestGrantFailureRollsBack(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		ctx := t.Context()
		refresher := r.refresher(t)
		broken := r.withGrants(t, failingGrants{storeOf(r.s)})

		t.Run("code redemption", func(t *testing.T) {
			hash, form := r.newCode(t, refresher)
			status, body := broken.tokenCall(t, refresher, form)
			assert.Equal(t, http.StatusInternalServerError, status, body)
			assert.Equal(t, "server_error", body["error"])
			assert.Zero(t, r.accessRecords(t, hash), "the failed redemption's access token was rolled back")

			status, body = r.tokenCall(t, refresher, form)
			require.Equal(t, http.StatusOK, status, "the code is still unused: %v", body)
			assert.Equal(t, true, r.introspect(t, body["access_token"].(string))["active"])
			assert.Equal(t, int64(1), r.accessRecords(t, hash))
		})
		t.Run("refresh rotation", func(t *testing.T) {
			first := r.newRefresh(t, refresher)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
			status, body := broken.tokenCall(t, refresher, form)
			assert.Equal(t, http.StatusInternalServerError, status, body)
			old, err := storeOf(r.s).Refresh(ctx, r.tenant, hashOpaque(first.RefreshToken))
			require.NoError(t, err)
			assert.Nil(t, old.UsedAt, "the presented token is still unused")
			assert.Nil(t, old.RevokedAt)

			status, body = r.tokenCall(t, refresher, form)
			require.Equal(t, http.StatusOK, status, "the retry rotates, not a reuse: %v", body)
			assert.Equal(t, true, r.introspect(t, first.AccessToken)["active"], "no reuse was detected")
			assert.Equal(t, true, r.introspect(t, body["refresh_token"].(string))["active"])
		})
	})
}

// TestRefusalKeepsCodeConsumed: a refusal is not a failure. A code
// presented with a wrong verifier is refused and stays consumed (a code is
// presented once, whoever presents it), while a refresh refused for a wider
// scope was never consumed and still rotates.
func TestRefusalKeepsCodeConsumed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		refresher := r.refresher(t)

		_, form := r.newCode(t, refresher)
		wrong := url.Values{}
		for k, v := range form {
			wrong[k] = v
		}
		wrong.Set("code_verifier", strings.Repeat("w", 43))
		status, body := r.tokenCall(t, refresher, wrong)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body["error_description"], "does not match")
		status, body = r.tokenCall(t, refresher, form)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body["error_description"], "already used")

		first := r.newRefresh(t, refresher)
		status, body = r.tokenCall(t, refresher, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "scope": {"openid email"}})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_scope", body["error"])
		status, body = r.tokenCall(t, refresher, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
		assert.Equal(t, http.StatusOK, status, body)
	})
}
