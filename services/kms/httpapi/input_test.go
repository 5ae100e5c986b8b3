package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/httpapi"
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

// TestEveryPayloadTooLargeIsTheDocumentedProblem: a body over the API limit
// and a body over the transport's own limit (twice as large, answered before
// routing) get the same problem+json, with its code; whether the length is
// declared or not.
func TestEveryPayloadTooLargeIsTheDocumentedProblem(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	w := demoCaller(t, k, 0, "writer")
	enc := keyPath(k.Key(t, 0, "A256GCM").ID, "/encrypt")
	overAPI := `{"plaintext":"` + strings.Repeat("A", httpapi.MaxBodyBytes) + `"}`
	overTransport := `{"plaintext":"` + strings.Repeat("A", 3*httpapi.MaxBodyBytes) + `"}`
	tests := []struct {
		desc string
		body any
	}{
		{desc: "over the API limit, declared", body: overAPI},
		{desc: "over the API limit, chunked", body: &unsizedReader{r: strings.NewReader(overAPI)}},
		{desc: "over the transport limit, declared", body: overTransport},
		{desc: "over the transport limit, chunked", body: &unsizedReader{r: strings.NewReader(overTransport)}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := do(t, k, w, http.MethodPost, enc, tc.body)
			require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", r.body)
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			p := r.json(t)
			assert.Equal(t, "payload_too_large", p["code"])
			assert.Equal(t, "urn:passthru:kms:problem:payload_too_large", p["type"])
			assert.Equal(t, "Request Entity Too Large", p["title"])
			assert.Equal(t, enc, p["instance"])
			assert.Equal(t, fmt.Sprintf("request body exceeds %d bytes", httpapi.MaxBodyBytes), p["detail"])
		})
	}
}

// TestNameLengthCountsCharacters: the spec's maxLength: 255 counts
// characters, and so does the service: 255 two-byte characters are a valid
// key or API key name on every backend, 256 are not.
func TestNameLengthCountsCharacters(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		admin := demoCaller(t, k, 0, "admin")
		fourByte := strings.Repeat("😀", 255)
		tests := []struct {
			desc   string
			name   string
			status int
		}{
			{desc: "255 two-byte characters", name: strings.Repeat("é", 255), status: http.StatusCreated},
			{desc: "255 four-byte characters", name: fourByte, status: http.StatusCreated},
			{desc: "255 ASCII characters", name: strings.Repeat("a", 255), status: http.StatusCreated},
			{desc: "256 two-byte characters", name: strings.Repeat("ü", 256), status: http.StatusBadRequest},
			{desc: "256 ASCII characters", name: strings.Repeat("b", 256), status: http.StatusBadRequest},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				r := do(t, k, admin, http.MethodPost, "/api/v1/elastic-keys", map[string]any{"name": tc.name, "algorithm": "A256GCM"})
				require.Equal(t, tc.status, r.status, "key: %s", r.body)
				if tc.status == http.StatusCreated {
					assert.Equal(t, tc.name, r.str(t, "name"), "stored as sent")
					got := do(t, k, admin, http.MethodGet, "/api/v1/elastic-keys/"+r.str(t, "id"), nil)
					assert.Equal(t, tc.name, got.str(t, "name"))
				} else {
					assert.Equal(t, "invalid_request", r.str(t, "code"))
				}
				r = do(t, k, admin, http.MethodPost, apiKeysPath, map[string]any{"name": tc.name, "scopes": []string{"kms:encrypt"}})
				require.Equal(t, tc.status, r.status, "api key: %s", r.body)
			})
		}
	})
}

// TestBinaryFieldsTakeStandardBase64: every binary (format: byte) field
// takes standard, padded base64 only; base64url or unpadded input is an
// invalid_request naming the field, never malformed_json, and the
// operation does not run.
func TestBinaryFieldsTakeStandardBase64(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	w := demoCaller(t, k, 0, "writer")
	enc := k.Key(t, 0, "A256GCM").ID
	sig := k.Key(t, 0, "ES256").ID
	mac := k.Key(t, 0, "HS256").ID
	ct := do(t, k, w, http.MethodPost, keyPath(enc, "/encrypt"), map[string]any{"plaintext": b64("pt")}).str(t, "ciphertext")
	fields := []struct {
		desc  string
		path  string
		field string
		body  map[string]any
	}{
		{desc: "encrypt plaintext", path: keyPath(enc, "/encrypt"), field: "plaintext", body: map[string]any{}},
		{desc: "encrypt context", path: keyPath(enc, "/encrypt"), field: "context", body: map[string]any{"plaintext": b64("pt")}},
		{desc: "decrypt context", path: keyPath(enc, "/decrypt"), field: "context", body: map[string]any{"ciphertext": ct}},
		{desc: "data key context", path: keyPath(enc, "/generate-data-key"), field: "context", body: map[string]any{}},
		{desc: "sign payload", path: keyPath(sig, "/sign"), field: "payload", body: map[string]any{}},
		{desc: "mac payload", path: keyPath(mac, "/mac"), field: "payload", body: map[string]any{}},
	}
	values := []struct {
		desc  string
		value string
	}{
		{desc: "base64url", value: "-_-_"},
		{desc: "base64url with padding", value: "_w=="},
		{desc: "unpadded", value: "aGk"},
		{desc: "unpadded base64url", value: "_-8"},
	}
	for _, f := range fields {
		for _, v := range values {
			t.Run(f.desc+"/"+v.desc, func(t *testing.T) {
				body := map[string]any{f.field: v.value}
				for name, val := range f.body {
					body[name] = val
				}
				r := do(t, k, w, http.MethodPost, f.path, body)
				require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
				assert.Equal(t, "invalid_request", r.str(t, "code"))
				assert.Contains(t, r.str(t, "detail"), "/"+f.field)
				assert.NotContains(t, string(r.body), "ciphertext\":")
			})
		}
	}
}
