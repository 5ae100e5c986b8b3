package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// endpoint is one operation of the API. prepare (run as the tenant's
// admin) creates what the call needs, so every call starts from fresh state.
type endpoint struct {
	desc string
	// minRole is the least role allowed: reader, writer or admin.
	minRole string
	ok      int
	call    func(t *testing.T, k *fixture.KMS, admin, who caller) response
}

func createKey(t *testing.T, k *fixture.KMS, admin caller, alg string) string {
	t.Helper()
	r := do(t, k, admin, http.MethodPost, "/api/v1/elastic-keys", factory.ElasticKey(alg))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.str(t, "id")
}

func firstVersion(t *testing.T, k *fixture.KMS, admin caller, keyID string) string {
	t.Helper()
	r := do(t, k, admin, http.MethodGet, "/api/v1/elastic-keys/"+keyID+"/material-keys", nil)
	require.Equal(t, http.StatusOK, r.status)
	items := r.json(t)["items"].([]any)
	return items[len(items)-1].(map[string]any)["id"].(string)
}

func createUser(t *testing.T, k *fixture.KMS, admin caller) string {
	t.Helper()
	r := do(t, k, admin, http.MethodPost, "/api/v1/admin/realm-users", factory.RealmUser("reader"))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.str(t, "id")
}

// createAPIKey makes an API key of admin's tenant and returns its id and
// the key to present.
func createAPIKey(t *testing.T, k *fixture.KMS, admin caller, scopes ...string) (id, key string) {
	t.Helper()
	r := do(t, k, admin, http.MethodPost, apiKeysPath, map[string]any{"name": factory.Name("api key"), "scopes": scopes})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.str(t, "id"), r.str(t, "key")
}

const apiKeysPath = "/api/v1/admin/api-keys"

func keyPath(id, suffix string) string { return "/api/v1/elastic-keys/" + id + suffix }

func endpoints(k *fixture.KMS) []endpoint {
	demoKey := func(t *testing.T, alg string) string { return k.Key(t, 0, alg).ID }
	return []endpoint{
		{desc: "create key", minRole: "writer", ok: 201, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", "/api/v1/elastic-keys", factory.ElasticKey("A256GCM"))
		}},
		{desc: "list keys", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", "/api/v1/elastic-keys", nil)
		}},
		{desc: "get key", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", keyPath(demoKey(t, "A256GCM"), ""), nil)
		}},
		{desc: "update key", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "PATCH", keyPath(createKey(t, k, admin, "A256GCM"), ""), map[string]any{"description": "changed"})
		}},
		{desc: "destroy key", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "DELETE", keyPath(createKey(t, k, admin, "A256GCM"), ""), nil)
		}},
		{desc: "rotate key", minRole: "writer", ok: 201, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "POST", keyPath(createKey(t, k, admin, "HS256"), "/material-keys"), nil)
		}},
		{desc: "list versions", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", keyPath(demoKey(t, "ES256"), "/material-keys"), nil)
		}},
		{desc: "get version", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id := demoKey(t, "ES256")
			return do(t, k, who, "GET", keyPath(id, "/material-keys/"+firstVersion(t, k, admin, id)), nil)
		}},
		{desc: "update version", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id := createKey(t, k, admin, "HS256")
			return do(t, k, who, "PATCH", keyPath(id, "/material-keys/"+firstVersion(t, k, admin, id)), map[string]any{"status": "disabled"})
		}},
		{desc: "encrypt", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", keyPath(demoKey(t, "A256GCM"), "/encrypt"), map[string]any{"plaintext": b64("hi")})
		}},
		{desc: "decrypt", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id := demoKey(t, "A256GCM")
			c := do(t, k, admin, "POST", keyPath(id, "/encrypt"), map[string]any{"plaintext": b64("hi")})
			return do(t, k, who, "POST", keyPath(id, "/decrypt"), map[string]any{"ciphertext": c.str(t, "ciphertext")})
		}},
		{desc: "generate data key", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", keyPath(demoKey(t, "A256KW"), "/generate-data-key"), map[string]any{})
		}},
		{desc: "sign", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", keyPath(demoKey(t, "EdDSA"), "/sign"), map[string]any{"payload": b64("hi")})
		}},
		{desc: "verify", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id := demoKey(t, "EdDSA")
			s := do(t, k, admin, "POST", keyPath(id, "/sign"), map[string]any{"payload": b64("hi")})
			return do(t, k, who, "POST", keyPath(id, "/verify"), map[string]any{"signature": s.str(t, "signature")})
		}},
		{desc: "mac", minRole: "writer", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", keyPath(demoKey(t, "HS256"), "/mac"), map[string]any{"payload": b64("hi")})
		}},
		{desc: "verify mac", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id := demoKey(t, "HS256")
			s := do(t, k, admin, "POST", keyPath(id, "/mac"), map[string]any{"payload": b64("hi")})
			return do(t, k, who, "POST", keyPath(id, "/verify-mac"), map[string]any{"signature": s.str(t, "signature")})
		}},
		{desc: "jwks", minRole: "reader", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", keyPath(demoKey(t, "RS256"), "/jwks"), nil)
		}},
		{desc: "audit events", minRole: "admin", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", "/api/v1/audit-events", nil)
		}},
		{desc: "create realm user", minRole: "admin", ok: 201, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", "/api/v1/admin/realm-users", factory.RealmUser("reader"))
		}},
		{desc: "list realm users", minRole: "admin", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", "/api/v1/admin/realm-users", nil)
		}},
		{desc: "get realm user", minRole: "admin", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "GET", "/api/v1/admin/realm-users/"+createUser(t, k, admin), nil)
		}},
		{desc: "update realm user", minRole: "admin", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "PATCH", "/api/v1/admin/realm-users/"+createUser(t, k, admin), map[string]any{"email": "x@example.com"})
		}},
		{desc: "delete realm user", minRole: "admin", ok: 204, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "DELETE", "/api/v1/admin/realm-users/"+createUser(t, k, admin), nil)
		}},
		{desc: "set realm user password", minRole: "admin", ok: 204, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			return do(t, k, who, "PUT", "/api/v1/admin/realm-users/"+createUser(t, k, admin)+"/password", map[string]any{"password": "a-new-password"})
		}},
		{desc: "create api key", minRole: "admin", ok: 201, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "POST", apiKeysPath, map[string]any{"name": factory.Name("api key"), "scopes": []string{"kms:read"}})
		}},
		{desc: "list api keys", minRole: "admin", ok: 200, call: func(t *testing.T, k *fixture.KMS, _, who caller) response {
			return do(t, k, who, "GET", apiKeysPath, nil)
		}},
		{desc: "get api key", minRole: "admin", ok: 200, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id, _ := createAPIKey(t, k, admin, "kms:read")
			return do(t, k, who, "GET", apiKeysPath+"/"+id, nil)
		}},
		{desc: "revoke api key", minRole: "admin", ok: 204, call: func(t *testing.T, k *fixture.KMS, admin, who caller) response {
			id, _ := createAPIKey(t, k, admin, "kms:read")
			return do(t, k, who, "DELETE", apiKeysPath+"/"+id, nil)
		}},
	}
}

var rank = map[string]int{"reader": 1, "writer": 2, "admin": 3, "read-only api key": 1, "admin api key": 3}

// TestAuthorizationMatrix: every endpoint x {no credentials, wrong
// password, reader, writer, admin} through the real router.
func TestAuthorizationMatrix(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		admin := demoCaller(t, k, 0, "admin")
		wrong := caller{name: "wrong password", username: admin.username, password: "not-the-password"}
		_, readKey := createAPIKey(t, k, admin, "kms:read")
		_, adminKey := createAPIKey(t, k, admin, "kms:admin")
		callers := []caller{
			nobody, wrong, demoCaller(t, k, 0, "reader"), demoCaller(t, k, 0, "writer"), admin,
			{name: "read-only api key", apiKey: readKey}, {name: "admin api key", apiKey: adminKey},
		}
		eps := endpoints(k)
		require.Len(t, eps, 28, "every operation of openapi.yaml is in the matrix")
		for _, ep := range eps {
			for _, who := range callers {
				want := ep.ok
				switch {
				case who.anonymous() || who.name == "wrong password":
					want = http.StatusUnauthorized
				case rank[who.name] < rank[ep.minRole]:
					want = http.StatusForbidden
				}
				t.Run(fmt.Sprintf("%s/%s", ep.desc, who.name), func(t *testing.T) {
					r := ep.call(t, k, admin, who)
					require.Equal(t, want, r.status, "body: %s", r.body)
					switch want {
					case http.StatusUnauthorized:
						// A KMS without trusted issuers offers Basic only.
						assert.Equal(t, []string{`Basic realm="kms", charset="UTF-8"`}, r.header.Values("WWW-Authenticate"))
						assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
						assert.Equal(t, "unauthenticated", r.str(t, "code"))
					case http.StatusForbidden:
						assert.Equal(t, "forbidden", r.str(t, "code"))
					}
				})
			}
		}
	})
}
