package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/testkit/golden"
)

// goldenHeaders are the response headers a client of an error body relies on.
var goldenHeaders = []string{"Content-Type", "X-Content-Type-Options", "Cache-Control", "Pragma"}

// TestGoldenErrorBodies pins the exact bytes the two error writers put on
// the wire (testdata/*.golden; rewrite with -update): every KMS error and
// every Identity OAuth error goes through them, so a change here changes
// what every client parses.
func TestGoldenErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{name: "problem-full", write: func(w http.ResponseWriter) {
			httpx.WriteProblem(w, httpx.Problem{
				Type: "urn:passthru:kms:problem:not_found", Title: "Not Found", Status: http.StatusNotFound,
				Detail: "no such key", Instance: "/api/v1/elastic-keys/0193f3c2-0000-7000-8000-000000000000", Code: "not_found",
			})
		}},
		{name: "problem-defaults", write: func(w http.ResponseWriter) {
			httpx.WriteProblem(w, httpx.Problem{Status: http.StatusTooManyRequests})
		}},
		{name: "problem-status-out-of-range", write: func(w http.ResponseWriter) {
			httpx.WriteProblem(w, httpx.Problem{Status: http.StatusOK, Detail: "a problem is an error"})
		}},
		{name: "problem-json-escaping", write: func(w http.ResponseWriter) {
			httpx.WriteProblem(w, httpx.Problem{Status: http.StatusBadRequest, Detail: `field "a<b>&c" is invalid`, Code: "invalid_request"})
		}},
		{name: "json-unencodable", write: func(w http.ResponseWriter) {
			httpx.WriteJSON(w, http.StatusOK, map[string]any{"f": func() {}})
		}},
		{name: "oauth-invalid-client", write: func(w http.ResponseWriter) {
			httpx.WriteOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		}},
		{name: "oauth-no-description", write: func(w http.ResponseWriter) {
			httpx.WriteOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		}},
		{name: "oauth-description-sanitised", write: func(w http.ResponseWriter) {
			httpx.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", "bad \"redirect_uri\" \\ here\n\u00e9")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			tc.write(rec)
			golden.Assert(t, tc.name+".golden", golden.HTTP(t, rec.Result(), goldenHeaders...))
		})
	}
}
