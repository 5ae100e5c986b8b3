package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// tokenCall posts a token request for a client whose secret is the rig's.
func (r *rig) tokenCall(t *testing.T, c *store.Client, form url.Values) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, r.rsPass)
	w := httptest.NewRecorder()
	r.s.token(w, req)
	out := map[string]any{}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	return w.Code, out
}

// TestReplayDuringRedemption forces the interleaving a concurrent replay can
// produce: the winner has consumed the code (or refresh token) but not yet
// saved its tokens when the replay revokes the grant. The winner must not
// hand out tokens that escaped that revocation.
func TestReplayDuringRedemption(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		ctx := t.Context()
		refresher := &store.Client{ClientID: "app-" + r.tenant.String()[:8], Name: "app", Kind: store.KindConfidential, SecretHash: r.rs.SecretHash,
			GrantTypes: "authorization_code refresh_token", Scopes: "openid profile", Audiences: "identity", RedirectURIs: "https://app.test/cb"}
		require.NoError(t, r.s.cfg.Store.CreateClient(ctx, r.tenant, refresher))

		for _, tc := range []struct {
			desc   string
			client *store.Client
		}{
			{desc: "code without refresh grant", client: r.web},
			{desc: "code with refresh grant", client: refresher},
		} {
			t.Run("code replayed mid-redemption: "+tc.desc, func(t *testing.T) {
				verifier := strings.Repeat("v", 43)
				sum := sha256.Sum256([]byte(verifier))
				code := newOpaque()
				require.NoError(t, r.s.cfg.Store.SaveCode(ctx, r.tenant, &store.AuthCode{
					IDHash: hashOpaque(code), ClientID: tc.client.ClientID, UserID: r.user.ID, RedirectURI: "https://app.test/cb",
					Scope: "openid", CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), Audience: SelfAudience,
					AuthTime: r.now, ExpiresAt: r.now.Add(time.Minute),
				}))
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.test/cb"}, "code_verifier": {verifier}}
				replayed := false
				r.s.hooks.consumed = func() {
					r.s.hooks.consumed = nil
					status, body := r.tokenCall(t, tc.client, form)
					assert.Equal(t, http.StatusBadRequest, status)
					assert.Equal(t, "invalid_grant", body["error"])
					replayed = true
				}
				t.Cleanup(func() { r.s.hooks.consumed = nil })
				status, body := r.tokenCall(t, tc.client, form)
				require.True(t, replayed, "the replay ran while the first redemption was in flight")
				assert.Equal(t, http.StatusBadRequest, status, "the winner's tokens escaped the replay's revocation: %v", body)
				assert.Equal(t, "invalid_grant", body["error"])
				assert.NotContains(t, body, "access_token")
			})
		}

		t.Run("refresh token reused mid-rotation", func(t *testing.T) {
			resp, err := r.s.issueTokens(ctx, issue{tenant: r.tenant, client: refresher, user: r.user, scopes: []string{"openid"},
				audience: SelfAudience, authTime: r.now, refresh: true})
			require.NoError(t, err)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {resp.RefreshToken}}
			reused := false
			r.s.hooks.consumed = func() {
				r.s.hooks.consumed = nil
				status, body := r.tokenCall(t, refresher, form)
				assert.Equal(t, http.StatusBadRequest, status)
				assert.Equal(t, "invalid_grant", body["error"])
				reused = true
			}
			t.Cleanup(func() { r.s.hooks.consumed = nil })
			status, body := r.tokenCall(t, refresher, form)
			require.True(t, reused, "the reuse ran while the rotation was in flight")
			assert.Equal(t, http.StatusBadRequest, status, "the rotation's tokens escaped the family revocation: %v", body)
			assert.Equal(t, "invalid_grant", body["error"])
			assert.NotContains(t, body, "refresh_token")
			assert.Equal(t, false, r.introspect(t, resp.AccessToken)["active"], "the family's first access token is revoked")
		})

		t.Run("revocation of the family mid-rotation", func(t *testing.T) {
			resp, err := r.s.issueTokens(ctx, issue{tenant: r.tenant, client: refresher, user: r.user, scopes: []string{"openid"},
				audience: SelfAudience, authTime: r.now, refresh: true})
			require.NoError(t, err)
			r.s.hooks.consumed = func() {
				r.s.hooks.consumed = nil
				req := httptest.NewRequest(http.MethodPost, PathRevoke, strings.NewReader(url.Values{"token": {resp.RefreshToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(refresher.ClientID, r.rsPass)
				w := httptest.NewRecorder()
				r.s.revoke(w, req)
				assert.Equal(t, http.StatusOK, w.Code)
			}
			t.Cleanup(func() { r.s.hooks.consumed = nil })
			status, body := r.tokenCall(t, refresher, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {resp.RefreshToken}})
			assert.Equal(t, http.StatusBadRequest, status, "a revoked grant must not rotate: %v", body)
			assert.Equal(t, "invalid_grant", body["error"])
		})
	})
}
