package oauth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

func TestStandardClients(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))

		t.Run("go-oidc accepts discovery and both metadata documents agree", func(t *testing.T) {
			ctx := e.ctx(t)
			p, err := oidc.NewProvider(ctx, e.idp.Issuer)
			require.NoError(t, err)
			assert.Equal(t, e.url(oauth.PathToken), p.Endpoint().TokenURL)
			var oidcDoc, asDoc map[string]any
			require.NoError(t, p.Claims(&oidcDoc))
			resp, err := e.idp.Client.Get(e.url(oauth.PathOAuthMetadata))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Cache-Control"), "max-age")
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&asDoc))
			assert.Equal(t, oidcDoc, asDoc)
			assert.Equal(t, e.idp.Issuer, asDoc["issuer"])
			assert.Equal(t, e.idp.Demo.Issuer, asDoc["issuer"], "demo.json issuer equals the discovery issuer")
			assert.Equal(t, []any{"S256"}, asDoc["code_challenge_methods_supported"])
			assert.Equal(t, []any{"code"}, asDoc["response_types_supported"])
			assert.ElementsMatch(t, []any{"authorization_code", "client_credentials", "refresh_token"}, asDoc["grant_types_supported"])
			assert.Equal(t, true, asDoc["authorization_response_iss_parameter_supported"])
		})

		t.Run("every advertised endpoint is routed", func(t *testing.T) {
			var doc map[string]any
			resp, err := e.idp.Client.Get(e.url(oauth.PathOpenIDConfiguration))
			require.NoError(t, err)
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
			resp.Body.Close()
			n := 0
			for k, v := range doc {
				s, ok := v.(string)
				if !ok || (!strings.HasSuffix(k, "_endpoint") && k != "jwks_uri") {
					continue
				}
				n++
				for _, m := range []string{http.MethodGet, http.MethodPost} {
					req, _ := http.NewRequest(m, s, nil)
					resp, err := e.idp.Client.Do(req)
					require.NoError(t, err)
					resp.Body.Close()
					if resp.StatusCode != http.StatusMethodNotAllowed {
						assert.NotEqual(t, http.StatusNotFound, resp.StatusCode, "%s %s", m, s)
					}
				}
			}
			assert.Equal(t, 8, n, "authorization, token, userinfo, end_session, introspection, introspection_batch, revocation, jwks")
		})

		t.Run("code flow with PKCE: web client, ID token, userinfo, refresh", func(t *testing.T) {
			ctx := e.ctx(t)
			p, err := oidc.NewProvider(ctx, e.idp.Issuer)
			require.NoError(t, err)
			cfg := e.webConfig(oidc.ScopeOpenID, "profile", "email")
			cfg.Endpoint = p.Endpoint()
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			nonce := "n-" + oauth2.GenerateVerifier()[:12]
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg, oidc.Nonce(nonce))
			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			require.NotEmpty(t, tok.RefreshToken, "the code flow returns a refresh token")

			rawID, ok := tok.Extra("id_token").(string)
			require.True(t, ok, "an ID token on the openid scope")
			idt, err := p.Verifier(&oidc.Config{ClientID: e.web.ClientID}).Verify(ctx, rawID)
			require.NoError(t, err)
			assert.Equal(t, nonce, idt.Nonce)
			require.NoError(t, idt.VerifyAccessToken(tok.AccessToken), "at_hash")
			var idc struct {
				AuthTime int64  `json:"auth_time"`
				Username string `json:"preferred_username"`
			}
			require.NoError(t, idt.Claims(&idc))
			assert.NotZero(t, idc.AuthTime)
			assert.Equal(t, "user", idc.Username)

			ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			require.NoError(t, err)
			assert.Equal(t, idt.Subject, ui.Subject)
			assert.NotEmpty(t, ui.Email)
			var uic map[string]any
			require.NoError(t, ui.Claims(&uic))
			assert.Equal(t, "user", uic["preferred_username"])

			// RFC 9068 claims.
			claims := jwtClaims(t, tok.AccessToken)
			for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "tenant_id"} {
				assert.Contains(t, claims, k)
			}
			assert.Equal(t, e.tenant.ID, claims["tenant_id"])
			assert.Equal(t, []any{"user"}, claims["roles"], "a user's token carries the user's roles")
			assert.NotContains(t, jwtClaims(t, e.clientCredentials(t, e.svc, "")), "roles", "a client's own token has no roles")
			assert.Equal(t, "at+jwt", jwtHeader(t, tok.AccessToken)["typ"])

			// Refresh through the TokenSource: a new refresh token every time.
			old := *tok
			tok.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(ctx, tok).Token()
			require.NoError(t, err)
			assert.NotEqual(t, old.AccessToken, fresh.AccessToken)
			assert.NotEqual(t, old.RefreshToken, fresh.RefreshToken, "refresh tokens rotate")
			assert.True(t, e.active(t, fresh.AccessToken))
			assert.Equal(t, []any{"user"}, jwtClaims(t, fresh.AccessToken)["roles"], "a refreshed token carries the roles too")
			refreshedID, ok := fresh.Extra("id_token").(string)
			require.True(t, ok, "a refresh with openid returns a new ID token")
			idt2, err := p.Verifier(&oidc.Config{ClientID: e.web.ClientID}).Verify(ctx, refreshedID)
			require.NoError(t, err)
			assert.Equal(t, idt.Subject, idt2.Subject)
			assert.Empty(t, idt2.Nonce, "no nonce on a refreshed ID token")
			var idc2 struct {
				AuthTime int64 `json:"auth_time"`
			}
			require.NoError(t, idt2.Claims(&idc2))
			assert.Equal(t, idc.AuthTime, idc2.AuthTime, "auth_time is the original authentication")
			require.NoError(t, idt2.VerifyAccessToken(fresh.AccessToken))
		})

		t.Run("consent is remembered per user, client and scope set", func(t *testing.T) {
			b := newBrowser(t, e.idp)
			cfg := e.webConfig("openid", "profile")
			e.codeFor(t, b, cfg)
			// Same scopes again: straight back to the client.
			v := oauth2.GenerateVerifier()
			p := b.get(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)))
			require.Equal(t, http.StatusSeeOther, p.status)
			require.Contains(t, p.location, "/oidc/v1/consent")
			p = b.get(e.abs(p.location))
			require.Equal(t, http.StatusSeeOther, p.status, "remembered consent skips the page")
			assert.Contains(t, p.location, e.web.RedirectURIs[0]+"?code=")
			// A different scope set asks again.
			cfg2 := e.webConfig("openid", "email")
			p = b.get(cfg2.AuthCodeURL("s3", oauth2.S256ChallengeOption(v)))
			p = b.get(e.abs(p.location))
			require.Equal(t, http.StatusOK, p.status)
			assert.Contains(t, p.body, "<code>email</code>")
		})

		t.Run("native public client on any loopback port, client_secret_post style", func(t *testing.T) {
			ctx := e.ctx(t)
			for _, port := range []string{"49152", "61000"} {
				cfg := e.nativeConfig(port, "openid", "kms:read")
				code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg)
				tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				require.NoError(t, err, "port %s", port)
				assert.NotEmpty(t, tok.RefreshToken)
			}
			// The confidential client with client_secret_post.
			cfg := e.webConfig("openid")
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg)
			_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
		})

		t.Run("resource indicator sets the audience", func(t *testing.T) {
			ctx := e.ctx(t)
			cfg := e.webConfig("openid", "kms:read")
			code, verifier := e.codeFor(t, newBrowser(t, e.idp), cfg, oauth2.SetAuthURLParam("resource", "kms"))
			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			assert.Equal(t, []any{"kms"}, jwtClaims(t, tok.AccessToken)["aud"])
			// A token for the KMS is not a token for userinfo (wrong audience).
			status, _, h := e.bearer(t, http.MethodGet, oauth.PathUserinfo, tok.AccessToken)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Contains(t, h.Get("WWW-Authenticate"), `error="invalid_token"`)
		})

		t.Run("client_credentials with x/oauth2", func(t *testing.T) {
			ctx := e.ctx(t)
			cc := clientcredentials.Config{
				ClientID: e.svc.ClientID, ClientSecret: e.svc.ClientSecret, TokenURL: e.url(oauth.PathToken),
				Scopes: []string{"kms:read", "kms:write"}, AuthStyle: oauth2.AuthStyleInHeader,
			}
			tok, err := cc.Token(ctx)
			require.NoError(t, err)
			assert.Empty(t, tok.RefreshToken, "no refresh token for client_credentials")
			c := jwtClaims(t, tok.AccessToken)
			assert.Equal(t, "kms:read kms:write", c["scope"])
			assert.Equal(t, []any{"kms"}, c["aud"])
			assert.Equal(t, e.svc.ClientID, c["sub"])
			in := e.introspect(t, tok.AccessToken)
			assert.Equal(t, true, in["active"])
			assert.Equal(t, e.svc.ClientID, in["client_id"])
			assert.Equal(t, e.tenant.ID, in["tenant_id"])
			// No scope asked: all allowed scopes.
			all := e.clientCredentials(t, e.svc, "")
			assert.Equal(t, "kms:admin kms:write kms:read", jwtClaims(t, all)["scope"])
		})
	})
}

func TestNativeRedirectMatching(t *testing.T) {
	// Pure redirect matching through the authorize endpoint, one server.
	e := newEnv(t, fixture.StartIdentity(t, dbtest.SQLite))
	v := oauth2.GenerateVerifier()
	for _, tc := range []struct {
		desc     string
		redirect string
		allowed  bool
	}{
		{desc: "registered loopback, other port", redirect: "http://127.0.0.1:55555/callback", allowed: true},
		{desc: "registered loopback, no port", redirect: "http://127.0.0.1/callback", allowed: true},
		{desc: "IPv6 loopback, other port", redirect: "http://[::1]:4444/callback", allowed: true},
		{desc: "localhost is not the registered IP literal", redirect: "http://localhost:55555/callback"},
		{desc: "other path", redirect: "http://127.0.0.1:55555/other"},
		{desc: "extra query", redirect: "http://127.0.0.1:55555/callback?x=1"},
		{desc: "https instead of http", redirect: "https://127.0.0.1:55555/callback"},
		{desc: "other loopback address", redirect: "http://127.0.0.2:55555/callback"},
		// Only the port may differ from the registered text (found by
		// FuzzRedirectAllowed): each of these parses as the same URI.
		{desc: "scheme in capitals", redirect: "HTTP://127.0.0.1:55555/callback"},
		{desc: "empty query", redirect: "http://127.0.0.1:55555/callback?"},
		{desc: "empty fragment", redirect: "http://127.0.0.1:55555/callback#"},
		{desc: "empty port", redirect: "http://127.0.0.1:/callback"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := e.nativeConfig("1", "openid")
			cfg.RedirectURL = tc.redirect
			p := newBrowser(t, e.idp).get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)))
			if tc.allowed {
				require.Equal(t, http.StatusSeeOther, p.status, p.body)
				assert.Contains(t, p.location, oauth.PathLogin)
				return
			}
			require.Equal(t, http.StatusBadRequest, p.status)
			assert.Empty(t, p.location, "a bad redirect URI is never redirected to")
			assert.Contains(t, p.body, "Invalid redirect URI")
		})
	}
}

func jwtPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := splitJWT(t, token)
	raw, err := decodeSegment(parts[i])
	require.NoError(t, err)
	out := map[string]any{}
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func jwtClaims(t *testing.T, token string) map[string]any { return jwtPart(t, token, 1) }
func jwtHeader(t *testing.T, token string) map[string]any { return jwtPart(t, token, 0) }

func splitJWT(t *testing.T, token string) []string {
	t.Helper()
	var parts []string
	start := 0
	for i := 0; i < len(token); i++ {
		if token[i] == '.' {
			parts = append(parts, token[start:i])
			start = i + 1
		}
	}
	parts = append(parts, token[start:])
	require.Len(t, parts, 3)
	return parts
}
