package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestTenantIsolation: tenant B's users get 404 for every key and user of
// tenant A, through the real router, and list only their own.
func TestTenantIsolation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		adminA := demoCaller(t, k, 0, "admin")
		adminB := demoCaller(t, k, 1, "admin")
		keyA := k.Key(t, 0, "ES256").ID
		midA := firstVersion(t, k, adminA, keyA)
		encA := k.Key(t, 0, "A256GCM").ID
		ct := do(t, k, adminA, "POST", keyPath(encA, "/encrypt"), map[string]any{"plaintext": b64("a's secret")}).str(t, "ciphertext")
		userA := createUser(t, k, adminA)

		tests := []struct {
			desc   string
			method string
			path   string
			body   any
		}{
			{desc: "get key", method: "GET", path: keyPath(keyA, "")},
			{desc: "update key", method: "PATCH", path: keyPath(keyA, ""), body: map[string]any{"description": "mine now"}},
			{desc: "destroy key", method: "DELETE", path: keyPath(keyA, "")},
			{desc: "rotate", method: "POST", path: keyPath(keyA, "/material-keys")},
			{desc: "list versions", method: "GET", path: keyPath(keyA, "/material-keys")},
			{desc: "get version", method: "GET", path: keyPath(keyA, "/material-keys/"+midA)},
			{desc: "update version", method: "PATCH", path: keyPath(keyA, "/material-keys/"+midA), body: map[string]any{"status": "destroyed"}},
			{desc: "sign", method: "POST", path: keyPath(keyA, "/sign"), body: map[string]any{"payload": b64("x")}},
			{desc: "jwks", method: "GET", path: keyPath(keyA, "/jwks")},
			{desc: "decrypt", method: "POST", path: keyPath(encA, "/decrypt"), body: map[string]any{"ciphertext": ct}},
			{desc: "encrypt", method: "POST", path: keyPath(encA, "/encrypt"), body: map[string]any{"plaintext": b64("x")}},
			{desc: "get user", method: "GET", path: "/api/v1/admin/realm-users/" + userA},
			{desc: "update user", method: "PATCH", path: "/api/v1/admin/realm-users/" + userA, body: map[string]any{"enabled": false}},
			{desc: "delete user", method: "DELETE", path: "/api/v1/admin/realm-users/" + userA},
			{desc: "set password", method: "PUT", path: "/api/v1/admin/realm-users/" + userA + "/password", body: map[string]any{"password": "hijacked-pass"}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				r := do(t, k, adminB, tc.method, tc.path, tc.body)
				require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
				assert.Equal(t, "not_found", r.str(t, "code"))
			})
		}
		// Nothing of A changed.
		r := do(t, k, adminA, "GET", keyPath(keyA, ""), nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "enabled", r.str(t, "status"))
		r = do(t, k, adminA, "POST", keyPath(encA, "/decrypt"), map[string]any{"ciphertext": ct})
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, b64("a's secret"), r.str(t, "plaintext"))

		// Lists are per tenant.
		listB := do(t, k, adminB, "GET", "/api/v1/elastic-keys?page_size=200", nil).json(t)["items"].([]any)
		for _, it := range listB {
			id := it.(map[string]any)["id"].(string)
			_, err := k.Tenant(t, 1).KeyByAlgorithm(it.(map[string]any)["algorithm"].(string))
			require.NoError(t, err)
			assert.NotEqual(t, keyA, id)
		}
		usersB := do(t, k, adminB, "GET", "/api/v1/admin/realm-users", nil).json(t)["items"].([]any)
		for _, u := range usersB {
			assert.Equal(t, k.Tenant(t, 1).ID, u.(map[string]any)["tenant_id"])
		}
		auditB := do(t, k, adminB, "GET", "/api/v1/audit-events?page_size=200", nil).json(t)["items"].([]any)
		for _, ev := range auditB {
			assert.Equal(t, k.Tenant(t, 1).ID, ev.(map[string]any)["tenant_id"])
		}
	})
}

// TestRequestErrors: malformed, invalid, oversized and wrongly typed
// requests get the documented problem+json and change nothing.
func TestRequestErrors(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	w := demoCaller(t, k, 0, "writer")
	enc := k.Key(t, 0, "A256GCM").ID
	sig := k.Key(t, 0, "ES256").ID
	big := `{"plaintext":"` + strings.Repeat("A", 3<<19) + `"}`
	tests := []struct {
		desc   string
		method string
		path   string
		body   any
		ct     string
		status int
		code   string
		detail string
	}{
		{desc: "malformed JSON", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":`, status: 400, code: "malformed_json"},
		{desc: "trailing data", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"aGk="} {}`, status: 400, code: "malformed_json"},
		{desc: "unknown field", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"aGk=","extra":1}`, status: 400, code: "invalid_request"},
		{desc: "missing field", method: "POST", path: keyPath(enc, "/encrypt"), body: `{}`, status: 400, code: "invalid_request"},
		{desc: "wrong type", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":5}`, status: 400, code: "invalid_request"},
		{desc: "bad base64", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"!!!"}`, status: 400, code: "invalid_request"},
		// Both decode as something, just not as the standard base64 the
		// field takes: refused as invalid, naming the field.
		{desc: "base64url", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"-_-_"}`, status: 400, code: "invalid_request", detail: "/plaintext"},
		{desc: "unpadded base64", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"aGk"}`, status: 400, code: "invalid_request", detail: "/plaintext"},
		{desc: "unknown algorithm", method: "POST", path: "/api/v1/elastic-keys", body: `{"name":"x","algorithm":"A128GCM"}`, status: 400, code: "invalid_request"},
		{desc: "empty name", method: "POST", path: "/api/v1/elastic-keys", body: `{"name":"","algorithm":"A256GCM"}`, status: 400, code: "invalid_request"},
		{desc: "oversized body", method: "POST", path: keyPath(enc, "/encrypt"), body: big, status: 413, code: "payload_too_large"},
		{desc: "wrong content type", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"aGk="}`, ct: "text/plain", status: 415, code: "unsupported_media_type"},
		{desc: "non utf-8 charset", method: "POST", path: keyPath(enc, "/encrypt"), body: `{"plaintext":"aGk="}`, ct: "application/json; charset=latin1", status: 415, code: "unsupported_media_type"},
		{desc: "bad key id", method: "GET", path: keyPath("not-a-uuid", ""), status: 400, code: "invalid_request"},
		{desc: "unknown key", method: "GET", path: keyPath(uuid.Must(uuid.NewV7()).String(), ""), status: 404, code: "not_found"},
		{desc: "page size too big", method: "GET", path: "/api/v1/elastic-keys?page_size=1000", status: 400, code: "invalid_request"},
		{desc: "bad page token", method: "GET", path: "/api/v1/elastic-keys?page_token=xyz", status: 400, code: "invalid_request"},
		{desc: "bad status filter", method: "GET", path: "/api/v1/elastic-keys?status=weird", status: 400, code: "invalid_request"},
		{desc: "wrong purpose", method: "POST", path: keyPath(enc, "/sign"), body: map[string]any{"payload": b64("x")}, status: 400, code: "wrong_purpose"},
		{desc: "malformed ciphertext", method: "POST", path: keyPath(enc, "/decrypt"), body: map[string]any{"ciphertext": "a.b.c"}, status: 400, code: "malformed_ciphertext"},
		{desc: "malformed signature", method: "POST", path: keyPath(sig, "/verify"), body: map[string]any{"signature": "nope"}, status: 400, code: "malformed_signature"},
		{desc: "mac with a signing key", method: "POST", path: keyPath(sig, "/mac"), body: map[string]any{"payload": b64("x")}, status: 400, code: "wrong_purpose"},
		{desc: "verify-mac garbage", method: "POST", path: keyPath(sig, "/verify-mac"), body: map[string]any{"signature": "a.b"}, status: 400},
		{desc: "data key from a signing key", method: "POST", path: keyPath(sig, "/generate-data-key"), body: map[string]any{}, status: 400, code: "wrong_purpose"},
		{desc: "encrypt unknown key", method: "POST", path: keyPath(uuid.Must(uuid.NewV7()).String(), "/encrypt"), body: map[string]any{"plaintext": b64("x")}, status: 404, code: "not_found"},
		{desc: "rotate unknown key", method: "POST", path: keyPath(uuid.Must(uuid.NewV7()).String(), "/material-keys"), status: 404, code: "not_found"},
		{desc: "version status invalid", method: "PATCH", path: keyPath(enc, "/material-keys/"+uuid.Must(uuid.NewV7()).String()), body: map[string]any{"status": "gone"}, status: 400, code: "invalid_request"},
		{desc: "unknown version", method: "PATCH", path: keyPath(enc, "/material-keys/"+uuid.Must(uuid.NewV7()).String()), body: map[string]any{"status": "disabled"}, status: 404, code: "not_found"},
		{desc: "audit needs admin", method: "GET", path: "/api/v1/audit-events", status: 403, code: "forbidden"},
		{desc: "destroy via patch refused", method: "PATCH", path: keyPath(enc, ""), body: map[string]any{"status": "destroyed"}, status: 400, code: "invalid_request"},
		{desc: "empty patch", method: "PATCH", path: keyPath(enc, ""), body: map[string]any{}, status: 400, code: "invalid_request"},
		{desc: "unknown route", method: "GET", path: "/api/v1/nothing", status: 404, code: "not_found"},
		{desc: "method not allowed", method: "PUT", path: "/api/v1/elastic-keys", status: 405, code: "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ct := tc.ct
			if ct == "" {
				ct = "application/json"
			}
			r := doCT(t, k, w, tc.method, tc.path, tc.body, ct)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			p := r.json(t)
			assert.EqualValues(t, tc.status, p["status"])
			if tc.code != "" {
				assert.Equal(t, tc.code, p["code"])
			}
			assert.Contains(t, p["detail"], tc.detail)
		})
	}
	admin := demoCaller(t, k, 0, "admin")
	for _, path := range []string{"/api/v1/audit-events?page_token=zz", "/api/v1/admin/realm-users?page_token=zz", keyPath(enc, "/material-keys?page_token=zz")} {
		r := do(t, k, admin, "GET", path, nil)
		assert.Equal(t, 400, r.status, path)
	}
	filters := []struct {
		query string
		want  int
	}{
		{query: "purpose=mac", want: 1},
		{query: "status=enabled&algorithm=ES384", want: 1},
		{query: "name_prefix=demo-rsa", want: 1},
		{query: "status=destroyed", want: 0},
	}
	for _, f := range filters {
		r := do(t, k, admin, "GET", "/api/v1/elastic-keys?"+f.query, nil)
		require.Equal(t, 200, r.status)
		assert.Len(t, r.json(t)["items"], f.want, f.query)
	}
	// The key is untouched by all of that.
	r := do(t, k, w, "GET", keyPath(enc, ""), nil)
	assert.Equal(t, "enabled", r.str(t, "status"))
}

// TestJWSVerifiesWithOtherLibrary: every JWS the API returns verifies with
// golang-jwt using only the published JWKS.
func TestJWSVerifiesWithOtherLibrary(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		w := demoCaller(t, k, 0, "writer")
		for _, alg := range []string{"ES256", "ES384", "EdDSA", "RS256", "PS256"} {
			t.Run(alg, func(t *testing.T) {
				id := k.Key(t, 0, alg).ID
				// Two versions, so kid selection matters.
				require.Equal(t, 201, do(t, k, w, "POST", keyPath(id, "/material-keys"), nil).status)
				claims := fmt.Sprintf(`{"sub":"s","iat":%d}`, time.Now().Unix())
				s := do(t, k, w, "POST", keyPath(id, "/sign"), map[string]any{"payload": b64(claims)})
				require.Equal(t, 200, s.status, "%s", s.body)
				jwksResp := do(t, k, w, "GET", keyPath(id, "/jwks"), nil)
				require.Equal(t, 200, jwksResp.status)
				var set jose.JSONWebKeySet
				require.NoError(t, json.Unmarshal(jwksResp.body, &set))
				require.Len(t, set.Keys, 2)
				tok, err := jwt.Parse(s.str(t, "signature"), func(tok *jwt.Token) (any, error) {
					kid, _ := tok.Header["kid"].(string)
					keys := set.Key(kid)
					if len(keys) != 1 {
						return nil, fmt.Errorf("kid %q not in JWKS", kid)
					}
					return keys[0].Key, nil
				}, jwt.WithValidMethods([]string{alg}))
				require.NoError(t, err)
				assert.True(t, tok.Valid)
				assert.Equal(t, s.str(t, "kid"), tok.Header["kid"])
			})
		}
	})
}

// TestRotationThroughAPI: old versions decrypt and verify after rotation, a
// disabled version refuses, a destroyed key never decrypts again.
func TestRotationThroughAPI(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		w := demoCaller(t, k, 0, "writer")
		id := createKey(t, k, w, "RSA-OAEP-256")
		sigID := createKey(t, k, w, "PS256")
		enc := func(s string) response {
			return do(t, k, w, "POST", keyPath(id, "/encrypt"), map[string]any{"plaintext": b64(s), "context": b64("c")})
		}
		dec := func(c string) response {
			return do(t, k, w, "POST", keyPath(id, "/decrypt"), map[string]any{"ciphertext": c, "context": b64("c")})
		}
		c1 := enc("one")
		s1 := do(t, k, w, "POST", keyPath(sigID, "/sign"), map[string]any{"payload": b64("one")})
		rot := do(t, k, w, "POST", keyPath(id, "/material-keys"), nil)
		require.Equal(t, 201, rot.status)
		assert.Equal(t, keyPath(id, "/material-keys/"+rot.str(t, "id")), rot.header.Get("Location"))
		require.Equal(t, 201, do(t, k, w, "POST", keyPath(sigID, "/material-keys"), nil).status)
		c2 := enc("two")
		assert.NotEqual(t, c1.str(t, "kid"), c2.str(t, "kid"))
		assert.Equal(t, rot.str(t, "kid"), c2.str(t, "kid"))
		assert.Equal(t, b64("one"), dec(c1.str(t, "ciphertext")).str(t, "plaintext"))
		v := do(t, k, w, "POST", keyPath(sigID, "/verify"), map[string]any{"signature": s1.str(t, "signature")})
		require.Equal(t, 200, v.status)
		assert.Equal(t, true, v.json(t)["valid"])

		r := do(t, k, w, "PATCH", keyPath(id, "/material-keys/"+c1.str(t, "kid")), map[string]any{"status": "disabled"})
		require.Equal(t, 200, r.status, "%s", r.body)
		r = dec(c1.str(t, "ciphertext"))
		require.Equal(t, 409, r.status)
		assert.Equal(t, "version_disabled", r.str(t, "code"))
		assert.Equal(t, 200, dec(c2.str(t, "ciphertext")).status)

		r = do(t, k, w, "POST", keyPath(id, "/decrypt"), map[string]any{"ciphertext": c2.str(t, "ciphertext")})
		assert.Equal(t, "context_mismatch", r.str(t, "code"))
		parts := strings.Split(c2.str(t, "ciphertext"), ".")
		parts[3] = strings.Repeat("A", len(parts[3]))
		r = dec(strings.Join(parts, "."))
		assert.Equal(t, 400, r.status)
		assert.Equal(t, "decryption_failed", r.str(t, "code"))

		r = do(t, k, w, "DELETE", keyPath(id, ""), nil)
		require.Equal(t, 200, r.status)
		assert.Equal(t, "destroyed", r.str(t, "status"))
		for _, c := range []response{c1, c2} {
			r = dec(c.str(t, "ciphertext"))
			require.Equal(t, 410, r.status)
			assert.Equal(t, "key_destroyed", r.str(t, "code"))
		}
		r = enc("three")
		assert.Equal(t, 410, r.status)
		r = do(t, k, w, "GET", keyPath(id, ""), nil)
		assert.Equal(t, 200, r.status, "metadata survives destruction")

		fixed := factory.ElasticKey("HS256")
		no := false
		fixed.VersioningAllowed = &no
		created := do(t, k, w, "POST", "/api/v1/elastic-keys", fixed)
		r = do(t, k, w, "POST", keyPath(created.str(t, "id"), "/material-keys"), nil)
		assert.Equal(t, 409, r.status)
		assert.Equal(t, "versioning_not_allowed", r.str(t, "code"))
	})
}

// TestGeneratedClient drives the API with the generated Go client, as the
// scenarios do.
func TestGeneratedClient(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	c := k.APIAs(t, 0, "writer")
	ctx := t.Context()
	created, err := c.CreateElasticKeyWithResponse(ctx, factory.ElasticKey("ECDH-ES+A256KW"))
	require.NoError(t, err)
	require.Equal(t, 201, created.StatusCode(), "%s", created.Body)
	key := created.JSON201
	assert.Equal(t, api.Purpose("encrypt"), key.Purpose)
	assert.Equal(t, "/api/v1/elastic-keys/"+key.Id.String(), created.HTTPResponse.Header.Get("Location"))

	encCtx := []byte("order-42")
	enc, err := c.EncryptWithResponse(ctx, key.Id, api.EncryptRequest{Plaintext: []byte("hello"), Context: &encCtx})
	require.NoError(t, err)
	require.Equal(t, 200, enc.StatusCode())
	assert.Len(t, strings.Split(enc.JSON200.Ciphertext, "."), 5, "compact JWE")
	dec, err := c.DecryptWithResponse(ctx, key.Id, api.DecryptRequest{Ciphertext: enc.JSON200.Ciphertext, Context: &encCtx})
	require.NoError(t, err)
	require.Equal(t, 200, dec.StatusCode())
	assert.Equal(t, "hello", string(dec.JSON200.Plaintext))

	no := false
	dk, err := c.GenerateDataKeyWithResponse(ctx, key.Id, api.GenerateDataKeyRequest{IncludePlaintext: &no})
	require.NoError(t, err)
	require.Equal(t, 200, dk.StatusCode())
	assert.Nil(t, dk.JSON200.Plaintext, "wrapped only")
	back, err := c.DecryptWithResponse(ctx, key.Id, api.DecryptRequest{Ciphertext: dk.JSON200.Ciphertext})
	require.NoError(t, err)
	assert.Len(t, back.JSON200.Plaintext, 32)

	mac := k.Key(t, 0, "HS256")
	macID := uuid.MustParse(mac.ID)
	m, err := c.MacWithResponse(ctx, macID, api.SignRequest{Payload: []byte("data")})
	require.NoError(t, err)
	require.Equal(t, 200, m.StatusCode())
	vm, err := c.VerifyMacWithResponse(ctx, macID, api.VerifyRequest{Signature: m.JSON200.Signature})
	require.NoError(t, err)
	assert.True(t, vm.JSON200.Valid)
	assert.Equal(t, "data", string(*vm.JSON200.Payload))
	tampered := m.JSON200.Signature[:len(m.JSON200.Signature)-3] + "AAA"
	vm, err = c.VerifyMacWithResponse(ctx, macID, api.VerifyRequest{Signature: tampered})
	require.NoError(t, err)
	require.Equal(t, 200, vm.StatusCode())
	assert.False(t, vm.JSON200.Valid)

	alg := api.Algorithm("ECDH-ES+A256KW")
	size := 1
	list, err := c.ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{Algorithm: &alg, PageSize: &size})
	require.NoError(t, err)
	require.Equal(t, 200, list.StatusCode())
	require.Len(t, list.JSON200.Items, 1)
	require.NotEmpty(t, list.JSON200.NextPageToken, "demo key and the new one: two pages")
	list2, err := c.ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{Algorithm: &alg, PageSize: &size, PageToken: &list.JSON200.NextPageToken})
	require.NoError(t, err)
	require.Len(t, list2.JSON200.Items, 1)
	assert.NotEqual(t, list.JSON200.Items[0].Id, list2.JSON200.Items[0].Id)
	assert.Empty(t, list2.JSON200.NextPageToken)

	vs, err := c.ListMaterialKeysWithResponse(ctx, key.Id, nil)
	require.NoError(t, err)
	require.Len(t, vs.JSON200.Items, 1)
	assert.NotNil(t, vs.JSON200.Items[0].PublicJwk, "asymmetric versions carry their public JWK")
	assert.True(t, vs.JSON200.Items[0].Primary)

	admin := k.APIAs(t, 0, "admin")
	events, err := admin.ListAuditEventsWithResponse(ctx, &api.ListAuditEventsParams{ElasticKeyId: &key.Id})
	require.NoError(t, err)
	require.Equal(t, 200, events.StatusCode())
	var ops []string
	for _, e := range events.JSON200.Items {
		ops = append(ops, e.Operation)
		assert.Equal(t, k.User(t, 0, "writer").Username, e.Principal)
		assert.NotNil(t, e.RequestId)
	}
	assert.Equal(t, []string{"create_key", "encrypt", "decrypt", "generate_data_key", "decrypt"}, ops)
	body := string(events.Body)
	assert.NotContains(t, body, "hello", "audit never holds plaintext")
	assert.NotContains(t, body, enc.JSON200.Ciphertext)
}

// TestRealmUsersAdmin covers the admin API: create, use, change password,
// disable, delete; usernames never leak through errors.
func TestRealmUsersAdmin(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		admin := demoCaller(t, k, 0, "admin")
		req := factory.RealmUser("writer")
		req.Email = ptr("new@example.com")
		req.Metadata = &map[string]any{"team": "ops"}
		r := do(t, k, admin, "POST", "/api/v1/admin/realm-users", req)
		require.Equal(t, 201, r.status, "%s", r.body)
		uid := r.str(t, "id")
		assert.Equal(t, "/api/v1/admin/realm-users/"+uid, r.header.Get("Location"))
		assert.Equal(t, k.Tenant(t, 0).ID, r.str(t, "tenant_id"), "created in the admin's tenant")
		assert.Equal(t, "local", r.str(t, "realm"))
		assert.NotContains(t, string(r.body), req.Password)
		u := caller{name: "new", username: req.Username, password: req.Password}
		assert.Equal(t, 201, do(t, k, u, "POST", "/api/v1/elastic-keys", factory.ElasticKey("HS256")).status, "new writer works")

		dup := do(t, k, admin, "POST", "/api/v1/admin/realm-users", req)
		assert.Equal(t, 409, dup.status)
		assert.Equal(t, "user_exists", dup.str(t, "code"))
		badRealm := factory.RealmUser("reader")
		badRealm.Realm = ptr("nope")
		assert.Equal(t, 400, do(t, k, admin, "POST", "/api/v1/admin/realm-users", badRealm).status)
		badRole := factory.RealmUser("boss")
		assert.Equal(t, 400, do(t, k, admin, "POST", "/api/v1/admin/realm-users", badRole).status)

		list := do(t, k, admin, "GET", "/api/v1/admin/realm-users?page_size=1", nil)
		require.Equal(t, 200, list.status)
		assert.NotEmpty(t, list.str(t, "next_page_token"))
		page2 := do(t, k, admin, "GET", "/api/v1/admin/realm-users?page_size=1&page_token="+list.str(t, "next_page_token"), nil)
		require.Equal(t, 200, page2.status)

		r = do(t, k, admin, "PUT", "/api/v1/admin/realm-users/"+uid+"/password", map[string]any{"password": "changed-password"})
		require.Equal(t, 204, r.status)
		old := do(t, k, u, "GET", "/api/v1/elastic-keys", nil)
		assert.Equal(t, 401, old.status)
		u.password = "changed-password"
		assert.Equal(t, 200, do(t, k, u, "GET", "/api/v1/elastic-keys", nil).status)

		r = do(t, k, admin, "PATCH", "/api/v1/admin/realm-users/"+uid, map[string]any{"enabled": false, "roles": []string{"reader"}, "metadata": map[string]any{"x": 1}})
		require.Equal(t, 200, r.status, "%s", r.body)
		disabled := do(t, k, u, "GET", "/api/v1/elastic-keys", nil)
		assert.Equal(t, 401, disabled.status)
		unknown := do(t, k, caller{name: "ghost", username: "ghost-user", password: "changed-password"}, "GET", "/api/v1/elastic-keys", nil)
		wrongPass := do(t, k, caller{name: "wrong", username: k.User(t, 0, "reader").Username, password: "changed-password"}, "GET", "/api/v1/elastic-keys", nil)
		for _, r := range []response{unknown, wrongPass} {
			assert.Equal(t, disabled.status, r.status)
			assert.Equal(t, string(disabled.body), string(r.body), "disabled, unknown and wrong-password users look the same")
			assert.Equal(t, disabled.header.Values("WWW-Authenticate"), r.header.Values("WWW-Authenticate"))
		}

		got := do(t, k, admin, "GET", "/api/v1/admin/realm-users/"+uid, nil)
		assert.Equal(t, false, got.json(t)["enabled"])
		require.Equal(t, 204, do(t, k, admin, "DELETE", "/api/v1/admin/realm-users/"+uid, nil).status)
		assert.Equal(t, 404, do(t, k, admin, "GET", "/api/v1/admin/realm-users/"+uid, nil).status)

		// Every change was audited, with the user as target; never the password.
		audit := do(t, k, admin, "GET", "/api/v1/audit-events?page_size=200", nil)
		require.Equal(t, 200, audit.status)
		var ops []string
		for _, it := range audit.json(t)["items"].([]any) {
			ev := it.(map[string]any)
			if ev["target"] == uid {
				ops = append(ops, ev["operation"].(string))
				assert.Equal(t, admin.username, ev["principal"])
			}
		}
		assert.Equal(t, []string{"create_realm_user", "set_realm_user_password", "update_realm_user", "delete_realm_user"}, ops)
		assert.NotContains(t, string(audit.body), "changed-password")
		assert.Contains(t, string(audit.body), `"error_code":"user_exists"`, "failed changes are audited too")
	})
}

func ptr[T any](v T) *T { return &v }

// TestHealthSpecAndUI: public endpoints need no credentials.
func TestHealthSpecAndUI(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	r := do(t, k, nobody, "GET", "/livez", nil)
	assert.Equal(t, 200, r.status)
	r = do(t, k, nobody, "GET", "/readyz", nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, map[string]any{"database": "ok", "barrier": "ok"}, r.json(t)["checks"])
	r = do(t, k, nobody, "GET", "/api/v1/openapi.yaml", nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, api.SpecYAML, r.body)
	r = do(t, k, nobody, "GET", "/ui/swagger/", nil)
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), "swagger-ui")
	assert.Contains(t, string(r.body), "/api/v1/openapi.yaml")
	assert.NotEmpty(t, r.header.Get("X-Request-Id"))
}

// TestDeniedOperationsAreAudited: a reader's refused encrypt is recorded.
func TestDeniedOperationsAreAudited(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	reader := demoCaller(t, k, 0, "reader")
	id := k.Key(t, 0, "A256GCM").ID
	r := do(t, k, reader, "POST", keyPath(id, "/encrypt"), map[string]any{"plaintext": b64("x")})
	require.Equal(t, 403, r.status)
	admin := k.APIAs(t, 0, "admin")
	keyID := uuid.MustParse(id)
	events, err := admin.ListAuditEventsWithResponse(t.Context(), &api.ListAuditEventsParams{ElasticKeyId: &keyID})
	require.NoError(t, err)
	require.Equal(t, 200, events.StatusCode())
	last := events.JSON200.Items[len(events.JSON200.Items)-1]
	assert.Equal(t, "encrypt", last.Operation)
	assert.Equal(t, api.AuditEventOutcome("failure"), last.Outcome)
	assert.Equal(t, "forbidden", *last.ErrorCode)
	assert.Equal(t, reader.username, last.Principal)
}
