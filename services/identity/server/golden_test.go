package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
	"github.com/passthru-dev/passthru/testkit/golden"
)

// goldenIssuer replaces the fixture's issuer (its port changes every run).
const goldenIssuer = "https://issuer.test"

// jwkMaterial matches the members of a JWK that hold key material or are
// derived from it (kid is a thumbprint); their values change with every
// key, the rest of the JWKS (members, order, kty, alg, use, crv) does not.
var jwkMaterial = regexp.MustCompile(`"(kid|n|e|x|y|x5t|x5t#S256)":"[^"]*"`)

// TestGoldenDiscoveryAndJWKS pins both discovery documents and the JWKS
// shape (testdata/*.golden; rewrite with -update): relying parties and
// resource servers configure themselves from these documents.
func TestGoldenDiscoveryAndJWKS(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		id := fixture.StartIdentity(t, b)
		for _, tc := range []struct{ name, path string }{
			{name: "openid-configuration", path: oauth.PathOpenIDConfiguration},
			{name: "oauth-authorization-server", path: oauth.PathOAuthMetadata},
			{name: "jwks", path: oauth.PathJWKS},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, id.URL+tc.path, nil)
				require.NoError(t, err)
				resp, err := id.Client.Do(req)
				require.NoError(t, err)
				got := golden.HTTP(t, resp, "Content-Type", "Cache-Control")
				got = []byte(strings.ReplaceAll(string(got), id.Issuer, goldenIssuer))
				got = jwkMaterial.ReplaceAll(got, []byte(`"$1":"<$1>"`))
				golden.Assert(t, tc.name+".golden", got)
			})
		}
	})
}

// TestGoldenOAuthErrorBodies pins the RFC 6749 error answers of the token
// and introspection endpoints for representative mistakes, headers
// included (testdata/oauth-error/*.golden; rewrite with -update).
func TestGoldenOAuthErrorBodies(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		id := fixture.StartIdentity(t, b)
		svc := id.ClientOfKind(t, 0, demofile.KindService)
		web := id.ClientOfKind(t, 0, demofile.KindConfidential)
		rs := id.ClientOfKind(t, 0, demofile.KindResourceServer)
		wrong := svc
		wrong.ClientSecret += "x"
		tests := []struct {
			name   string
			path   string
			client *demofile.Client // nil: no client authentication
			form   url.Values
		}{
			{name: "token-missing-grant-type", path: oauth.PathToken, client: &svc, form: url.Values{}},
			{name: "token-unsupported-grant-type", path: oauth.PathToken, client: &svc, form: url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}},
			{name: "token-wrong-client-secret", path: oauth.PathToken, client: &wrong, form: url.Values{"grant_type": {"client_credentials"}}},
			{name: "token-no-client-authentication", path: oauth.PathToken, form: url.Values{"grant_type": {"client_credentials"}}},
			{name: "token-grant-not-allowed-for-client", path: oauth.PathToken, client: &svc, form: url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"}}},
			{name: "token-unknown-code", path: oauth.PathToken, client: &web, form: url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": web.RedirectURIs, "code_verifier": {strings.Repeat("v", 43)}}},
			{name: "token-scope-not-allowed", path: oauth.PathToken, client: &svc, form: url.Values{"grant_type": {"client_credentials"}, "scope": {"identity:admin"}}},
			{name: "introspect-no-client-authentication", path: oauth.PathIntrospect, form: url.Values{"token": {"x"}}},
			{name: "introspect-batch-no-token", path: oauth.PathIntrospectBatch, client: &rs, form: url.Values{}},
			{name: "introspect-batch-too-many-tokens", path: oauth.PathIntrospectBatch, client: &rs, form: url.Values{"token": slices.Repeat([]string{"x"}, oauth.MaxBatchTokens+1)}},
			{name: "introspect-batch-not-a-resource-server", path: oauth.PathIntrospectBatch, client: &svc, form: url.Values{"token": {"x", "y"}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, id.URL+tc.path, strings.NewReader(tc.form.Encode()))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.client != nil {
					req.SetBasicAuth(url.QueryEscape(tc.client.ClientID), url.QueryEscape(tc.client.ClientSecret))
				}
				resp, err := id.Client.Do(req)
				require.NoError(t, err)
				got := golden.HTTP(t, resp, "Content-Type", "WWW-Authenticate", "Cache-Control", "Pragma")
				got = []byte(strings.NewReplacer(svc.ClientID, "<service-client-id>", web.ClientID, "<web-client-id>", rs.ClientID, "<resource-server-client-id>").Replace(string(got)))
				golden.Assert(t, "oauth-error/"+tc.name+".golden", got)
			})
		}
	})
}
