package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestInvalidUTF8BodyRefused: a body that is not UTF-8 is refused as
// malformed JSON before anything is decoded, on every endpoint with a body;
// encoding/json would otherwise turn each bad byte into U+FFFD, and two
// different names would be stored as one.
func TestInvalidUTF8BodyRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		admin := demoCaller(t, k, 0, "admin")
		enc := createKey(t, k, admin, "A256GCM")
		tests := []struct {
			desc string
			path string
			body string
		}{
			{desc: "key name", path: "/api/v1/elastic-keys", body: "{\"name\":\"utf8-\xff\",\"algorithm\":\"A256GCM\"}"},
			{desc: "key name, other byte", path: "/api/v1/elastic-keys", body: "{\"name\":\"utf8-\xfe\",\"algorithm\":\"A256GCM\"}"},
			{desc: "overlong encoding", path: "/api/v1/elastic-keys", body: "{\"name\":\"utf8-\xc0\xaf\",\"algorithm\":\"A256GCM\"}"},
			{desc: "outside a string", path: keyPath(enc, "/encrypt"), body: "{\"plaintext\":\"aGk=\"}\xff"},
			{desc: "api key name", path: apiKeysPath, body: "{\"name\":\"\xff\",\"scopes\":[\"kms:encrypt\"]}"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				r := do(t, k, admin, http.MethodPost, tc.path, tc.body)
				require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
				assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
				assert.Equal(t, "malformed_json", r.str(t, "code"))
				assert.Contains(t, r.str(t, "detail"), "UTF-8")
			})
		}
		r := do(t, k, admin, http.MethodGet, "/api/v1/elastic-keys?name_prefix="+url.QueryEscape("utf8-"), nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Empty(t, r.json(t)["items"], "nothing was stored")
	})
}
