package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
	"github.com/passthru-dev/passthru/testkit/golden"
)

// unknownKeyID is a well-formed key id no tenant has, so the bodies that
// echo the request path stay the same from run to run.
const unknownKeyID = "0193f3c2-0000-7000-8000-000000000000"

// TestGoldenProblemBodies pins the problem+json answers of representative
// KMS failures, headers included (testdata/problem/*.golden; rewrite with
// -update): clients branch on status, type and code, so any change to them
// must show in review. Both backends must give the same bytes.
func TestGoldenProblemBodies(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		writer, reader := k.User(t, 0, "writer"), k.User(t, 0, "reader")
		aes := k.Key(t, 0, "A256GCM")
		es := k.Key(t, 0, "ES256")
		keyURL := func(id, op string) string { return k.URL + "/api/v1/elastic-keys/" + id + op }

		tests := []struct {
			name, method, url, contentType, body string
			user, password                       string
		}{
			{name: "no-credentials", method: http.MethodGet, url: k.URL + "/api/v1/elastic-keys"},
			{name: "wrong-password", method: http.MethodGet, url: k.URL + "/api/v1/elastic-keys", user: writer.Username, password: writer.Password + "x"},
			{name: "reader-may-not-encrypt", method: http.MethodPost, url: keyURL(aes.ID, "/encrypt"), contentType: "application/json", body: `{"plaintext":"aGk="}`, user: reader.Username, password: reader.Password},
			{name: "unknown-key", method: http.MethodGet, url: keyURL(unknownKeyID, ""), user: writer.Username, password: writer.Password},
			{name: "malformed-key-id", method: http.MethodGet, url: keyURL("not-a-uuid", ""), user: writer.Username, password: writer.Password},
			{name: "malformed-json", method: http.MethodPost, url: keyURL(aes.ID, "/encrypt"), contentType: "application/json", body: `{"plaintext":`, user: writer.Username, password: writer.Password},
			{name: "unknown-field", method: http.MethodPost, url: keyURL(aes.ID, "/encrypt"), contentType: "application/json", body: `{"plaintext":"aGk=","extra":1}`, user: writer.Username, password: writer.Password},
			{name: "unsupported-media-type", method: http.MethodPost, url: keyURL(aes.ID, "/encrypt"), contentType: "text/plain", body: "hi", user: writer.Username, password: writer.Password},
			{name: "method-not-allowed", method: http.MethodPut, url: keyURL(aes.ID, "/encrypt"), user: writer.Username, password: writer.Password},
			{name: "wrong-purpose", method: http.MethodPost, url: keyURL(es.ID, "/encrypt"), contentType: "application/json", body: `{"plaintext":"aGk="}`, user: writer.Username, password: writer.Password},
			{name: "malformed-ciphertext", method: http.MethodPost, url: keyURL(aes.ID, "/decrypt"), contentType: "application/json", body: `{"ciphertext":"a.b"}`, user: writer.Username, password: writer.Password},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.url, strings.NewReader(tc.body))
				require.NoError(t, err)
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				if tc.user != "" {
					req.SetBasicAuth(tc.user, tc.password)
				}
				resp, err := k.Client.Do(req)
				require.NoError(t, err)
				got := golden.HTTP(t, resp, "Content-Type", "WWW-Authenticate", "Allow", "Cache-Control")
				// Key ids of the demo data differ per run; the shape does not.
				got = []byte(strings.NewReplacer(aes.ID, "<aes-key-id>", es.ID, "<es256-key-id>").Replace(string(got)))
				golden.Assert(t, "problem/"+tc.name+".golden", got)
			})
		}
	})
}
