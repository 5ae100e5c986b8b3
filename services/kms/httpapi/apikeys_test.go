package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestAPIKeyLifecycle: an admin creates a key (shown once), the key works
// within its scopes, lists and reads never show the secret, every call is
// audited with the key as client, and a revoked key is refused.
func TestAPIKeyLifecycle(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		admin := demoCaller(t, k, 0, "admin")
		aes := k.Key(t, 0, "A256GCM").ID
		expires := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)

		created := do(t, k, admin, http.MethodPost, apiKeysPath, map[string]any{
			"name": "batch job", "scopes": []string{"kms:encrypt", "kms:keys:read"}, "expires_at": expires.Format(time.RFC3339),
		})
		require.Equal(t, http.StatusCreated, created.status, "%s", created.body)
		body := created.json(t)
		id, key := created.str(t, "id"), created.str(t, "key")
		assert.Equal(t, apiKeysPath+"/"+id, created.header.Get("Location"))
		assert.Regexp(t, `^pk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$`, key)
		assert.Equal(t, "batch job", body["name"])
		assert.Equal(t, []any{"kms:encrypt", "kms:keys:read"}, body["scopes"])
		assert.Equal(t, expires.Format(time.RFC3339), body["expires_at"])
		assert.NotEmpty(t, body["created_at"])
		assert.NotContains(t, body, "revoked_at")
		secret := key[len(key)-43:]

		user := caller{name: "api key", apiKey: key}
		r := do(t, k, user, http.MethodGet, keyPath(aes, ""), nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = do(t, k, user, http.MethodPost, keyPath(aes, "/encrypt"), map[string]any{"plaintext": b64("from a job")})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = do(t, k, user, http.MethodPost, keyPath(aes, "/decrypt"), map[string]any{"ciphertext": r.str(t, "ciphertext")})
		require.Equal(t, http.StatusForbidden, r.status, "decrypt was not granted: %s", r.body)
		assert.Equal(t, "forbidden", r.str(t, "code"))
		assert.Empty(t, r.header.Values("WWW-Authenticate"), "no challenge for a key lacking a scope")

		// Reads never show the secret.
		for _, path := range []string{apiKeysPath, apiKeysPath + "/" + id} {
			r := do(t, k, admin, http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.NotContains(t, string(r.body), secret, path)
			assert.NotContains(t, string(r.body), `"key"`, path)
			assert.Contains(t, string(r.body), id, path)
		}

		// The audit trail names the key as subject, method and client.
		audit := do(t, k, admin, http.MethodGet, "/api/v1/audit-events?page_size=200", nil)
		require.Equal(t, http.StatusOK, audit.status)
		assert.NotContains(t, string(audit.body), secret)
		var byKey, creations []map[string]any
		for _, it := range audit.json(t)["items"].([]any) {
			ev := it.(map[string]any)
			if ev["client_id"] == id {
				byKey = append(byKey, ev)
			}
			if ev["operation"] == "create_api_key" && ev["target"] == id {
				creations = append(creations, ev)
			}
		}
		require.Len(t, creations, 1, "the creation is audited with the key as target")
		assert.Equal(t, "basic", creations[0]["method"])
		require.NotEmpty(t, byKey)
		for _, ev := range byKey {
			assert.Equal(t, "api-key:"+id, ev["principal"])
			assert.Equal(t, "api_key", ev["method"])
		}

		// Revoked: refused from now on, still listed with revoked_at.
		r = do(t, k, admin, http.MethodDelete, apiKeysPath+"/"+id, nil)
		require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
		r = do(t, k, user, http.MethodGet, keyPath(aes, ""), nil)
		require.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
		assert.Equal(t, "unauthenticated", r.str(t, "code"))
		got := do(t, k, admin, http.MethodGet, apiKeysPath+"/"+id, nil)
		require.Equal(t, http.StatusOK, got.status)
		revokedAt := got.str(t, "revoked_at")
		r = do(t, k, admin, http.MethodDelete, apiKeysPath+"/"+id, nil)
		require.Equal(t, http.StatusNoContent, r.status, "revoking again is harmless")
		assert.Equal(t, revokedAt, do(t, k, admin, http.MethodGet, apiKeysPath+"/"+id, nil).str(t, "revoked_at"), "the first revocation time stays")
	})
}

// TestAPIKeyRefusals: bad requests to create a key get the documented
// problem and store nothing; a wrong or made-up key is a 401 like any
// other bad credential.
func TestAPIKeyRefusals(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	admin := demoCaller(t, k, 0, "admin")
	_, good := createAPIKey(t, k, admin, "kms:read")
	before := do(t, k, admin, http.MethodGet, apiKeysPath+"?page_size=200", nil)
	require.Equal(t, http.StatusOK, before.status)
	tests := []struct {
		desc   string
		body   map[string]any
		status int
		code   string
		detail string
	}{
		{desc: "unknown scope", body: map[string]any{"name": "k", "scopes": []string{"kms:everything"}}, status: 400, code: "invalid_request", detail: `unknown scope \"kms:everything\"`},
		{desc: "no scopes", body: map[string]any{"name": "k", "scopes": []string{}}, status: 400, code: "invalid_request"},
		{desc: "name with a line break", body: map[string]any{"name": "a\nb", "scopes": []string{"kms:read"}}, status: 400, code: "invalid_request", detail: "invalid api key name"},
		{desc: "empty name", body: map[string]any{"name": "", "scopes": []string{"kms:read"}}, status: 400, code: "invalid_request"},
		{desc: "expiry in the past", body: map[string]any{"name": "k", "scopes": []string{"kms:read"}, "expires_at": "2001-01-01T00:00:00Z"}, status: 400, code: "invalid_request", detail: "expires_at must be in the future"},
		{desc: "expiry not a date", body: map[string]any{"name": "k", "scopes": []string{"kms:read"}, "expires_at": "tomorrow"}, status: 400, code: "invalid_request"},
		{desc: "unknown field", body: map[string]any{"name": "k", "scopes": []string{"kms:read"}, "key": "pk_mine"}, status: 400, code: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := do(t, k, admin, http.MethodPost, apiKeysPath, tc.body)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			assert.Equal(t, tc.code, r.str(t, "code"))
			assert.Contains(t, string(r.body), tc.detail)
		})
	}
	after := do(t, k, admin, http.MethodGet, apiKeysPath+"?page_size=200", nil)
	assert.Equal(t, before.body, after.body, "a refused request stores nothing")

	for _, bad := range []string{"pk_nonsense", good[:len(good)-2] + "xx", "Bearer " + good} {
		r := do(t, k, caller{name: "bad key", apiKey: bad}, http.MethodGet, keysPath, nil)
		require.Equal(t, http.StatusUnauthorized, r.status, "%q: %s", bad, r.body)
		assert.Equal(t, "invalid credentials", r.str(t, "detail"), "one answer for every bad key")
		assert.Equal(t, []string{`Basic realm="kms", charset="UTF-8"`}, r.header.Values("WWW-Authenticate"), "an API key has no challenge scheme; no issuer is trusted here")
	}
}

// TestAPIKeysPerTenant: a key of tenant A sees and changes only tenant A's
// keys, API keys included; another tenant's key ids are not found.
func TestAPIKeysPerTenant(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		adminA, adminB := demoCaller(t, k, 0, "admin"), demoCaller(t, k, 1, "admin")
		idA, keyA := createAPIKey(t, k, adminA, "kms:admin")
		idB, keyB := createAPIKey(t, k, adminB, "kms:read")
		asA := caller{name: "tenant A key", apiKey: keyA}

		list := do(t, k, asA, http.MethodGet, apiKeysPath+"?page_size=200", nil)
		require.Equal(t, http.StatusOK, list.status, "%s", list.body)
		assert.Contains(t, string(list.body), idA)
		assert.NotContains(t, string(list.body), idB)
		for _, path := range []string{apiKeysPath + "/" + idB} {
			for _, method := range []string{http.MethodGet, http.MethodDelete} {
				r := do(t, k, asA, method, path, nil)
				require.Equal(t, http.StatusNotFound, r.status, "%s %s: %s", method, path, r.body)
				assert.Equal(t, "not_found", r.str(t, "code"))
			}
		}
		r := do(t, k, asA, http.MethodGet, keyPath(k.Key(t, 1, "A256GCM").ID, ""), nil)
		require.Equal(t, http.StatusNotFound, r.status, "another tenant's elastic key")
		// B's key still works, in B's tenant only.
		r = do(t, k, caller{name: "tenant B key", apiKey: keyB}, http.MethodGet, keyPath(k.Key(t, 1, "A256GCM").ID, ""), nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		// A key created with A's key belongs to A.
		created := do(t, k, asA, http.MethodPost, apiKeysPath, map[string]any{"name": factory.Name("api key"), "scopes": []string{"kms:read"}})
		require.Equal(t, http.StatusCreated, created.status, "%s", created.body)
		r = do(t, k, adminB, http.MethodGet, apiKeysPath+"/"+created.str(t, "id"), nil)
		require.Equal(t, http.StatusNotFound, r.status)
		r = do(t, k, adminA, http.MethodGet, apiKeysPath+"/"+created.str(t, "id"), nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "api-key:"+idA, r.str(t, "created_by"))
	})
}
