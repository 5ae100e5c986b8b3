package oauth_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestUserinfoRefusals pins how userinfo refuses a token (RFC 6750 §3.1,
// OIDC Core §5.3): a valid token that cannot ask for user claims (no user,
// or no openid) is 403 insufficient_scope naming openid, never the
// misleading "invalid, expired or revoked"; a broken token, or one for
// another audience, stays 401 invalid_token.
func TestUserinfoRefusals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		userToken := func(t *testing.T, scopes ...string) string {
			return e.tokensFor(t, scopes...)["access_token"].(string)
		}
		for _, tc := range []struct {
			desc       string
			token      func(t *testing.T) string
			wantStatus int
			wantCode   string
			wantDesc   string
		}{
			{
				desc:       "client_credentials token of the KMS service client (audience kms, no user)",
				token:      func(t *testing.T) string { return e.clientCredentials(t, e.svc, "kms:read") },
				wantStatus: http.StatusForbidden, wantCode: "insufficient_scope",
				wantDesc: "userinfo needs an access token issued to a user with the openid scope; this one was issued to a client for itself (client_credentials)",
			},
			{
				desc:       "client_credentials token for this service (audience identity, no user)",
				token:      func(t *testing.T) string { return e.clientCredentials(t, e.admin, "") },
				wantStatus: http.StatusForbidden, wantCode: "insufficient_scope",
				wantDesc: "userinfo needs an access token issued to a user with the openid scope; this one was issued to a client for itself (client_credentials)",
			},
			{
				desc:       "a user's token without openid",
				token:      func(t *testing.T) string { return userToken(t, "profile") },
				wantStatus: http.StatusForbidden, wantCode: "insufficient_scope",
				wantDesc: "userinfo needs an access token issued to a user with the openid scope; this one lacks openid",
			},
			{
				desc: "a user's token for the KMS audience",
				token: func(t *testing.T) string {
					code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid", "kms:read"), oauth2.SetAuthURLParam("resource", "kms"))
					status, body := e.exchange(t, &e.web, code, e.web.RedirectURIs[0], verifier)
					require.Equal(t, http.StatusOK, status, body)
					return body["access_token"].(string)
				},
				wantStatus: http.StatusUnauthorized, wantCode: "invalid_token",
				wantDesc: "the access token was issued for another audience, not identity",
			},
			{
				desc: "a revoked user's token",
				token: func(t *testing.T) string {
					tok := userToken(t, "openid")
					status, _, _ := e.form(t, oauth.PathRevoke, &e.web, url.Values{"token": {tok}})
					require.Equal(t, http.StatusOK, status)
					return tok
				},
				wantStatus: http.StatusUnauthorized, wantCode: "invalid_token",
				wantDesc: "the access token is invalid, expired or revoked",
			},
			{
				desc:       "a revoked client_credentials token is invalid, not merely insufficient",
				wantStatus: http.StatusUnauthorized, wantCode: "invalid_token",
				token: func(t *testing.T) string {
					tok := e.clientCredentials(t, e.admin, "")
					status, _, _ := e.form(t, oauth.PathRevoke, &e.admin, url.Values{"token": {tok}})
					require.Equal(t, http.StatusOK, status)
					return tok
				},
				wantDesc: "the access token is invalid, expired or revoked",
			},
			{
				desc:       "not a token",
				token:      func(*testing.T) string { return "not-a-jwt" },
				wantStatus: http.StatusUnauthorized, wantCode: "invalid_token",
				wantDesc: "the access token is invalid, expired or revoked",
			},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				status, body, h := e.bearer(t, http.MethodGet, oauth.PathUserinfo, tc.token(t))
				assert.Equal(t, tc.wantStatus, status, body)
				assert.Equal(t, tc.wantCode, body["error"])
				assert.Equal(t, tc.wantDesc, body["error_description"])
				challenge := h.Get("WWW-Authenticate")
				assert.Contains(t, challenge, `error="`+tc.wantCode+`"`)
				assert.Contains(t, challenge, `error_description="`+tc.wantDesc+`"`)
				if tc.wantCode == "insufficient_scope" {
					assert.Contains(t, challenge, `scope="openid"`, "the challenge names the scope userinfo needs")
				} else {
					assert.NotContains(t, challenge, "scope=")
				}
				assert.NotContains(t, body, "sub", "no user claims in a refusal")
			})
		}
		t.Run("a user's token with openid still works", func(t *testing.T) {
			status, body, _ := e.bearer(t, http.MethodGet, oauth.PathUserinfo, userToken(t, "openid"))
			require.Equal(t, http.StatusOK, status, body)
			assert.NotEmpty(t, body["sub"])
		})
	})
}
