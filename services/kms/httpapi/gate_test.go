package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// sensitiveOps are the operations whose x-sensitive is true: they destroy,
// create or re-enable key material, reveal plaintext or data keys, or
// administer the tenant's users and API keys.
var sensitiveOps = map[string]bool{
	"createElasticKey":     true,
	"updateElasticKey":     true,
	"destroyElasticKey":    true,
	"rotateElasticKey":     true,
	"updateMaterialKey":    true,
	"decrypt":              true,
	"generateDataKey":      true,
	"createRealmUser":      true,
	"listRealmUsers":       true,
	"getRealmUser":         true,
	"updateRealmUser":      true,
	"deleteRealmUser":      true,
	"setRealmUserPassword": true,
	"createApiKey":         true,
	"listApiKeys":          true,
	"getApiKey":            true,
	"revokeApiKey":         true,
}

// specOperation is one operation of openapi.yaml with a request path for it.
type specOperation struct {
	id, method, path string
	op               *openapi3.Operation
}

func specOperations(t *testing.T) []specOperation {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.SpecYAML)
	require.NoError(t, err)
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	var out []specOperation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			concrete := param.ReplaceAllStringFunc(path, func(string) string { return uuid.Must(uuid.NewV7()).String() })
			out = append(out, specOperation{id: op.OperationID, method: method, path: concrete, op: op})
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestSensitiveMarks: every operation's x-sensitive is exactly as listed in
// sensitiveOps (a new operation must be classified on purpose).
func TestSensitiveMarks(t *testing.T) {
	ops := specOperations(t)
	seen := map[string]bool{}
	for _, o := range ops {
		t.Run(o.id, func(t *testing.T) {
			raw, has := o.op.Extensions["x-sensitive"]
			if sensitiveOps[o.id] {
				assert.Equal(t, true, raw, "x-sensitive: true")
			} else {
				assert.False(t, has, "x-sensitive is only written where it is true")
			}
		})
		seen[o.id] = true
	}
	for id := range sensitiveOps {
		assert.True(t, seen[id], "operation %s of the list is in the spec", id)
	}
}

// recordingAuth remembers whether each request it saw was marked
// sensitive, and answers with err.
type recordingAuth struct {
	mu        sync.Mutex
	sensitive map[string]bool // by "METHOD path"
	p         *authn.Principal
	err       error
}

func (a *recordingAuth) Authenticate(r *http.Request) (*authn.Principal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sensitive == nil {
		a.sensitive = map[string]bool{}
	}
	a.sensitive[r.Method+" "+r.URL.Path] = authn.IsSensitive(r.Context())
	return a.p, a.err
}

func (*recordingAuth) Challenge() string { return "" }

// TestGateMarksSensitiveBeforeAuthenticating: the authenticator already
// sees the mark of every x-sensitive operation, and no mark elsewhere.
func TestGateMarksSensitiveBeforeAuthenticating(t *testing.T) {
	opts, _ := newOptions(t)
	rec := &recordingAuth{err: authn.ErrNoCredentials}
	opts.Authenticators = []authn.Authenticator{rec}
	h, err := New(t.Context(), opts)
	require.NoError(t, err)
	for _, o := range specOperations(t) {
		t.Run(o.id, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(o.method, o.path, nil))
			require.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
			marked, ok := rec.sensitive[o.method+" "+o.path]
			require.True(t, ok, "the authenticator was asked")
			assert.Equal(t, sensitiveOps[o.id], marked)
		})
	}
}

// TestGateScopeChallenges: a Bearer principal lacking the scope gets RFC
// 6750's insufficient_scope challenge naming the fine scope; other methods
// get the same 403 problem without a challenge (new credentials of the same
// kind would not help them).
func TestGateScopeChallenges(t *testing.T) {
	tests := []struct {
		desc      string
		method    authn.Method
		challenge string
	}{
		{desc: "bearer", method: authn.MethodBearer, challenge: `Bearer realm="kms", error="insufficient_scope", scope="kms:encrypt"`},
		{desc: "basic", method: authn.MethodBasic},
		{desc: "api key", method: authn.MethodAPIKey},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			opts, tenant := newOptions(t)
			opts.Authenticators = []authn.Authenticator{fixedAuth{p: &authn.Principal{
				Subject: "reader", TenantID: tenant, Method: tc.method, Scopes: scope.Expand([]string{scope.Read}),
			}}}
			h, err := New(t.Context(), opts)
			require.NoError(t, err)
			req := httptest.NewRequest(http.MethodPost, "/api/v1/elastic-keys/"+uuid.Must(uuid.NewV7()).String()+"/encrypt", strings.NewReader(`{"plaintext":"aGk="}`))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
			assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
			assert.Contains(t, w.Body.String(), `"code":"forbidden"`)
			assert.Contains(t, w.Body.String(), "kms:encrypt required")
			if tc.challenge == "" {
				assert.Empty(t, w.Header().Values("WWW-Authenticate"))
			} else {
				assert.Equal(t, []string{tc.challenge}, w.Header().Values("WWW-Authenticate"))
			}
		})
	}
}

// challengingAuth fails every request with err and advertises challenge.
type challengingAuth struct {
	err       error
	challenge string
}

func (a challengingAuth) Authenticate(*http.Request) (*authn.Principal, error) { return nil, a.err }
func (a challengingAuth) Challenge() string                                    { return a.challenge }

// TestGateUnavailable: credentials that cannot be checked now are a 503
// with Retry-After and no challenge, never a 401 or 500.
func TestGateUnavailable(t *testing.T) {
	tests := []struct {
		desc string
		err  error
	}{
		{desc: "unavailable", err: fmt.Errorf("fetch issuer keys: %w", authn.ErrUnavailable)},
		{desc: "unavailable that also reads as invalid", err: &authn.ChallengeError{
			Scheme: "Bearer", Challenge: `Bearer error="invalid_token"`, Err: fmt.Errorf("%w: %w", authn.ErrInvalidCredentials, authn.ErrUnavailable),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			opts, _ := newOptions(t)
			opts.Authenticators = []authn.Authenticator{challengingAuth{err: tc.err, challenge: `Bearer realm="kms"`}}
			opts.ExtraChallenges = []string{`Basic realm="kms"`}
			h, err := New(t.Context(), opts)
			require.NoError(t, err)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/elastic-keys", nil))
			require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), `"code":"unavailable"`)
			assert.Equal(t, "5", w.Header().Get("Retry-After"))
			assert.Empty(t, w.Header().Values("WWW-Authenticate"))
		})
	}
}

// TestServedSpecSecuritySchemes: the served openapi.yaml offers every way
// to authenticate, as alternatives, so Swagger UI's Authorize dialog has a
// field for each.
func TestServedSpecSecuritySchemes(t *testing.T) {
	_, h, _ := newHandlers(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.yaml", nil))
	require.Equal(t, http.StatusOK, w.Code)
	doc, err := openapi3.NewLoader().LoadFromData(w.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))

	schemes := doc.Components.SecuritySchemes
	type want struct{ typ, scheme, format, in, name string }
	tests := []struct {
		desc string
		name string
		want want
	}{
		{desc: "HTTP Basic", name: "basicAuth", want: want{typ: "http", scheme: "basic"}},
		{desc: "Bearer JWT", name: "bearerAuth", want: want{typ: "http", scheme: "bearer", format: "JWT"}},
		{desc: "API key header", name: "apiKeyAuth", want: want{typ: "apiKey", in: "header", name: "X-API-Key"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ref, ok := schemes[tc.name]
			require.True(t, ok, "components.securitySchemes.%s", tc.name)
			s := ref.Value
			assert.Equal(t, tc.want, want{typ: s.Type, scheme: s.Scheme, format: s.BearerFormat, in: s.In, name: s.Name})
		})
	}
	// Alternatives: one requirement per scheme, any of which suffices.
	var alternatives []string
	for _, req := range doc.Security {
		require.Len(t, req, 1, "each requirement names one scheme")
		for name := range req {
			alternatives = append(alternatives, name)
		}
	}
	assert.ElementsMatch(t, []string{"basicAuth", "bearerAuth", "apiKeyAuth"}, alternatives)
	// OpenAPI 3.0 has no mutualTLS scheme type; the description documents it.
	assert.Contains(t, doc.Info.Description, "mutual TLS")
}
