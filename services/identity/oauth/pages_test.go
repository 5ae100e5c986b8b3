package oauth_test

import (
	"bytes"
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

func TestLoginAndConsentPages(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		start := func(t *testing.T, br *browser) page {
			p := br.get(e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			require.Equal(t, http.StatusSeeOther, p.status)
			p = br.get(e.abs(p.location))
			require.Equal(t, http.StatusOK, p.status)
			return p
		}

		t.Run("login page is a hardened form", func(t *testing.T) {
			p := start(t, newBrowser(t, e.idp))
			assert.Contains(t, p.body, `name="csrf_token"`)
			assert.Contains(t, p.body, "Demo Web App")
			assert.Equal(t, "no-store", p.header.Get("Cache-Control"))
			assert.Equal(t, "DENY", p.header.Get("X-Frame-Options"))
			assert.Contains(t, p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
			var csrf *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if strings.Contains(c.Name, "csrf") {
					csrf = c
				}
			}
			require.NotNil(t, csrf)
			assert.True(t, csrf.Secure && csrf.HttpOnly)
			assert.Equal(t, http.SameSiteLaxMode, csrf.SameSite)
		})

		// A user that exists only in the other tenant, with a password of its own.
		var otherAdmin demofile.Client
		for _, c := range e.idp.Tenant(t, 1).Clients {
			if len(c.Scopes) == 1 && c.Scopes[0] == "identity:admin" {
				otherAdmin = c
			}
		}
		foreigner, foreignPassword := "foreign-"+oauth2.GenerateVerifier()[:8], "foreign-password-"+oauth2.GenerateVerifier()[:8]
		{
			tok := e.clientCredentials(t, otherAdmin, "identity:admin")
			raw, err := json.Marshal(map[string]any{"username": foreigner, "password": foreignPassword})
			require.NoError(t, err)
			req, err := http.NewRequest(http.MethodPost, e.url("/api/v1/admin/users"), bytes.NewReader(raw))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := e.idp.Client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusCreated, resp.StatusCode)
		}
		for _, tc := range []struct {
			desc     string
			username string
			password func() string
		}{
			{desc: "wrong password", username: "user", password: func() string { return "wrong-password" }},
			{desc: "unknown user", username: "nobody", password: func() string { return e.user.Password }},
			{desc: "user of another tenant with their right password", username: foreigner, password: func() string { return foreignPassword }},
			{desc: "empty password", username: "user", password: func() string { return "" }},
		} {
			t.Run("re-rendered with a message: "+tc.desc, func(t *testing.T) {
				br := newBrowser(t, e.idp)
				p := start(t, br)
				f := p.fields()
				f.Set("username", tc.username)
				f.Set("password", tc.password())
				p = br.post(e.url(oauth.PathLogin), f)
				assert.Equal(t, http.StatusUnauthorized, p.status)
				assert.Contains(t, p.body, "Wrong username or password.")
				assert.Contains(t, p.body, `value="`+tc.username+`"`, "the username is kept")
				assert.Empty(t, p.location)
				for _, c := range (&http.Response{Header: p.header}).Cookies() {
					assert.NotContains(t, c.Name, "session", "no session on failure")
				}
			})
		}

		t.Run("successful login sets a Secure HttpOnly SameSite=Lax session cookie", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			p := start(t, br)
			f := p.fields()
			f.Set("username", "user")
			f.Set("password", e.user.Password)
			p = br.post(e.url(oauth.PathLogin), f)
			require.Equal(t, http.StatusSeeOther, p.status)
			var sess *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				if strings.Contains(c.Name, "session") {
					sess = c
				}
			}
			require.NotNil(t, sess)
			assert.True(t, sess.Secure)
			assert.True(t, sess.HttpOnly)
			assert.Equal(t, http.SameSiteLaxMode, sess.SameSite)
			assert.Equal(t, "/", sess.Path)
		})

		for _, tc := range []struct {
			desc string
			edit func(f url.Values)
		}{
			{desc: "missing CSRF token", edit: func(f url.Values) { f.Del("csrf_token") }},
			{desc: "forged CSRF token", edit: func(f url.Values) { f.Set("csrf_token", "forged") }},
		} {
			t.Run("login refused: "+tc.desc, func(t *testing.T) {
				br := newBrowser(t, e.idp)
				p := start(t, br)
				f := p.fields()
				f.Set("username", "user")
				f.Set("password", e.user.Password)
				tc.edit(f)
				p = br.post(e.url(oauth.PathLogin), f)
				assert.Equal(t, http.StatusForbidden, p.status)
				assert.Empty(t, p.location)
			})
		}
		t.Run("login refused: CSRF token from another browser", func(t *testing.T) {
			p := start(t, newBrowser(t, e.idp))
			br := newBrowser(t, e.idp)
			start(t, br)
			f := p.fields()
			f.Set("username", "user")
			f.Set("password", e.user.Password)
			p = br.post(e.url(oauth.PathLogin), f)
			assert.Equal(t, http.StatusForbidden, p.status)
		})
		t.Run("consent refused without CSRF token or decision", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			p := start(t, br)
			f := p.fields()
			f.Set("username", "user")
			f.Set("password", e.user.Password)
			p = br.post(e.url(oauth.PathLogin), f)
			p = br.get(e.abs(p.location))
			require.Equal(t, http.StatusOK, p.status)
			f = p.fields()
			f.Del("decision") // the buttons carry it; fields() picks it up
			bad := url.Values{"request": {f.Get("request")}, "decision": {"allow"}}
			assert.Equal(t, http.StatusForbidden, br.post(e.url(oauth.PathConsent), bad).status)
			assert.Equal(t, http.StatusBadRequest, br.post(e.url(oauth.PathConsent), f).status, "no decision")
			// Consent without a session goes to login.
			other := newBrowser(t, e.idp)
			p = other.get(e.url(oauth.PathConsent) + "?request=" + url.QueryEscape(f.Get("request")))
			assert.Equal(t, http.StatusSeeOther, p.status)
			assert.Contains(t, p.location, oauth.PathLogin)
		})
		t.Run("authorize accepts POST (OIDC Core 3.1.2.1)", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			u, err := url.Parse(e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			require.NoError(t, err)
			p := br.post(e.url(oauth.PathAuthorize), u.Query())
			require.Equal(t, http.StatusSeeOther, p.status, p.body)
			assert.Contains(t, p.location, oauth.PathLogin)
		})

		t.Run("unknown or expired request handles show an error page", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			for _, u := range []string{oauth.PathLogin, oauth.PathLogin + "?request=nope", oauth.PathConsent + "?request=nope"} {
				p := br.get(e.url(u))
				assert.Equal(t, http.StatusBadRequest, p.status, u)
				assert.Contains(t, p.body, "expired")
			}
			p := br.post(e.url(oauth.PathLogin), url.Values{"request": {"nope"}})
			assert.Equal(t, http.StatusBadRequest, p.status)
		})
	})
}

func TestLogout(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		postLogout := "https://127.0.0.1:9999/logged-out"

		signedIn := func(t *testing.T) (*browser, string) {
			br := newBrowser(t, e.idp)
			cfg := e.webConfig("openid")
			code, verifier := e.codeFor(t, br, cfg)
			tok, err := cfg.Exchange(e.ctx(t), code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			return br, tok.Extra("id_token").(string)
		}
		needsLogin := func(t *testing.T, br *browser) bool {
			p := br.get(e.webConfig("openid").AuthCodeURL("x", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			return strings.Contains(p.location, oauth.PathLogin)
		}

		t.Run("RP-initiated logout with id_token_hint redirects to the registered URI", func(t *testing.T) {
			br, idToken := signedIn(t)
			require.False(t, needsLogin(t, br))
			p := br.get(e.url(oauth.PathLogout) + "?" + url.Values{
				"id_token_hint": {idToken}, "post_logout_redirect_uri": {postLogout}, "state": {"bye"},
			}.Encode())
			require.Equal(t, http.StatusSeeOther, p.status, p.body)
			assert.Equal(t, postLogout+"?state=bye", p.location)
			assert.True(t, needsLogin(t, br), "the session is gone")
		})
		t.Run("another user's ID token does not sign this user out", func(t *testing.T) {
			br, _ := signedIn(t)
			// The attacker's own, perfectly valid ID token (another user).
			admin, err := e.tenant.User("admin")
			require.NoError(t, err)
			other := newBrowser(t, e.idp)
			cfg := e.webConfig("openid")
			verifier := oauth2.GenerateVerifier()
			u := e.login(t, other, cfg.AuthCodeURL("a", oauth2.S256ChallengeOption(verifier)), admin.Username, admin.Password)
			tok, err := cfg.Exchange(e.ctx(t), u.Query().Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			p := br.get(e.url(oauth.PathLogout) + "?" + url.Values{
				"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {postLogout},
			}.Encode())
			assert.Equal(t, http.StatusOK, p.status, "asks for confirmation")
			assert.Empty(t, p.location, "no redirect")
			assert.Contains(t, p.body, "Sign out?")
			assert.False(t, needsLogin(t, br), "still signed in")
		})
		t.Run("unregistered post_logout_redirect_uri is refused", func(t *testing.T) {
			br, idToken := signedIn(t)
			p := br.get(e.url(oauth.PathLogout) + "?" + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
			assert.Equal(t, http.StatusBadRequest, p.status)
			assert.Empty(t, p.location)
			assert.False(t, needsLogin(t, br), "still signed in")
		})
		for _, tc := range []struct {
			desc   string
			params url.Values
		}{
			{desc: "bad id_token_hint", params: url.Values{"id_token_hint": {"a.b.c"}}},
			{desc: "client_id disagrees with the hint", params: url.Values{"client_id": {"other"}}},
			{desc: "redirect without any client", params: url.Values{"post_logout_redirect_uri": {postLogout}}},
		} {
			t.Run("refused: "+tc.desc, func(t *testing.T) {
				br, idToken := signedIn(t)
				if tc.desc == "client_id disagrees with the hint" {
					tc.params.Set("id_token_hint", idToken)
				}
				p := br.get(e.url(oauth.PathLogout) + "?" + tc.params.Encode())
				assert.Equal(t, http.StatusBadRequest, p.status)
				assert.Empty(t, p.location)
			})
		}
		t.Run("without a hint the user confirms first", func(t *testing.T) {
			br, _ := signedIn(t)
			p := br.get(e.url(oauth.PathLogout))
			require.Equal(t, http.StatusOK, p.status)
			assert.Contains(t, p.body, "Sign out?")
			assert.False(t, needsLogin(t, br), "a GET alone does not sign out")
			f := p.fields()
			p = br.post(e.url(oauth.PathLogout), f)
			require.Equal(t, http.StatusOK, p.status)
			assert.Contains(t, p.body, "You are signed out.")
			assert.True(t, needsLogin(t, br))
		})
	})
}

func TestUserinfo(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		for _, tc := range []struct {
			desc      string
			scopes    []string
			method    string
			wantKeys  []string
			forbidden []string
		}{
			{desc: "openid only", scopes: []string{"openid"}, method: http.MethodGet, wantKeys: []string{"sub"}, forbidden: []string{"email", "name", "preferred_username"}},
			{desc: "profile", scopes: []string{"openid", "profile"}, method: http.MethodPost, wantKeys: []string{"sub", "name", "preferred_username"}, forbidden: []string{"email"}},
			{desc: "email", scopes: []string{"openid", "email"}, method: http.MethodGet, wantKeys: []string{"sub", "email", "email_verified"}, forbidden: []string{"name"}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tk := e.tokensFor(t, tc.scopes...)
				status, body, _ := e.bearer(t, tc.method, oauth.PathUserinfo, tk["access_token"].(string))
				require.Equal(t, http.StatusOK, status, body)
				for _, k := range tc.wantKeys {
					assert.Contains(t, body, k)
				}
				for _, k := range tc.forbidden {
					assert.NotContains(t, body, k)
				}
			})
		}
		t.Run("refused without openid, without a token, after revocation", func(t *testing.T) {
			tk := e.tokensFor(t, "profile")
			status, _, h := e.bearer(t, http.MethodGet, oauth.PathUserinfo, tk["access_token"].(string))
			assert.Equal(t, http.StatusForbidden, status)
			assert.Contains(t, h.Get("WWW-Authenticate"), "insufficient_scope")
			status, _, h = e.bearer(t, http.MethodGet, oauth.PathUserinfo, "")
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, `Bearer realm="passthru-identity"`, h.Get("WWW-Authenticate"))
			tk = e.tokensFor(t, "openid")
			status, _, _ = e.form(t, oauth.PathRevoke, &e.web, url.Values{"token": {tk["access_token"].(string)}})
			require.Equal(t, http.StatusOK, status)
			status, _, _ = e.bearer(t, http.MethodGet, oauth.PathUserinfo, tk["access_token"].(string))
			assert.Equal(t, http.StatusUnauthorized, status)
			// A client_credentials token has no user.
			status, _, _ = e.bearer(t, http.MethodGet, oauth.PathUserinfo, e.clientCredentials(t, e.admin, ""))
			assert.Equal(t, http.StatusForbidden, status)
		})
	})
}

func TestLoginThrottling(t *testing.T) {
	clock := fixture.NewIdentityClock(time.Now())
	e := newEnv(t, fixture.StartIdentity(t, dbtest.SQLite, fixture.WithIdentityClock(clock.Now)))
	attempt := func(t *testing.T, password string) page {
		br := newBrowser(t, e.idp)
		p := br.get(e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		p = br.get(e.abs(p.location))
		f := p.fields()
		f.Set("username", "user")
		f.Set("password", password)
		return br.post(e.url(oauth.PathLogin), f)
	}
	for _, tc := range []struct {
		desc     string
		advance  time.Duration
		password string
		want     int
	}{
		{desc: "failure 1", password: "x", want: http.StatusUnauthorized},
		{desc: "failure 2", password: "x", want: http.StatusUnauthorized},
		{desc: "failure 3", password: "x", want: http.StatusUnauthorized},
		{desc: "failure 4", password: "x", want: http.StatusUnauthorized},
		{desc: "failure 5 starts the back-off", password: "x", want: http.StatusUnauthorized},
		{desc: "even the right password waits", password: e.user.Password, want: http.StatusTooManyRequests},
		{desc: "after the back-off the right password works", advance: 61 * time.Second, password: e.user.Password, want: http.StatusSeeOther},
		{desc: "success reset the count", password: "x", want: http.StatusUnauthorized},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			clock.Advance(tc.advance)
			p := attempt(t, tc.password)
			assert.Equal(t, tc.want, p.status)
			if tc.want == http.StatusTooManyRequests {
				assert.Contains(t, p.body, "Too many failed sign-in attempts")
				assert.Equal(t, "60", p.header.Get("Retry-After"))
			}
		})
	}
	t.Run("other users are not affected", func(t *testing.T) {
		admin, err := e.tenant.User("admin")
		require.NoError(t, err)
		br := newBrowser(t, e.idp)
		u := e.login(t, br, e.webConfig("openid").AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), admin.Username, admin.Password)
		assert.NotEmpty(t, u.Query().Get("code"))
	})
}
