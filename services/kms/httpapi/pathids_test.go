package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestPathIDsAreCanonical: ids in paths take only the canonical lowercase
// 8-4-4-4-12 form; braces, URNs, bare hex and uppercase are refused with
// invalid_request, the operation does not run, and the refusal is audited
// under the key id the request named.
func TestPathIDsAreCanonical(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		admin := demoCaller(t, k, 0, "admin")
		w := demoCaller(t, k, 0, "writer")
		reader := demoCaller(t, k, 0, "reader")
		id := createKey(t, k, admin, "A256GCM")
		mid := firstVersion(t, k, admin, id)
		forms := []struct {
			desc string
			of   func(string) string
		}{
			{desc: "braces", of: func(s string) string { return "{" + s + "}" }},
			{desc: "urn", of: func(s string) string { return "urn:uuid:" + s }},
			{desc: "no hyphens", of: func(s string) string { return strings.ReplaceAll(s, "-", "") }},
			{desc: "uppercase", of: strings.ToUpper},
		}
		audited := func(t *testing.T, code string) map[string]any {
			t.Helper()
			r := do(t, k, admin, http.MethodGet, "/api/v1/audit-events?page_size=200&elastic_key_id="+id, nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			items := r.json(t)["items"].([]any)
			require.NotEmpty(t, items)
			last := items[len(items)-1].(map[string]any)
			assert.Equal(t, code, last["error_code"], "%v", last)
			assert.Equal(t, id, last["elastic_key_id"])
			return last
		}
		for _, f := range forms {
			t.Run(f.desc, func(t *testing.T) {
				tests := []struct {
					desc   string
					who    caller
					method string
					path   string
					body   any
					status int
					code   string
				}{
					{desc: "get key", who: admin, method: http.MethodGet, path: keyPath(f.of(id), ""), status: 400, code: "invalid_request"},
					{desc: "encrypt", who: w, method: http.MethodPost, path: keyPath(f.of(id), "/encrypt"), body: map[string]any{"plaintext": b64("x")}, status: 400, code: "invalid_request"},
					{desc: "disable", who: admin, method: http.MethodPatch, path: keyPath(f.of(id), ""), body: map[string]any{"status": "disabled"}, status: 400, code: "invalid_request"},
					{desc: "version id", who: admin, method: http.MethodGet, path: keyPath(id, "/material-keys/"+f.of(mid)), status: 400, code: "invalid_request"},
					{desc: "encrypt without the scope", who: reader, method: http.MethodPost, path: keyPath(f.of(id), "/encrypt"), body: map[string]any{"plaintext": b64("x")}, status: 403, code: "forbidden"},
				}
				for _, tc := range tests {
					t.Run(tc.desc, func(t *testing.T) {
						r := do(t, k, tc.who, tc.method, tc.path, tc.body)
						require.Equal(t, tc.status, r.status, "%s", r.body)
						assert.Equal(t, tc.code, r.str(t, "code"))
						audited(t, tc.code)
					})
				}
			})
		}
		r := do(t, k, admin, http.MethodGet, keyPath(id, ""), nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "enabled", r.str(t, "status"), "the key is untouched")
	})
}
