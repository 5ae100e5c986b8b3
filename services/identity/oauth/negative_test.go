package oauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// exchange posts an authorization_code grant by hand, so every parameter
// can be wrong on purpose.
func (e *env) exchange(t *testing.T, c *demofile.Client, code, redirect, verifier string) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	var basic *demofile.Client
	if c.ClientSecret != "" {
		basic = c
	} else {
		v.Set("client_id", c.ClientID)
	}
	status, body, _ := e.form(t, oauth.PathToken, basic, v)
	return status, body
}

func (e *env) refresh(t *testing.T, c *demofile.Client, rt, scope string) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		v.Set("scope", scope)
	}
	var basic *demofile.Client
	if c.ClientSecret != "" {
		basic = c
	} else {
		v.Set("client_id", c.ClientID)
	}
	status, body, _ := e.form(t, oauth.PathToken, basic, v)
	return status, body
}

// tokensFor runs a full web-client code flow and returns the token answer.
func (e *env) tokensFor(t *testing.T, scopes ...string) map[string]any {
	t.Helper()
	code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig(scopes...))
	status, body := e.exchange(t, &e.web, code, e.web.RedirectURIs[0], verifier)
	require.Equal(t, http.StatusOK, status, body)
	return body
}

func TestAuthorizeErrors(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
		good := func() url.Values {
			return url.Values{
				"response_type": {"code"}, "client_id": {e.web.ClientID}, "redirect_uri": {e.web.RedirectURIs[0]},
				"scope": {"openid"}, "state": {"a b&c=d/é"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
			}
		}
		for _, tc := range []struct {
			desc     string
			edit     func(v url.Values)
			page     string // error page expected (no redirect)
			redirect string // error code expected in the redirect
		}{
			{desc: "unknown client", edit: func(v url.Values) { v.Set("client_id", "nope") }, page: "Unknown client"},
			{desc: "missing client", edit: func(v url.Values) { v.Del("client_id") }, page: "Unknown client"},
			{desc: "redirect URI mismatch", edit: func(v url.Values) { v.Set("redirect_uri", "https://127.0.0.1:9999/callback/x") }, page: "Invalid redirect URI"},
			{desc: "confidential client on another port", edit: func(v url.Values) { v.Set("redirect_uri", "https://127.0.0.1:9998/callback") }, page: "Invalid redirect URI"},
			{desc: "missing redirect URI", edit: func(v url.Values) { v.Del("redirect_uri") }, page: "Invalid redirect URI"},
			{desc: "duplicate parameter", edit: func(v url.Values) { v.Add("scope", "email") }, page: "more than once"},
			{desc: "implicit grant", edit: func(v url.Values) { v.Set("response_type", "token") }, redirect: "unsupported_response_type"},
			{desc: "hybrid response type", edit: func(v url.Values) { v.Set("response_type", "code id_token") }, redirect: "unsupported_response_type"},
			{desc: "missing PKCE", edit: func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, redirect: "invalid_request"},
			{desc: "plain PKCE method", edit: func(v url.Values) { v.Set("code_challenge_method", "plain") }, redirect: "invalid_request"},
			{desc: "PKCE method omitted (plain by default)", edit: func(v url.Values) { v.Del("code_challenge_method") }, redirect: "invalid_request"},
			{desc: "malformed challenge", edit: func(v url.Values) { v.Set("code_challenge", "short") }, redirect: "invalid_request"},
			{desc: "scope not allowed", edit: func(v url.Values) { v.Set("scope", "openid kms:admin") }, redirect: "invalid_scope"},
			{desc: "no scope", edit: func(v url.Values) { v.Del("scope") }, redirect: "invalid_scope"},
			{desc: "resource not allowed", edit: func(v url.Values) { v.Set("resource", "https://evil.example") }, redirect: "invalid_target"},
			{desc: "request object", edit: func(v url.Values) { v.Set("request", "eyJ.x.y") }, redirect: "request_not_supported"},
			{desc: "request_uri", edit: func(v url.Values) { v.Set("request_uri", "urn:x") }, redirect: "request_uri_not_supported"},
			{desc: "unknown prompt", edit: func(v url.Values) { v.Set("prompt", "select_account") }, redirect: "invalid_request"},
			{desc: "prompt=none without a session", edit: func(v url.Values) { v.Set("prompt", "none") }, redirect: "login_required"},
			{desc: "fragment response mode", edit: func(v url.Values) { v.Set("response_mode", "fragment") }, redirect: "invalid_request"},
			{desc: "form_post response mode", edit: func(v url.Values) { v.Set("response_mode", "form_post") }, redirect: "invalid_request"},
			{desc: "negative max_age", edit: func(v url.Values) { v.Set("max_age", "-1") }, redirect: "invalid_request"},
			{desc: "non-numeric max_age", edit: func(v url.Values) { v.Set("max_age", "soon") }, redirect: "invalid_request"},
			{desc: "oversized nonce", edit: func(v url.Values) { v.Set("nonce", strings.Repeat("n", 4096)) }, redirect: "invalid_request"},
			{desc: "oversized state", edit: func(v url.Values) { v.Set("state", strings.Repeat("s", 4096)) }, redirect: "invalid_request"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				v := good()
				tc.edit(v)
				p := newBrowser(t, e.idp).get(e.url(oauth.PathAuthorize) + "?" + v.Encode())
				if tc.page != "" {
					require.Equal(t, http.StatusBadRequest, p.status)
					assert.Empty(t, p.location, "never redirects")
					assert.Contains(t, p.body, tc.page)
					return
				}
				require.Equal(t, http.StatusSeeOther, p.status, p.body)
				u, err := url.Parse(p.location)
				require.NoError(t, err)
				assert.Equal(t, "https://127.0.0.1:9999/callback", u.Scheme+"://"+u.Host+u.Path)
				q := u.Query()
				assert.Equal(t, tc.redirect, q.Get("error"))
				if tc.desc == "oversized state" {
					assert.Empty(t, q.Get("state"), "an oversized state is not echoed")
				} else {
					assert.Equal(t, "a b&c=d/é", q.Get("state"), "state round-trips URL-encoded")
				}
				assert.Equal(t, e.idp.Issuer, q.Get("iss"), "RFC 9207")
				assert.Empty(t, q.Get("code"))
			})
		}

		t.Run("existing query of a registered redirect URI is preserved", func(t *testing.T) {
			tok := e.clientCredentials(t, e.admin, "identity:admin")
			c := createClient(t, e, tok, map[string]any{
				"name": "query redirect", "kind": "confidential",
				"redirect_uris": []string{"https://127.0.0.1:9999/cb?tenant=a&x=1%202"},
				"grant_types":   []string{"authorization_code"}, "scopes": []string{"openid"},
			})
			v := good()
			v.Set("client_id", c.ClientID)
			v.Set("redirect_uri", "https://127.0.0.1:9999/cb?tenant=a&x=1%202")
			v.Set("response_type", "token")
			p := newBrowser(t, e.idp).get(e.url(oauth.PathAuthorize) + "?" + v.Encode())
			require.Equal(t, http.StatusSeeOther, p.status)
			assert.True(t, strings.HasPrefix(p.location, "https://127.0.0.1:9999/cb?tenant=a&x=1%202&"), p.location)
			u, _ := url.Parse(p.location)
			assert.Equal(t, "unsupported_response_type", u.Query().Get("error"))
			// And a successful code lands there too.
			cfg := &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: "https://127.0.0.1:9999/cb?tenant=a&x=1%202",
				Endpoint: e.endpoint(oauth2.AuthStyleInHeader), Scopes: []string{"openid"}}
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg)
			tk, err := cfg.Exchange(e.ctx(t), code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Empty(t, tk.RefreshToken, "a client without the refresh_token grant gets no refresh token")
		})

		t.Run("consent denied", func(t *testing.T) {
			b := newBrowser(t, e.idp)
			cfg := e.webConfig("openid", "kms:write")
			p := b.get(cfg.AuthCodeURL("deny-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			p = b.get(e.abs(p.location))
			f := p.fields()
			f.Set("username", "user")
			f.Set("password", e.user.Password)
			p = b.post(e.url(oauth.PathLogin), f)
			p = b.get(e.abs(p.location))
			require.Equal(t, http.StatusOK, p.status)
			assert.Contains(t, p.body, "<code>kms:write</code>")
			f = p.fields()
			f.Set("decision", "deny")
			p = b.post(e.url(oauth.PathConsent), f)
			require.Equal(t, http.StatusSeeOther, p.status)
			u, _ := url.Parse(p.location)
			assert.Equal(t, "access_denied", u.Query().Get("error"))
			assert.Equal(t, "deny-state", u.Query().Get("state"))
			assert.Empty(t, u.Query().Get("code"))
			// The request is finished: posting the form again does nothing.
			p = b.post(e.url(oauth.PathConsent), f)
			assert.Equal(t, http.StatusBadRequest, p.status)
		})

		t.Run("prompt=none with a session and remembered consent returns a code", func(t *testing.T) {
			b := newBrowser(t, e.idp)
			cfg := e.webConfig("openid")
			e.codeFor(t, b, cfg)
			p := b.get(cfg.AuthCodeURL("pn", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
			require.Equal(t, http.StatusSeeOther, p.status)
			u, _ := url.Parse(p.location)
			assert.NotEmpty(t, u.Query().Get("code"))
			cfg2 := e.webConfig("openid", "email", "profile", "kms:read")
			p = b.get(cfg2.AuthCodeURL("pn", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
			u, _ = url.Parse(p.location)
			assert.Equal(t, "consent_required", u.Query().Get("error"))
			// prompt=login asks for the password again despite the session.
			p = b.get(cfg.AuthCodeURL("pl", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
			assert.Contains(t, p.location, oauth.PathLogin)
			// prompt=consent shows the consent page despite remembered consent.
			p = b.get(cfg.AuthCodeURL("pc", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
			p = b.get(e.abs(p.location))
			assert.Equal(t, http.StatusOK, p.status)
			assert.Contains(t, p.body, "Allow access")
		})
	})
}

func TestTokenErrors(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		clock := fixture.NewIdentityClock(time.Now())
		e := newEnv(t, fixture.StartIdentity(t, b, fixture.WithIdentityClock(clock.Now)))
		redirect := e.web.RedirectURIs[0]
		other := e.idp.ClientOfKind(t, 1, demofile.KindConfidential) // another tenant's web client
		webTwin := e.web
		webTwin.ClientSecret = "wrong-" + e.web.ClientSecret

		t.Run("wrong PKCE verifier", func(t *testing.T) {
			code, _ := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid"))
			status, body := e.exchange(t, &e.web, code, redirect, oauth2.GenerateVerifier())
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("public client presents no PKCE verifier", func(t *testing.T) {
			cfg := e.nativeConfig("50000", "openid")
			code, _ := e.codeFor(t, newBrowser(t, e.idp), cfg)
			status, body := e.exchange(t, &e.native, code, cfg.RedirectURL, "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("public client without PKCE at authorize", func(t *testing.T) {
			cfg := e.nativeConfig("50000", "openid")
			p := newBrowser(t, e.idp).get(cfg.AuthCodeURL("s"))
			require.Equal(t, http.StatusSeeOther, p.status)
			u, _ := url.Parse(p.location)
			assert.Equal(t, "invalid_request", u.Query().Get("error"))
			assert.Empty(t, u.Query().Get("code"))
		})
		t.Run("redirect_uri differs at the token endpoint", func(t *testing.T) {
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid"))
			status, body := e.exchange(t, &e.web, code, redirect+"x", verifier)
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("code used by another client", func(t *testing.T) {
			cfg := e.nativeConfig("50001", "openid")
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg)
			status, body := e.exchange(t, &e.web, code, cfg.RedirectURL, verifier)
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			status, body = e.exchange(t, &other, code, cfg.RedirectURL, verifier)
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("expired code", func(t *testing.T) {
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid"))
			clock.Advance(61 * time.Second)
			status, body := e.exchange(t, &e.web, code, redirect, verifier)
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			assert.Contains(t, body["error_description"], "expired")
		})
		t.Run("pending sign-in requests and sessions expire", func(t *testing.T) {
			br := newBrowser(t, e.idp)
			cfg := e.webConfig("openid")
			p := br.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			require.Contains(t, p.location, oauth.PathLogin)
			clock.Advance(11 * time.Minute)
			p = br.get(e.abs(p.location))
			assert.Equal(t, http.StatusBadRequest, p.status)
			assert.Contains(t, p.body, "expired")

			e.codeFor(t, br, cfg) // signed in now
			p = br.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			assert.Contains(t, p.location, oauth.PathConsent, "the session skips the login")
			clock.Advance(9 * time.Hour)
			p = br.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			assert.Contains(t, p.location, oauth.PathLogin, "an expired session asks for the password again")
		})
		t.Run("code replay fails and revokes what the code produced", func(t *testing.T) {
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid"))
			status, first := e.exchange(t, &e.web, code, redirect, verifier)
			require.Equal(t, http.StatusOK, status, first)
			at, rt := first["access_token"].(string), first["refresh_token"].(string)
			require.True(t, e.active(t, at))
			// A refresh before the replay: its tokens belong to the code too.
			status, refreshed := e.refresh(t, &e.web, rt, "")
			require.Equal(t, http.StatusOK, status, refreshed)

			status, body := e.exchange(t, &e.web, code, redirect, verifier)
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			assert.False(t, e.active(t, at), "access token from the replayed code is revoked")
			assert.False(t, e.active(t, refreshed["access_token"].(string)), "refreshed access token is revoked")
			status, body = e.refresh(t, &e.web, refreshed["refresh_token"].(string), "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("unknown code", func(t *testing.T) {
			status, body := e.exchange(t, &e.web, "not-a-code", redirect, oauth2.GenerateVerifier())
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("refresh reuse revokes the family", func(t *testing.T) {
			first := e.tokensFor(t, "openid")
			rt1 := first["refresh_token"].(string)
			status, second := e.refresh(t, &e.web, rt1, "")
			require.Equal(t, http.StatusOK, status, second)
			rt2 := second["refresh_token"].(string)
			require.NotEqual(t, rt1, rt2)
			status, body := e.refresh(t, &e.web, rt1, "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			status, body = e.refresh(t, &e.web, rt2, "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			assert.False(t, e.active(t, second["access_token"].(string)))
			assert.False(t, e.active(t, first["access_token"].(string)))
		})
		t.Run("refresh by another client", func(t *testing.T) {
			first := e.tokensFor(t, "openid")
			native := e.native
			status, body := e.refresh(t, &native, first["refresh_token"].(string), "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			status, body = e.refresh(t, &other, first["refresh_token"].(string), "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
			// The rightful client still can.
			status, body = e.refresh(t, &e.web, first["refresh_token"].(string), "")
			require.Equal(t, http.StatusOK, status, body)
		})
		t.Run("refresh may narrow scope, never widen it", func(t *testing.T) {
			first := e.tokensFor(t, "openid", "profile")
			rt := first["refresh_token"].(string)
			status, body := e.refresh(t, &e.web, rt, "openid profile email")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_scope")
			status, body = e.refresh(t, &e.web, rt, "openid")
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, "openid", body["scope"])
			// The rotated token keeps the whole grant.
			status, body = e.refresh(t, &e.web, body["refresh_token"].(string), "openid profile")
			require.Equal(t, http.StatusOK, status, body)
		})
		t.Run("expired refresh token", func(t *testing.T) {
			first := e.tokensFor(t, "openid")
			clock.Advance(25 * time.Hour)
			status, body := e.refresh(t, &e.web, first["refresh_token"].(string), "")
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
		})

		ccCases := []struct {
			desc       string
			client     *demofile.Client
			form       url.Values
			wantStatus int
			wantCode   string
		}{
			{desc: "scope escalation on client_credentials", client: &e.svc, form: url.Values{"grant_type": {"client_credentials"}, "scope": {"kms:read identity:admin"}}, wantStatus: 400, wantCode: "invalid_scope"},
			{desc: "openid on client_credentials", client: &e.admin, form: url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, wantStatus: 400, wantCode: "invalid_scope"},
			{desc: "wrong client secret", client: &webTwin, form: url.Values{"grant_type": {"client_credentials"}}, wantStatus: 401, wantCode: "invalid_client"},
			{desc: "unknown client", client: &demofile.Client{ClientID: "ghost", ClientSecret: "x"}, form: url.Values{"grant_type": {"client_credentials"}}, wantStatus: 401, wantCode: "invalid_client"},
			{desc: "no client authentication", form: url.Values{"grant_type": {"client_credentials"}}, wantStatus: 401, wantCode: "invalid_client"},
			{desc: "public client cannot use client_credentials", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {e.native.ClientID}}, wantStatus: 401, wantCode: "invalid_client"},
			{desc: "client not allowed the grant", client: &e.web, form: url.Values{"grant_type": {"client_credentials"}}, wantStatus: 400, wantCode: "unauthorized_client"},
			{desc: "resource not allowed", client: &e.svc, form: url.Values{"grant_type": {"client_credentials"}, "resource": {"identity"}}, wantStatus: 400, wantCode: "invalid_target"},
			{desc: "password grant does not exist", client: &e.web, form: url.Values{"grant_type": {"password"}, "username": {"user"}, "password": {e.user.Password}}, wantStatus: 400, wantCode: "unsupported_grant_type"},
			{desc: "implicit is not a grant", client: &e.web, form: url.Values{"grant_type": {"implicit"}}, wantStatus: 400, wantCode: "unsupported_grant_type"},
			{desc: "missing grant type", client: &e.web, form: url.Values{}, wantStatus: 400, wantCode: "invalid_request"},
			{desc: "missing code", client: &e.web, form: url.Values{"grant_type": {"authorization_code"}}, wantStatus: 400, wantCode: "invalid_request"},
			{desc: "missing refresh token", client: &e.web, form: url.Values{"grant_type": {"refresh_token"}}, wantStatus: 400, wantCode: "invalid_request"},
			{desc: "service client cannot refresh", client: &e.svc, form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, wantStatus: 400, wantCode: "unauthorized_client"},
			{desc: "service client cannot exchange codes", client: &e.svc, form: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, wantStatus: 400, wantCode: "unauthorized_client"},
			{desc: "secret in body and header", client: &e.svc, form: url.Values{"grant_type": {"client_credentials"}, "client_secret": {e.svc.ClientSecret}}, wantStatus: 400, wantCode: "invalid_request"},
		}
		for _, tc := range ccCases {
			t.Run(tc.desc, func(t *testing.T) {
				status, body, h := e.form(t, oauth.PathToken, tc.client, tc.form)
				requireOAuthError(t, status, body, tc.wantStatus, tc.wantCode)
				assert.Equal(t, "no-store", h.Get("Cache-Control"))
				if tc.wantStatus == http.StatusUnauthorized && tc.client != nil {
					assert.Contains(t, h.Get("WWW-Authenticate"), "Basic")
				}
			})
		}
		t.Run("client_secret_post with a wrong secret", func(t *testing.T) {
			status, body, _ := e.form(t, oauth.PathToken, nil, url.Values{
				"grant_type": {"client_credentials"}, "client_id": {e.svc.ClientID}, "client_secret": {"nope"},
			})
			requireOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
		})
		t.Run("form body required", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url(oauth.PathToken), strings.NewReader(`{"grant_type":"client_credentials"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.idp.Client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		})
	})
}

func TestIntrospectAndRevoke(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		otherRS := e.idp.ClientOfKind(t, 1, demofile.KindResourceServer)
		otherSvc := e.idp.ClientOfKind(t, 1, demofile.KindService)

		t.Run("introspection by a client without permission", func(t *testing.T) {
			tok := e.clientCredentials(t, e.svc, "kms:read")
			for _, c := range []*demofile.Client{&e.svc, &e.web} {
				status, body, _ := e.form(t, oauth.PathIntrospect, c, url.Values{"token": {tok}})
				requireOAuthError(t, status, body, http.StatusForbidden, "unauthorized_client")
				assert.NotContains(t, body, "active")
			}
			status, body, _ := e.form(t, oauth.PathIntrospect, nil, url.Values{"token": {tok}, "client_id": {e.native.ClientID}})
			requireOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
		})
		t.Run("introspection stays within the tenant", func(t *testing.T) {
			tok := e.clientCredentials(t, e.svc, "kms:read")
			status, body, _ := e.form(t, oauth.PathIntrospect, &otherRS, url.Values{"token": {tok}})
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, map[string]any{"active": false}, body)
			assert.True(t, e.active(t, tok))
		})
		t.Run("unknown and malformed tokens are inactive", func(t *testing.T) {
			for _, tok := range []string{"opaque-unknown", "a.b.c", strings.Repeat("x", 300)} {
				assert.Equal(t, map[string]any{"active": false}, e.introspect(t, tok))
			}
			status, body, _ := e.form(t, oauth.PathIntrospect, &e.rs, url.Values{})
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_request")
		})
		t.Run("refresh tokens introspect while live", func(t *testing.T) {
			tk := e.tokensFor(t, "openid")
			in := e.introspect(t, tk["refresh_token"].(string))
			assert.Equal(t, true, in["active"])
			assert.Equal(t, "refresh_token", in["token_type"])
			assert.Equal(t, e.web.ClientID, in["client_id"])
			in = e.introspect(t, tk["access_token"].(string))
			assert.Equal(t, "user", in["username"])
		})
		t.Run("revoking an access token", func(t *testing.T) {
			tok := e.clientCredentials(t, e.svc, "kms:read")
			status, _, _ := e.form(t, oauth.PathRevoke, &e.svc, url.Values{"token": {tok}, "token_type_hint": {"access_token"}})
			require.Equal(t, http.StatusOK, status)
			assert.False(t, e.active(t, tok))
		})
		t.Run("revoking a refresh token revokes its family and access tokens", func(t *testing.T) {
			tk := e.tokensFor(t, "openid")
			status, second := e.refresh(t, &e.web, tk["refresh_token"].(string), "")
			require.Equal(t, http.StatusOK, status)
			status, _, _ = e.form(t, oauth.PathRevoke, &e.web, url.Values{"token": {second["refresh_token"].(string)}})
			require.Equal(t, http.StatusOK, status)
			assert.False(t, e.active(t, second["refresh_token"].(string)))
			assert.False(t, e.active(t, second["access_token"].(string)))
			assert.False(t, e.active(t, tk["access_token"].(string)))
			st, body := e.refresh(t, &e.web, second["refresh_token"].(string), "")
			requireOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
		})
		t.Run("a public client revokes its own refresh token", func(t *testing.T) {
			cfg := e.nativeConfig("50010", "openid")
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg)
			tok, err := cfg.Exchange(e.ctx(t), code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			status, _, _ := e.form(t, oauth.PathRevoke, nil, url.Values{"token": {tok.RefreshToken}, "client_id": {e.native.ClientID}})
			require.Equal(t, http.StatusOK, status)
			assert.False(t, e.active(t, tok.AccessToken))
		})
		t.Run("revoking another client's token is refused", func(t *testing.T) {
			tok := e.clientCredentials(t, e.svc, "kms:read")
			status, body, _ := e.form(t, oauth.PathRevoke, &e.web, url.Values{"token": {tok}})
			requireOAuthError(t, status, body, http.StatusBadRequest, "unauthorized_client")
			assert.True(t, e.active(t, tok), "still active")
			tk := e.tokensFor(t, "openid")
			status, body, _ = e.form(t, oauth.PathRevoke, &e.svc, url.Values{"token": {tk["refresh_token"].(string)}})
			requireOAuthError(t, status, body, http.StatusBadRequest, "unauthorized_client")
			assert.True(t, e.active(t, tk["refresh_token"].(string)))
			// Another tenant's client cannot even learn the token exists.
			status, _, _ = e.form(t, oauth.PathRevoke, &otherSvc, url.Values{"token": {tok}})
			assert.Equal(t, http.StatusOK, status)
			assert.True(t, e.active(t, tok))
		})
		t.Run("unknown tokens revoke with 200", func(t *testing.T) {
			for _, tok := range []string{"unknown", "a.b.c"} {
				status, _, _ := e.form(t, oauth.PathRevoke, &e.svc, url.Values{"token": {tok}})
				assert.Equal(t, http.StatusOK, status)
			}
			status, body, _ := e.form(t, oauth.PathRevoke, &e.svc, url.Values{})
			requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_request")
			status, body, _ = e.form(t, oauth.PathRevoke, nil, url.Values{"token": {"x"}})
			requireOAuthError(t, status, body, http.StatusUnauthorized, "invalid_client")
		})
	})
}

// TestForgedTokensRefused forges tokens the way an attacker could, from the
// public JWKS only, and checks userinfo and introspection refuse them.
func TestForgedTokensRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		clock := fixture.NewIdentityClock(time.Now())
		e := newEnv(t, fixture.StartIdentity(t, b, fixture.WithIdentityClock(clock.Now)))
		genuine := e.tokensFor(t, "openid", "profile")["access_token"].(string)
		status, _, _ := e.bearer(t, http.MethodGet, oauth.PathUserinfo, genuine)
		require.Equal(t, http.StatusOK, status)
		claims := jwtClaims(t, genuine)
		kid := jwtHeader(t, genuine)["kid"].(string)
		pubPEM := publicKeyPEM(t, e, kid)

		for _, tc := range []struct {
			desc  string
			forge func() string
		}{
			{desc: "alg none", forge: func() string { return forge(t, jwt.SigningMethodNone, kid, jwt.UnsafeAllowNoneSignatureType, claims) }},
			{desc: "HS256 keyed with the published public key", forge: func() string { return forge(t, jwt.SigningMethodHS256, kid, pubPEM, claims) }},
			{desc: "unknown kid", forge: func() string { return forge(t, jwt.SigningMethodES256, "attacker-kid", newECKey(t), claims) }},
			{desc: "published kid, attacker key", forge: func() string { return forge(t, jwt.SigningMethodES256, kid, newECKey(t), claims) }},
			{desc: "genuine token with a flipped claim", forge: func() string {
				parts := strings.Split(genuine, ".")
				c := jwtClaims(t, genuine)
				c["scope"] = "openid profile email"
				raw, _ := json.Marshal(c)
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
			}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok := tc.forge()
				status, _, h := e.bearer(t, http.MethodGet, oauth.PathUserinfo, tok)
				assert.Equal(t, http.StatusUnauthorized, status)
				assert.Contains(t, h.Get("WWW-Authenticate"), `error="invalid_token"`)
				assert.Equal(t, map[string]any{"active": false}, e.introspect(t, tok))
			})
		}
		t.Run("expired", func(t *testing.T) {
			clock.Advance(11 * time.Minute)
			status, _, _ := e.bearer(t, http.MethodPost, oauth.PathUserinfo, genuine)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.False(t, e.active(t, genuine))
		})
	})
}

func forge(t *testing.T, m jwt.SigningMethod, kid string, key any, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// publicKeyPEM rebuilds the published EC key as PEM, the "secret" an
// algorithm-confusion attack would use.
func publicKeyPEM(t *testing.T, e *env, kid string) []byte {
	t.Helper()
	resp, err := e.idp.Client.Get(e.url(oauth.PathJWKS))
	require.NoError(t, err)
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ KID, X, Y string } `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	for _, k := range set.Keys {
		if k.KID != kid {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		require.NoError(t, err)
		y, err := base64.RawURLEncoding.DecodeString(k.Y)
		require.NoError(t, err)
		// The uncompressed SEC 1 point 0x04||x||y, each coordinate 32 bytes as the JWK carries it (RFC 7518 §6.2.1.2).
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		require.NoError(t, err)
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	t.Fatalf("kid %s not in the JWKS", kid)
	return nil
}
