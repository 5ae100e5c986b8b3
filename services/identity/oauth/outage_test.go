package oauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/admin"
	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestDatabaseOutageIs503: while Identity's PostgreSQL database refuses
// connections and has ended the open ones, the token, introspection,
// userinfo and admin endpoints answer 503 with Retry-After (OAuth's
// temporarily_unavailable, or the admin API's unavailable problem), never
// 500 nor a 401 that would tell a client its good token or secret is bad;
// the browser's sign-in answers a 503 page; /readyz names the database; and
// once the database is back every request succeeds again, with no restart.
func TestDatabaseOutageIs503(t *testing.T) {
	var backend dbtest.Backend
	for _, b := range dbtest.Backends(t) {
		if b == dbtest.Postgres {
			backend = b
		}
	}
	if backend == "" {
		t.Skip("cutting a database's connections needs PostgreSQL; this run tests SQLite only (" + dbtest.PostgresSkippedNote() + ")")
	}
	e := newEnv(t, fixture.StartIdentity(t, backend))
	userToken := e.tokensFor(t, "openid", "profile")["access_token"].(string)
	adminToken := e.clientCredentials(t, e.admin, admin.Scope)
	svcToken := e.clientCredentials(t, e.svc, "kms:read")

	restore := dbtest.CutPostgres(t, e.idp.DBOptions().DSN)

	requireUnavailable := func(t *testing.T, status int, body map[string]any, header http.Header, wantCode string) {
		t.Helper()
		require.Equal(t, http.StatusServiceUnavailable, status, body)
		if wantCode == "unavailable" {
			assert.Equal(t, wantCode, body["code"], body)
		} else {
			assert.Equal(t, wantCode, body["error"], body)
			assert.NotContains(t, body, "access_token")
		}
		after, err := strconv.Atoi(header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After %q", header.Get("Retry-After"))
		assert.Positive(t, after)
		assert.Empty(t, header.Get("WWW-Authenticate"), "not a challenge: the credentials may be right")
	}
	t.Run("token", func(t *testing.T) {
		status, body, header := e.form(t, oauth.PathToken, &e.svc, url.Values{"grant_type": {"client_credentials"}, "scope": {"kms:read"}})
		requireUnavailable(t, status, body, header, "temporarily_unavailable")
	})
	t.Run("introspection", func(t *testing.T) {
		status, body, header := e.form(t, oauth.PathIntrospect, &e.rs, url.Values{"token": {svcToken}})
		requireUnavailable(t, status, body, header, "temporarily_unavailable")
	})
	t.Run("userinfo", func(t *testing.T) {
		status, body, header := e.bearer(t, http.MethodGet, oauth.PathUserinfo, userToken)
		requireUnavailable(t, status, body, header, "temporarily_unavailable")
	})
	t.Run("admin API", func(t *testing.T) {
		status, body, header := e.bearer(t, http.MethodGet, admin.Base+"/users", adminToken)
		requireUnavailable(t, status, body, header, "unavailable")
	})
	t.Run("sign-in page", func(t *testing.T) {
		p := newBrowser(t, e.idp).get(e.webConfig("openid").AuthCodeURL("state-1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		require.Equal(t, http.StatusServiceUnavailable, p.status, p.body)
		assert.Contains(t, p.body, "Try again in a moment")
		assert.NotEmpty(t, p.header.Get("Retry-After"))
	})
	t.Run("readyz", func(t *testing.T) {
		status, body, _ := e.bearer(t, http.MethodGet, "/readyz", "")
		require.Equal(t, http.StatusServiceUnavailable, status, body)
		assert.Equal(t, map[string]any{"database": "unavailable", "barrier": "ok", "signing_keys": "ok"}, body["checks"])
	})

	restore()
	// A pooled connection the server ended is found out when next used: a
	// request or two may still meet one, but within 5 s all succeed.
	checks := map[string]func() (int, map[string]any){
		"token": func() (int, map[string]any) {
			status, body, _ := e.form(t, oauth.PathToken, &e.svc, url.Values{"grant_type": {"client_credentials"}, "scope": {"kms:read"}})
			return status, body
		},
		"introspection": func() (int, map[string]any) {
			status, body, _ := e.form(t, oauth.PathIntrospect, &e.rs, url.Values{"token": {svcToken}})
			return status, body
		},
		"userinfo": func() (int, map[string]any) {
			status, body, _ := e.bearer(t, http.MethodGet, oauth.PathUserinfo, userToken)
			return status, body
		},
		"admin API": func() (int, map[string]any) {
			status, body, _ := e.bearer(t, http.MethodGet, admin.Base+"/users", adminToken)
			return status, body
		},
	}
	var failed []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		failed = failed[:0]
		for name, call := range checks {
			if status, body := call(); status != http.StatusOK {
				failed = append(failed, fmt.Sprintf("%s: %d %v", name, status, body))
			}
		}
		if len(failed) == 0 {
			break
		}
	}
	require.Empty(t, failed, "every request succeeds within 5 s of the database's return")
	assert.True(t, e.active(t, svcToken), "the token issued before the outage is still active")
}
