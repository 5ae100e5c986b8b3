package oauth_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// spent returns the PBKDF2 checks the server spent on fn.
func (e *env) spent(fn func()) int64 {
	before := e.idp.PasswordChecks()
	fn()
	return e.idp.PasswordChecks() - before
}

// TestClientAuthConcurrentFirstRequests: a hundred token requests at once
// with one client secret nobody presented before pay one PBKDF2. The cost
// is raised so that the requests overlap the first check, as they do at
// production cost (at the fixture's cost one check ends before the next
// request arrives, and each request would pay its own unnoticed).
func TestClientAuthConcurrentFirstRequests(t *testing.T) {
	const n = 100
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b, fixture.WithIdentityConfig(func(c *identityserver.Config) { c.PBKDF2Iterations = 200_000 })))
		var answers []raceAnswer
		spent := e.spent(func() {
			answers = e.burst(fixture.ITContext(t), n, &e.svc, url.Values{"grant_type": {"client_credentials"}})
		})
		for i, a := range answers {
			require.NoError(t, a.err, "request %d", i)
			require.Equal(t, http.StatusOK, a.status, "request %d: %v", i, a.body)
		}
		assert.EqualValues(t, 1, spent, "PBKDF2 checks for %d concurrent first requests", n)
	})
}

// TestClientLockout: after five wrong secrets in a row a client is locked:
// 429 with Retry-After, even with the right secret, without hashing.
func TestClientLockout(t *testing.T) {
	e := newEnv(t, fixture.StartIdentity(t, dbtest.SQLite))
	form := url.Values{"grant_type": {"client_credentials"}}
	wrong := demofile.Client{ClientID: e.svc.ClientID, ClientSecret: "not-the-secret"}
	for range credential.DefaultLockoutThreshold {
		status, body, _ := e.form(t, oauth.PathToken, &wrong, form)
		requireOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
	}
	var (
		status int
		body   map[string]any
		h      http.Header
	)
	assert.Zero(t, e.spent(func() { status, body, h = e.form(t, oauth.PathToken, &e.svc, form) }))
	requireOAuthError(t, status, body, http.StatusTooManyRequests, "temporarily_unavailable")
	assert.Equal(t, "60", h.Get("Retry-After"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))

	// The lock is the client's, whichever way it authenticates.
	status, body, h = e.form(t, oauth.PathToken, nil, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {e.svc.ClientID}, "client_secret": {e.svc.ClientSecret},
	})
	requireOAuthError(t, status, body, http.StatusTooManyRequests, "temporarily_unavailable")
	assert.Equal(t, "60", h.Get("Retry-After"))

	assert.NotEmpty(t, e.clientCredentials(t, e.admin, "identity:admin"), "other clients are not affected")
}

// TestControlBytesInPresentedSecrets: PBKDF2 pads short keys with zeros, so
// the right secret with a NUL appended used to be accepted. A client secret
// or a password holding a control byte is refused like a wrong one, at the
// cost of one PBKDF2.
func TestControlBytesInPresentedSecrets(t *testing.T) {
	e := newEnv(t, fixture.StartIdentity(t, dbtest.SQLite))
	form := url.Values{"grant_type": {"client_credentials"}}
	t.Run("client secret, Basic", func(t *testing.T) {
		bad := demofile.Client{ClientID: e.svc.ClientID, ClientSecret: e.svc.ClientSecret + "\x00"}
		var (
			status int
			body   map[string]any
		)
		assert.EqualValues(t, 1, e.spent(func() { status, body, _ = e.form(t, oauth.PathToken, &bad, form) }))
		requireOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("client secret, form", func(t *testing.T) {
		var (
			status int
			body   map[string]any
		)
		assert.EqualValues(t, 1, e.spent(func() {
			status, body, _ = e.form(t, oauth.PathToken, nil, url.Values{
				"grant_type": {"client_credentials"}, "client_id": {e.svc.ClientID}, "client_secret": {e.svc.ClientSecret + "\x00"},
			})
		}))
		requireOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("login password", func(t *testing.T) {
		br := newBrowser(t, e.idp)
		p := br.get(e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		p = br.get(e.abs(p.location))
		f := p.fields()
		f.Set("username", e.user.Username)
		f.Set("password", e.user.Password+"\x00")
		assert.EqualValues(t, 1, e.spent(func() { p = br.post(e.url(oauth.PathLogin), f) }))
		assert.Equal(t, http.StatusUnauthorized, p.status)
		assert.Contains(t, p.body, "Wrong username or password.")
	})
	assert.NotEmpty(t, e.clientCredentials(t, e.svc, ""), "the right secret still works")
}
