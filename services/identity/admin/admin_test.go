package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/admin"
	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

type api struct {
	idp   *fixture.Identity
	token string
}

func token(t *testing.T, idp *fixture.Identity, c demofile.Client, scope string) string {
	t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		v.Set("scope", scope)
	}
	status, body := postForm(t, idp, "/oauth2/v1/token", c, v)
	require.Equal(t, http.StatusOK, status, body)
	return body["access_token"].(string)
}

func postForm(t *testing.T, idp *fixture.Identity, path string, c demofile.Client, v url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, idp.Issuer+path, strings.NewReader(v.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp.StatusCode, out
}

func (a *api) call(t *testing.T, method, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.idp.Issuer+admin.Base+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp.StatusCode, out, resp.Header
}

func adminClient(t *testing.T, idp *fixture.Identity, n int) demofile.Client {
	t.Helper()
	for _, c := range idp.Tenant(t, n).Clients {
		if len(c.Scopes) == 1 && c.Scopes[0] == admin.Scope {
			return c
		}
	}
	t.Fatal("no demo admin client")
	return demofile.Client{}
}

func TestAdminAPI(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		// The listener asks for client certificates, so tls_client_auth
		// clients can be registered.
		idp := fixture.StartIdentity(t, b, fixture.WithIdentityConfig(func(c *identityserver.Config) { c.TLS.ClientAuth = config.ClientAuthOptional }))
		a := &api{idp: idp, token: token(t, idp, adminClient(t, idp, 0), "")}

		t.Run("authentication and scope", func(t *testing.T) {
			for _, tc := range []struct {
				desc   string
				token  string
				status int
				code   string
			}{
				{desc: "no token", token: "", status: 401, code: ""},
				{desc: "garbage token", token: "x.y.z", status: 401, code: "invalid_token"},
				{desc: "KMS token (wrong audience)", token: token(t, idp, idp.ClientOfKind(t, 0, demofile.KindService), ""), status: 401, code: "invalid_token"},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					status, body, h := (&api{idp: idp, token: tc.token}).call(t, http.MethodGet, "/clients", nil)
					assert.Equal(t, tc.status, status)
					assert.Contains(t, h.Get("WWW-Authenticate"), "Bearer")
					assert.Contains(t, h.Get("Content-Type"), "application/problem+json")
					if tc.code != "" {
						assert.Equal(t, tc.code, body["code"])
					}
				})
			}
		})

		t.Run("tenant comes from the token", func(t *testing.T) {
			other := &api{idp: idp, token: token(t, idp, adminClient(t, idp, 1), "")}
			status, body, _ := other.call(t, http.MethodGet, "/clients", nil)
			require.Equal(t, http.StatusOK, status)
			for _, it := range body["items"].([]any) {
				for _, c := range idp.Tenant(t, 0).Clients {
					assert.NotEqual(t, c.ClientID, it.(map[string]any)["client_id"])
				}
			}
			web := idp.ClientOfKind(t, 0, demofile.KindConfidential)
			status, _, _ = other.call(t, http.MethodGet, "/clients/"+web.ClientID, nil)
			assert.Equal(t, http.StatusNotFound, status, "another tenant's client is invisible")
		})

		t.Run("client lifecycle", func(t *testing.T) {
			name := factory.Name("svc")
			status, created, h := a.call(t, http.MethodPost, "/clients", map[string]any{
				"client_id": name, "name": "test service", "kind": "service",
				"grant_types": []string{"client_credentials"}, "scopes": []string{"kms:read"}, "audiences": []string{"kms"},
			})
			require.Equal(t, http.StatusCreated, status, created)
			assert.Equal(t, admin.Base+"/clients/"+name, h.Get("Location"))
			secret := created["client_secret"].(string)
			require.NotEmpty(t, secret)
			c := demofile.Client{ClientID: name, ClientSecret: secret}
			token(t, idp, c, "kms:read")

			status, got, _ := a.call(t, http.MethodGet, "/clients/"+name, nil)
			require.Equal(t, http.StatusOK, status)
			assert.NotContains(t, got, "client_secret", "the secret is shown once")
			status, list, _ := a.call(t, http.MethodGet, "/clients", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Contains(t, listIDs(list, "client_id"), name)

			status, dup, _ := a.call(t, http.MethodPost, "/clients", map[string]any{"client_id": name, "name": "dup", "kind": "service"})
			assert.Equal(t, http.StatusConflict, status, dup)

			status, rotated, _ := a.call(t, http.MethodPost, "/clients/"+name+"/rotate-secret", nil)
			require.Equal(t, http.StatusOK, status)
			newSecret := rotated["client_secret"].(string)
			require.NotEqual(t, secret, newSecret)
			st, body := postForm(t, idp, "/oauth2/v1/token", c, url.Values{"grant_type": {"client_credentials"}})
			assert.Equal(t, http.StatusUnauthorized, st, "the old secret is dead")
			assert.Equal(t, "invalid_client", body["error"])
			c.ClientSecret = newSecret
			token(t, idp, c, "")

			status, _, _ = a.call(t, http.MethodPost, "/clients/"+name+"/disable", nil)
			require.Equal(t, http.StatusOK, status)
			st, body = postForm(t, idp, "/oauth2/v1/token", c, url.Values{"grant_type": {"client_credentials"}})
			assert.Equal(t, "invalid_client", body["error"], st)
			status, _, _ = a.call(t, http.MethodPost, "/clients/"+name+"/enable", nil)
			require.Equal(t, http.StatusOK, status)
			tok := token(t, idp, c, "")

			status, _, _ = a.call(t, http.MethodDelete, "/clients/"+name, nil)
			require.Equal(t, http.StatusNoContent, status)
			status, _, _ = a.call(t, http.MethodGet, "/clients/"+name, nil)
			assert.Equal(t, http.StatusNotFound, status)
			status, _, _ = a.call(t, http.MethodDelete, "/clients/"+name, nil)
			assert.Equal(t, http.StatusNotFound, status)
			rs := idp.ClientOfKind(t, 0, demofile.KindResourceServer)
			_, in := postForm(t, idp, "/oauth2/v1/introspect", rs, url.Values{"token": {tok}})
			assert.Equal(t, false, in["active"], "tokens of a deleted client are inactive")
			st, body = postForm(t, idp, "/oauth2/v1/token", c, url.Values{"grant_type": {"client_credentials"}})
			assert.Equal(t, http.StatusUnauthorized, st, "a deleted client's cached secret is dead")
			assert.Equal(t, "invalid_client", body["error"])
		})

		t.Run("factory bodies create every kind", func(t *testing.T) {
			for _, kind := range []string{"confidential", "public", "service", "resource_server"} {
				status, body, _ := a.call(t, http.MethodPost, "/clients", factory.IdentityClient(t, kind))
				assert.Equal(t, http.StatusCreated, status, "%s: %v", kind, body)
				assert.Equal(t, kind != "public", body["client_secret"] != nil, kind)
			}
			u := factory.IdentityUser(t)
			status, body, _ := a.call(t, http.MethodPost, "/users", u)
			assert.Equal(t, http.StatusCreated, status, body)
		})

		t.Run("a token without identity:admin is forbidden", func(t *testing.T) {
			status, created, _ := a.call(t, http.MethodPost, "/clients", factory.IdentityClient(t, "service", func(r *admin.CreateClientRequest) {
				r.Scopes, r.Audiences = []string{"kms:read"}, []string{"identity"}
			}))
			require.Equal(t, http.StatusCreated, status)
			c := demofile.Client{ClientID: created["client_id"].(string), ClientSecret: created["client_secret"].(string)}
			weak := &api{idp: idp, token: token(t, idp, c, "")}
			status, body, h := weak.call(t, http.MethodGet, "/users", nil)
			assert.Equal(t, http.StatusForbidden, status)
			assert.Equal(t, "insufficient_scope", body["code"])
			assert.Contains(t, h.Get("WWW-Authenticate"), "insufficient_scope")
		})

		t.Run("public client has no secret", func(t *testing.T) {
			status, created, _ := a.call(t, http.MethodPost, "/clients", map[string]any{
				"name": "cli", "kind": "public", "redirect_uris": []string{"http://127.0.0.1/cb"},
				"grant_types": []string{"authorization_code", "refresh_token"}, "scopes": []string{"openid"},
			})
			require.Equal(t, http.StatusCreated, status, created)
			assert.NotContains(t, created, "client_secret")
			status, _, _ = a.call(t, http.MethodPost, "/clients/"+created["client_id"].(string)+"/rotate-secret", nil)
			assert.Equal(t, http.StatusBadRequest, status)
		})

		t.Run("client authentication methods", func(t *testing.T) {
			for _, tc := range []struct {
				desc       string
				body       map[string]any
				wantMethod string
				wantSecret bool
				wantURI    string
				wantDNS    string
			}{
				{desc: "a service client defaults to client_secret_basic", wantMethod: "client_secret_basic", wantSecret: true,
					body: map[string]any{"name": "s", "kind": "service"}},
				{desc: "a public client defaults to none", wantMethod: "none",
					body: map[string]any{"name": "p", "kind": "public"}},
				{desc: "client_secret_post is kept", wantMethod: "client_secret_post", wantSecret: true,
					body: map[string]any{"name": "s", "kind": "service", "token_endpoint_auth_method": "client_secret_post"}},
				{desc: "a tls_client_auth resource server by URI SAN", wantMethod: "tls_client_auth", wantURI: "spiffe://passthru.test/kms",
					body: map[string]any{"name": "rs", "kind": "resource_server", "can_introspect": true,
						"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": "spiffe://passthru.test/kms"}},
				{desc: "a tls_client_auth service client by DNS SAN", wantMethod: "tls_client_auth", wantDNS: "svc.passthru.test",
					body: map[string]any{"name": "svc", "kind": "service", "grant_types": []string{"client_credentials"},
						"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "svc.passthru.test"}},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					status, created, _ := a.call(t, http.MethodPost, "/clients", tc.body)
					require.Equal(t, http.StatusCreated, status, created)
					assert.Equal(t, tc.wantSecret, created["client_secret"] != nil, "a secret only for the secret methods")
					id := created["client_id"].(string)
					status, got, _ := a.call(t, http.MethodGet, "/clients/"+id, nil)
					require.Equal(t, http.StatusOK, status, got)
					for _, view := range []map[string]any{created, got} {
						assert.Equal(t, tc.wantMethod, view["token_endpoint_auth_method"])
						if tc.wantURI != "" {
							assert.Equal(t, tc.wantURI, view["tls_client_auth_san_uri"])
						} else {
							assert.NotContains(t, view, "tls_client_auth_san_uri")
						}
						if tc.wantDNS != "" {
							assert.Equal(t, tc.wantDNS, view["tls_client_auth_san_dns"])
						} else {
							assert.NotContains(t, view, "tls_client_auth_san_dns")
						}
					}
					status, rotated, _ := a.call(t, http.MethodPost, "/clients/"+id+"/rotate-secret", nil)
					if tc.wantSecret {
						assert.Equal(t, http.StatusOK, status, rotated)
					} else {
						assert.Equal(t, http.StatusBadRequest, status, "a client without a secret gets none: %v", rotated)
					}
				})
			}
			t.Run("a tls_client_auth client cannot get a token with a secret", func(t *testing.T) {
				status, created, _ := a.call(t, http.MethodPost, "/clients", map[string]any{"name": "svc", "kind": "service",
					"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "svc2.passthru.test"})
				require.Equal(t, http.StatusCreated, status, created)
				st, body := postForm(t, idp, "/oauth2/v1/token", demofile.Client{ClientID: created["client_id"].(string), ClientSecret: "guess"},
					url.Values{"grant_type": {"client_credentials"}})
				assert.Equal(t, http.StatusUnauthorized, st)
				assert.Equal(t, "invalid_client", body["error"])
			})
		})

		tlsRS := func(extra map[string]any) map[string]any {
			b := map[string]any{"name": "x", "kind": "resource_server", "token_endpoint_auth_method": "tls_client_auth"}
			for k, v := range extra {
				b[k] = v
			}
			return b
		}
		for _, tc := range []struct {
			desc   string
			body   any
			want   int
			detail string // when set, the problem's detail, which clients see
		}{
			{desc: "tls_client_auth for a web app", want: 400, detail: "tls_client_auth is for resource_server and service clients",
				body: map[string]any{"name": "x", "kind": "confidential", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "a.passthru.test"}},
			{desc: "tls_client_auth without a SAN", body: tlsRS(nil), want: 400,
				detail: "tls_client_auth needs exactly one of tls_client_auth_san_uri and tls_client_auth_san_dns"},
			{desc: "tls_client_auth with both SANs", want: 400, detail: "tls_client_auth needs exactly one of tls_client_auth_san_uri and tls_client_auth_san_dns",
				body: tlsRS(map[string]any{"tls_client_auth_san_uri": "spiffe://a.test/x", "tls_client_auth_san_dns": "a.passthru.test"})},
			{desc: "a SAN without tls_client_auth", want: 400,
				body:   map[string]any{"name": "x", "kind": "resource_server", "tls_client_auth_san_dns": "a.passthru.test"},
				detail: "tls_client_auth_san_uri and tls_client_auth_san_dns go with token_endpoint_auth_method tls_client_auth only"},
			{desc: "a relative SAN URI", body: tlsRS(map[string]any{"tls_client_auth_san_uri": "kms"}), want: 400},
			{desc: "a SAN URI not in canonical form", body: tlsRS(map[string]any{"tls_client_auth_san_uri": "SPIFFE://a.test/kms"}), want: 400,
				detail: "tls_client_auth_san_uri must be an absolute URI in canonical form (e.g. spiffe://example.org/kms)"},
			{desc: "an upper-case SAN DNS name", body: tlsRS(map[string]any{"tls_client_auth_san_dns": "KMS.passthru.test"}), want: 400,
				detail: "tls_client_auth_san_dns must be a lower-case fully qualified host name"},
			{desc: "a SAN DNS name that is not a host name", body: tlsRS(map[string]any{"tls_client_auth_san_dns": "*.passthru.test"}), want: 400},
			{desc: "a public client with a secret method", want: 400, detail: "a public client has no credential: token_endpoint_auth_method must be none",
				body: map[string]any{"name": "x", "kind": "public", "token_endpoint_auth_method": "client_secret_basic"}},
			{desc: "a service client without a credential", want: 400, detail: "token_endpoint_auth_method none is for public clients only",
				body: map[string]any{"name": "x", "kind": "service", "token_endpoint_auth_method": "none"}},
			{desc: "an unsupported method", want: 400, detail: "token_endpoint_auth_method must be client_secret_basic, client_secret_post, tls_client_auth or none",
				body: map[string]any{"name": "x", "kind": "service", "token_endpoint_auth_method": "private_key_jwt"}},
			{desc: "unknown kind", body: map[string]any{"name": "x", "kind": "robot"}, want: 400},
			{desc: "unknown field", body: map[string]any{"name": "x", "kind": "service", "secret": "mine"}, want: 400},
			{desc: "implicit grant", body: map[string]any{"name": "x", "kind": "confidential", "grant_types": []string{"implicit"}}, want: 400},
			{desc: "password grant", body: map[string]any{"name": "x", "kind": "confidential", "grant_types": []string{"password"}}, want: 400},
			{desc: "code grant without redirect", body: map[string]any{"name": "x", "kind": "confidential", "grant_types": []string{"authorization_code"}}, want: 400},
			{desc: "http redirect off loopback", body: map[string]any{"name": "x", "kind": "confidential", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"http://example.com/cb"}}, want: 400},
			{desc: "redirect with fragment", body: map[string]any{"name": "x", "kind": "confidential", "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://a.example/cb#x"}}, want: 400},
			{desc: "public client_credentials", body: map[string]any{"name": "x", "kind": "public", "grant_types": []string{"client_credentials"}}, want: 400},
			{desc: "public introspection", body: map[string]any{"name": "x", "kind": "public", "can_introspect": true}, want: 400},
			{desc: "scope with a space", body: map[string]any{"name": "x", "kind": "service", "scopes": []string{"a b"}}, want: 400},
			{desc: "empty name", body: map[string]any{"name": "", "kind": "service"}, want: 400, detail: "name: invalid value: name must not be empty"},
			{desc: "name with a line break", body: map[string]any{"name": "a\nb", "kind": "service"}, want: 400, detail: "name: invalid value: name contains a control character"},
			{desc: "client id with a tab", body: map[string]any{"client_id": "a\tb", "name": "x", "kind": "service"}, want: 400, detail: "client_id must be a short name without spaces or colons"},
			{desc: "client id with colon", body: map[string]any{"client_id": "a:b", "name": "x", "kind": "service"}, want: 400},
		} {
			t.Run("invalid client: "+tc.desc, func(t *testing.T) {
				status, body, h := a.call(t, http.MethodPost, "/clients", tc.body)
				assert.Equal(t, tc.want, status, body)
				assert.Contains(t, h.Get("Content-Type"), "application/problem+json")
				if tc.detail != "" {
					assert.Equal(t, tc.detail, body["detail"])
				}
			})
		}

		t.Run("user lifecycle and password change", func(t *testing.T) {
			username := factory.Name("u")
			status, created, h := a.call(t, http.MethodPost, "/users", map[string]any{
				"username": username, "password": "first-password-123", "name": "Test User", "email": "t@example.test", "roles": []string{"user"},
			})
			require.Equal(t, http.StatusCreated, status, created)
			id := created["id"].(string)
			assert.Equal(t, admin.Base+"/users/"+id, h.Get("Location"))
			assert.NotContains(t, created, "password")
			status, _, _ = a.call(t, http.MethodPost, "/users", map[string]any{"username": username, "password": "first-password-123"})
			assert.Equal(t, http.StatusConflict, status)

			status, got, _ := a.call(t, http.MethodGet, "/users/"+id, nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, username, got["username"])
			status, list, _ := a.call(t, http.MethodGet, "/users", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Contains(t, listIDs(list, "username"), username)

			status, _, _ = a.call(t, http.MethodPut, "/users/"+id+"/password", map[string]any{"password": "short"})
			assert.Equal(t, http.StatusBadRequest, status)
			// The password in use: a code flow as this user yields tokens.
			web := idp.ClientOfKind(t, 0, demofile.KindConfidential)
			cfg := &oauth2.Config{ClientID: web.ClientID, ClientSecret: web.ClientSecret, RedirectURL: web.RedirectURIs[0],
				Endpoint: oauth2.Endpoint{AuthURL: idp.Issuer + "/oauth2/v1/authorize", TokenURL: idp.Issuer + "/oauth2/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
				Scopes:   []string{"openid"}}
			signIn := func(password string) (*oauth2.Token, error) {
				ctx := context.WithValue(fixture.ITContext(t), oauth2.HTTPClient, idp.Client)
				verifier := oauth2.GenerateVerifier()
				loc, err := fixture.IdentityLogin(ctx, idp.Client, idp.Issuer, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), username, password)
				if err != nil {
					return nil, err
				}
				return cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			}
			before, err := signIn("first-password-123")
			require.NoError(t, err)
			rs := idp.ClientOfKind(t, 0, demofile.KindResourceServer)
			active := func(tok string) bool {
				status, body := postForm(t, idp, "/oauth2/v1/introspect", rs, url.Values{"token": {tok}})
				require.Equal(t, http.StatusOK, status)
				return body["active"] == true
			}
			require.True(t, active(before.AccessToken))
			require.True(t, active(before.RefreshToken))

			status, _, _ = a.call(t, http.MethodPut, "/users/"+id+"/password", map[string]any{"password": "second-password-456"})
			assert.Equal(t, http.StatusNoContent, status)
			_, err = signIn("first-password-123")
			assert.ErrorIs(t, err, fixture.ErrIdentityLoginRefused, "the old password no longer works")
			_, err = signIn("second-password-456")
			assert.NoError(t, err, "the new password works")
			assert.False(t, active(before.AccessToken), "a password change revokes the user's access tokens")
			assert.False(t, active(before.RefreshToken), "a password change revokes the user's refresh tokens")

			status, body, _ := a.call(t, http.MethodPost, "/users/"+id+"/disable", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, true, body["disabled"])
			status, body, _ = a.call(t, http.MethodPost, "/users/"+id+"/enable", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, false, body["disabled"])

			status, _, _ = a.call(t, http.MethodDelete, "/users/"+id, nil)
			assert.Equal(t, http.StatusNoContent, status)
			status, _, _ = a.call(t, http.MethodGet, "/users/"+id, nil)
			assert.Equal(t, http.StatusNotFound, status)
			status, _, _ = a.call(t, http.MethodGet, "/users/not-an-id", nil)
			assert.Equal(t, http.StatusBadRequest, status)
		})

		for _, tc := range []struct {
			desc string
			body any
		}{
			{desc: "short password", body: map[string]any{"username": "x1", "password": "short"}},
			{desc: "control character in password", body: map[string]any{"username": "x4", "password": "long-enough\tpassword"}},
			{desc: "username with space", body: map[string]any{"username": "a b", "password": "long-enough-password"}},
			{desc: "empty username", body: map[string]any{"username": "", "password": "long-enough-password"}},
			{desc: "multi-line name", body: map[string]any{"username": "x2", "password": "long-enough-password", "name": "a\nb"}},
			{desc: "role with space", body: map[string]any{"username": "x3", "password": "long-enough-password", "roles": []string{"a b"}}},
		} {
			t.Run("invalid user: "+tc.desc, func(t *testing.T) {
				status, body, _ := a.call(t, http.MethodPost, "/users", tc.body)
				assert.Equal(t, http.StatusBadRequest, status, body)
			})
		}
		t.Run("wrong content type is 415", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, idp.Issuer+admin.Base+"/users", strings.NewReader("username=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+a.token)
			resp, err := idp.Client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
		})
	})
}

func listIDs(list map[string]any, key string) []string {
	var out []string
	for _, it := range list["items"].([]any) {
		out = append(out, it.(map[string]any)[key].(string))
	}
	return out
}

// TestTLSClientAuthNeedsClientCertificates: a listener that does not ask
// for client certificates gets no tls_client_auth clients (they could
// never authenticate), and discovery does not offer the method.
func TestTLSClientAuthNeedsClientCertificates(t *testing.T) {
	idp := fixture.StartIdentity(t, dbtest.SQLite)
	a := &api{idp: idp, token: token(t, idp, adminClient(t, idp, 0), "")}
	status, body, _ := a.call(t, http.MethodPost, "/clients", map[string]any{
		"name": "rs", "kind": "resource_server", "can_introspect": true,
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": "spiffe://example.org/kms",
	})
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Contains(t, body["detail"], "tls.client_auth")
	resp, err := idp.Client.Get(idp.URL + "/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	var md map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&md))
	assert.NotContains(t, md["token_endpoint_auth_methods_supported"], "tls_client_auth")
	assert.NotContains(t, md["introspection_endpoint_auth_methods_supported"], "tls_client_auth")
	assert.Contains(t, md["introspection_endpoint_auth_methods_supported"], "client_secret_basic")
}
