package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// sessionCookie returns the browser's session cookie value ("" if none).
func (b *browser) sessionCookie(t *testing.T, issuer string) string {
	t.Helper()
	u, err := url.Parse(issuer)
	require.NoError(t, err)
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.Contains(c.Name, "session") {
			return c.Value
		}
	}
	return ""
}

func TestHardening(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))

		t.Run("a login replaces the session id and kills the old one", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			cfg := e.webConfig("openid")
			e.codeFor(t, br, cfg)
			first := br.sessionCookie(t, e.idp.Issuer)
			require.NotEmpty(t, first)
			// Signing in again in the same browser (prompt=login) must not keep
			// the id: a planted or leaked id is worthless after a login.
			u := e.login(t, br, cfg.AuthCodeURL("again", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")), e.user.Username, e.user.Password)
			require.NotEmpty(t, u.Query().Get("code"))
			second := br.sessionCookie(t, e.idp.Issuer)
			require.NotEmpty(t, second)
			assert.NotEqual(t, first, second, "new session id after login")

			planted := newBrowser(t, e.idp)
			iss, _ := url.Parse(e.idp.Issuer)
			planted.c.Jar.SetCookies(iss, []*http.Cookie{{Name: "__Host-passthru-session", Value: first, Path: "/", Secure: true}})
			p := planted.get(cfg.AuthCodeURL("old", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			assert.Contains(t, p.location, oauth.PathLogin, "the old session id no longer signs anyone in")
		})

		t.Run("every HTML page refuses framing and caching", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			cfg := e.webConfig("openid", "profile", "email")
			p := br.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			login := br.get(e.abs(p.location))
			f := login.fields()
			f.Set("username", e.user.Username)
			f.Set("password", "wrong")
			wrong := br.post(e.url(oauth.PathLogin), f)
			f.Set("password", e.user.Password)
			p = br.post(e.url(oauth.PathLogin), f)
			consent := br.get(e.abs(p.location))
			require.Equal(t, http.StatusOK, consent.status)
			pages := map[string]page{
				"login": login, "login with message": wrong, "consent": consent,
				"logout": br.get(e.url(oauth.PathLogout)),
				"error":  br.get(e.url(oauth.PathAuthorize) + "?client_id=nope"),
			}
			for name, p := range pages {
				assert.Equal(t, "DENY", p.header.Get("X-Frame-Options"), name)
				assert.Contains(t, p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'", name)
				assert.Equal(t, "no-store", p.header.Get("Cache-Control"), name)
				assert.Equal(t, "nosniff", p.header.Get("X-Content-Type-Options"), name)
				assert.True(t, strings.HasPrefix(p.header.Get("Content-Type"), "text/html"), name)
			}
		})

		t.Run("token responses are never cached", func(t *testing.T) {
			status, body, h := e.form(t, oauth.PathToken, &e.svc, url.Values{"grant_type": {"client_credentials"}})
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			assert.Equal(t, "no-cache", h.Get("Pragma"))
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid"))
			_, body, h = e.form(t, oauth.PathToken, &e.web, url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {e.web.RedirectURIs[0]}, "code_verifier": {verifier}})
			require.Contains(t, body, "refresh_token")
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			_, body, h = e.form(t, oauth.PathToken, &e.web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
			require.Contains(t, body, "access_token")
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
		})

		t.Run("discovery lists exactly the prompt values authorize accepts", func(t *testing.T) {
			resp, err := e.idp.Client.Get(e.url(oauth.PathOpenIDConfiguration))
			require.NoError(t, err)
			defer resp.Body.Close()
			var doc struct {
				Prompts []string `json:"prompt_values_supported"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
			assert.ElementsMatch(t, []string{"none", "login", "consent"}, doc.Prompts)
			for _, p := range doc.Prompts {
				q := e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", p))
				loc, err := url.Parse(newBrowser(t, e.idp).get(q).location)
				require.NoError(t, err)
				assert.NotEqual(t, "invalid_request", loc.Query().Get("error"), "advertised prompt %s is accepted", p)
			}
		})

		t.Run("oversized bodies are refused without a token", func(t *testing.T) {
			big := url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("a", 2<<20)}}
			status, body, _ := e.form(t, oauth.PathToken, &e.svc, big)
			assert.True(t, status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge, "status %d", status)
			assert.NotContains(t, body, "access_token")
		})

		t.Run("no codes, tokens, secrets or passwords in the logs", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			cfg := e.webConfig("openid")
			code, verifier := e.codeFor(t, br, cfg)
			status, tk := e.exchange(t, &e.web, code, e.web.RedirectURIs[0], verifier)
			require.Equal(t, http.StatusOK, status)
			e.exchange(t, &e.web, code, e.web.RedirectURIs[0], verifier) // replay
			e.refresh(t, &e.web, tk["refresh_token"].(string), "")
			e.refresh(t, &e.web, tk["refresh_token"].(string), "") // reuse
			twin := e.web
			twin.ClientSecret = "wrong-" + e.web.ClientSecret
			e.form(t, oauth.PathToken, &twin, url.Values{"grant_type": {"client_credentials"}})
			logs := e.idp.Log()
			require.NotEmpty(t, logs)
			for name, secret := range map[string]string{
				"code": code, "verifier": verifier, "access token": tk["access_token"].(string),
				"refresh token": tk["refresh_token"].(string), "id token": tk["id_token"].(string),
				"client secret": e.web.ClientSecret, "password": e.user.Password,
				"session": br.sessionCookie(t, e.idp.Issuer),
			} {
				assert.NotContains(t, logs, secret, "%s in the server log", name)
			}
		})
	})
}

// TestMaxAge checks OIDC max_age: a sign-in older than max_age makes the
// user authenticate again (or fails prompt=none with login_required).
func TestMaxAge(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		clock := fixture.NewIdentityClock(time.Now())
		e := newEnv(t, fixture.StartIdentity(t, b, fixture.WithIdentityClock(clock.Now)))
		br := newBrowser(t, e.idp)
		cfg := e.webConfig("openid")
		e.codeFor(t, br, cfg) // signed in, consent remembered
		clock.Advance(2 * time.Minute)
		for _, tc := range []struct {
			desc      string
			maxAge    string
			prompt    string
			wantLogin bool
			wantError string
		}{
			{desc: "recent enough", maxAge: "300"},
			{desc: "no max_age", maxAge: ""},
			{desc: "older than max_age asks for the password", maxAge: "60", wantLogin: true},
			{desc: "max_age=0 always asks", maxAge: "0", wantLogin: true},
			{desc: "older than max_age with prompt=none", maxAge: "60", prompt: "none", wantError: "login_required"},
			{desc: "huge max_age", maxAge: "99999999999999"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}
				if tc.maxAge != "" {
					opts = append(opts, oauth2.SetAuthURLParam("max_age", tc.maxAge))
				}
				if tc.prompt != "" {
					opts = append(opts, oauth2.SetAuthURLParam("prompt", tc.prompt))
				}
				p := br.get(cfg.AuthCodeURL("s", opts...))
				require.Equal(t, http.StatusSeeOther, p.status, p.body)
				switch {
				case tc.wantLogin:
					assert.Contains(t, p.location, oauth.PathLogin)
				case tc.wantError != "":
					u, err := url.Parse(p.location)
					require.NoError(t, err)
					assert.Equal(t, tc.wantError, u.Query().Get("error"))
				default:
					assert.NotContains(t, p.location, oauth.PathLogin, "the session counts")
				}
			})
		}
		t.Run("signing in again satisfies max_age", func(t *testing.T) {
			u := e.login(t, br, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", "60")), e.user.Username, e.user.Password)
			require.NotEmpty(t, u.Query().Get("code"))
			p := br.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", "60")))
			assert.NotContains(t, p.location, oauth.PathLogin)
		})
	})
}

// TestUnknownNamesCostAPasswordCheck checks that an unknown username (or
// client_id) costs the same PBKDF2 check as a wrong password (or secret), so
// names cannot be enumerated by timing. It counts the checks rather than
// timing them; what a check costs is for benchmarks to measure.
func TestUnknownNamesCostAPasswordCheck(t *testing.T) {
	e := newEnv(t, fixture.StartIdentity(t, dbtest.SQLite))
	// checks returns how many PBKDF2 checks the server spent on attempt.
	checks := func(t *testing.T, attempt func(*testing.T)) int64 {
		t.Helper()
		before := e.idp.PasswordChecks()
		attempt(t)
		return e.idp.PasswordChecks() - before
	}
	login := func(username string) func(*testing.T) {
		return func(t *testing.T) {
			br := newBrowser(t, e.idp)
			p := br.get(e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			p = br.get(e.abs(p.location))
			f := p.fields()
			f.Set("username", username)
			f.Set("password", "not-the-password")
			require.Equal(t, http.StatusUnauthorized, br.post(e.url(oauth.PathLogin), f).status)
		}
	}
	clientAuth := func(id string, basic bool) func(*testing.T) {
		return func(t *testing.T) {
			v := url.Values{"grant_type": {"client_credentials"}}
			var c *demofile.Client
			if basic {
				c = &demofile.Client{ClientID: id, ClientSecret: "not-the-secret"}
			} else {
				v.Set("client_id", id)
				v.Set("client_secret", "not-the-secret")
			}
			status, body, _ := e.form(t, oauth.PathToken, c, v)
			require.Equal(t, http.StatusUnauthorized, status, body)
		}
	}
	for _, tc := range []struct {
		desc    string
		attempt func(*testing.T)
	}{
		{desc: "login with a wrong password", attempt: login(e.user.Username)},
		{desc: "login with an unknown username", attempt: login("no-such-user-" + oauth2.GenerateVerifier()[:8])},
		{desc: "client authentication with a wrong secret", attempt: clientAuth(e.svc.ClientID, false)},
		{desc: "client authentication with an unknown client_id", attempt: clientAuth("no-such-client", false)},
		{desc: "Basic client authentication with a wrong secret", attempt: clientAuth(e.svc.ClientID, true)},
		{desc: "Basic client authentication with an unknown client_id", attempt: clientAuth("no-such-client", true)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			assert.EqualValues(t, 1, checks(t, tc.attempt), "PBKDF2 checks")
		})
	}
	t.Run("a disabled client with a secret costs one check", func(t *testing.T) {
		tok := e.clientCredentials(t, e.admin, "identity:admin")
		c := createClient(t, e, tok, map[string]any{
			"name": "to be disabled", "kind": "service",
			"grant_types": []string{"client_credentials"}, "scopes": []string{"kms:read"},
		})
		status, body, _ := e.bearer(t, http.MethodPost, "/api/v1/admin/clients/"+c.ClientID+"/disable", tok)
		require.Equal(t, http.StatusOK, status, body)
		assert.EqualValues(t, 1, checks(t, clientAuth(c.ClientID, false)), "PBKDF2 checks")
	})
	t.Run("a cached client secret costs no check", func(t *testing.T) {
		ok := func(t *testing.T) {
			status, body, _ := e.form(t, oauth.PathToken, &e.svc, url.Values{"grant_type": {"client_credentials"}})
			require.Equal(t, http.StatusOK, status, body)
		}
		assert.EqualValues(t, 1, checks(t, ok), "first use verifies the secret")
		assert.EqualValues(t, 0, checks(t, ok), "then the cache answers")
	})
}
