package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity/admin"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// m1Resp is one answer of the KMS.
type m1Resp struct {
	status int
	header http.Header
	body   []byte
}

func (r m1Resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func (r m1Resp) str(t *testing.T, field string) string {
	t.Helper()
	v, ok := r.json(t)[field].(string)
	require.True(t, ok, "field %s in %s", field, r.body)
	return v
}

// m1Do sends one request to the KMS with token as its bearer token (none
// when empty); body, when not nil, is sent as JSON.
func m1Do(t *testing.T, k *fixture.KMS, token, method, path string, body any) m1Resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(fixture.ITContext(t), method, k.URL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := k.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return m1Resp{status: resp.StatusCode, header: resp.Header, body: raw}
}

// m1Tokens gets access tokens from an Identity fixture with the client
// credentials grant (through golang.org/x/oauth2, as an application would)
// and remembers one per client and scope set, so a matrix of hundreds of
// calls asks Identity only a few times.
type m1Tokens struct {
	idp *fixture.Identity

	mu    sync.Mutex
	cache map[string]string
}

func m1NewTokens(idp *fixture.Identity) *m1Tokens {
	return &m1Tokens{idp: idp, cache: map[string]string{}}
}

// get returns a token of client for scopes (all the client's scopes when
// none are named).
func (s *m1Tokens) get(t *testing.T, client demofile.Client, scopes ...string) string {
	t.Helper()
	key := client.ClientID + "\x00" + strings.Join(scopes, " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok, ok := s.cache[key]; ok {
		return tok
	}
	tok := s.idp.ClientToken(t, client, scopes...)
	s.cache[key] = tok
	return tok
}

// m1CreateServiceClient registers a client_credentials client for the KMS
// audience with scopes in tenant n of idp, through Identity's admin API as
// the tenant's demo admin client: the demo clients hold coarse scopes only,
// and the matrix needs tokens with exactly one fine scope.
func m1CreateServiceClient(t *testing.T, idp *fixture.Identity, tokens *m1Tokens, n int, scopes []string) demofile.Client {
	t.Helper()
	adminTok := tokens.get(t, idp.ClientWithPrefix(t, n, "demo-admin"))
	req := factory.IdentityClient(t, demofile.KindService, func(r *admin.CreateClientRequest) { r.Scopes = scopes })
	raw, err := json.Marshal(req)
	require.NoError(t, err)
	hr, err := http.NewRequestWithContext(fixture.ITContext(t), http.MethodPost, idp.URL+admin.Base+"/clients", bytes.NewReader(raw))
	require.NoError(t, err)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := idp.Client.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	var view admin.ClientView
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "create client: %s", body)
	require.NoError(t, json.Unmarshal(body, &view))
	return demofile.Client{ClientID: view.ClientID, ClientSecret: view.ClientSecret, Kind: demofile.KindService}
}

// m1SpecScopes reads every operation of the KMS's OpenAPI document with the
// fine scope it requires (x-required-scope), by operationId.
func m1SpecScopes(t *testing.T) map[string]string {
	t.Helper()
	// The committed YAML, not the generated copy: codegen rewrites the
	// operation ids of the copy it embeds.
	spec, err := openapi3.NewLoader().LoadFromData(api.SpecYAML)
	require.NoError(t, err)
	out := map[string]string{}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			s, _ := op.Extensions["x-required-scope"].(string)
			require.NotEmpty(t, s, "operation %s has no x-required-scope", op.OperationID)
			out[op.OperationID] = s
		}
	}
	return out
}

func m1B64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// m1Cross says how a call by another tenant (with every scope) must end.
type m1Cross int

const (
	// m1CrossNotFound: the call names a resource of tenant A by id: 404.
	m1CrossNotFound m1Cross = iota
	// m1CrossList: a list answers 200 with the caller's own data only.
	m1CrossList
	// m1CrossCreate: a create succeeds in the caller's tenant; tenant A
	// does not see what was created.
	m1CrossCreate
)

// m1Endpoint is one operation of the API as the matrix calls it. call runs
// the operation with token against resources of tenant A that prep (run
// with tenant A's full-scope token) created, so destructive calls get a
// fresh resource each time.
type m1Endpoint struct {
	op     string // operationId in openapi.yaml
	ok     int
	coarse string // the least coarse scope that grants the operation
	cross  m1Cross
	// get, for creates, is the path of the created resource from its id.
	get  func(id string) string
	call func(t *testing.T, token string) m1Resp
}

// m1Env is tenant A's side of the matrix: the KMS, A's full-scope token
// for preparing resources, and the ids of what A holds, which another
// tenant's answers must never contain.
type m1Env struct {
	k      *fixture.KMS
	admin  string // token of tenant A with kms:admin
	tenant int

	mu    sync.Mutex
	marks []string
}

func (e *m1Env) mark(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.marks = append(e.marks, id)
	return id
}

func (e *m1Env) marksSnapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.marks)
}

func m1KeyPath(id, suffix string) string { return "/api/v1/elastic-keys/" + id + suffix }

const m1APIKeysPath = "/api/v1/admin/api-keys"

func (e *m1Env) createKey(t *testing.T, alg string) string {
	t.Helper()
	r := m1Do(t, e.k, e.admin, http.MethodPost, "/api/v1/elastic-keys", factory.ElasticKey(alg))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return e.mark(r.str(t, "id"))
}

func (e *m1Env) firstVersion(t *testing.T, keyID string) string {
	t.Helper()
	r := m1Do(t, e.k, e.admin, http.MethodGet, m1KeyPath(keyID, "/material-keys"), nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	items, _ := r.json(t)["items"].([]any)
	require.NotEmpty(t, items)
	id, _ := items[len(items)-1].(map[string]any)["id"].(string)
	require.NotEmpty(t, id)
	return id
}

func (e *m1Env) createUser(t *testing.T) string {
	t.Helper()
	r := m1Do(t, e.k, e.admin, http.MethodPost, "/api/v1/admin/realm-users", factory.RealmUser("reader"))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return e.mark(r.str(t, "id"))
}

func (e *m1Env) createAPIKey(t *testing.T) string {
	t.Helper()
	r := m1Do(t, e.k, e.admin, http.MethodPost, m1APIKeysPath, map[string]any{"name": factory.Name("api key"), "scopes": []string{"kms:read"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return e.mark(r.str(t, "id"))
}

func (e *m1Env) demoKey(t *testing.T, alg string) string {
	t.Helper()
	return e.k.Key(t, e.tenant, alg).ID
}

func (e *m1Env) endpoints() []m1Endpoint {
	k := e.k
	const (
		read, write, adm = "kms:read", "kms:write", "kms:admin"
		nf, list, create = m1CrossNotFound, m1CrossList, m1CrossCreate
	)
	keyGet := func(id string) string { return m1KeyPath(id, "") }
	userGet := func(id string) string { return "/api/v1/admin/realm-users/" + id }
	apiKeyGet := func(id string) string { return m1APIKeysPath + "/" + id }
	return []m1Endpoint{
		{op: "createElasticKey", ok: 201, coarse: write, cross: create, get: keyGet, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", "/api/v1/elastic-keys", factory.ElasticKey("A256GCM"))
		}},
		{op: "listElasticKeys", ok: 200, coarse: read, cross: list, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", "/api/v1/elastic-keys", nil)
		}},
		{op: "getElasticKey", ok: 200, coarse: read, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", m1KeyPath(e.demoKey(t, "A256GCM"), ""), nil)
		}},
		{op: "updateElasticKey", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "PATCH", m1KeyPath(e.createKey(t, "A256GCM"), ""), map[string]any{"description": "changed"})
		}},
		{op: "destroyElasticKey", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "DELETE", m1KeyPath(e.createKey(t, "A256GCM"), ""), nil)
		}},
		{op: "rotateElasticKey", ok: 201, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", m1KeyPath(e.createKey(t, "HS256"), "/material-keys"), nil)
		}},
		{op: "listMaterialKeys", ok: 200, coarse: read, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", m1KeyPath(e.demoKey(t, "ES256"), "/material-keys"), nil)
		}},
		{op: "getMaterialKey", ok: 200, coarse: read, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			id := e.demoKey(t, "ES256")
			return m1Do(t, k, tok, "GET", m1KeyPath(id, "/material-keys/"+e.firstVersion(t, id)), nil)
		}},
		{op: "updateMaterialKey", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			id := e.createKey(t, "HS256")
			return m1Do(t, k, tok, "PATCH", m1KeyPath(id, "/material-keys/"+e.firstVersion(t, id)), map[string]any{"status": "disabled"})
		}},
		{op: "encrypt", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", m1KeyPath(e.demoKey(t, "A256GCM"), "/encrypt"), map[string]any{"plaintext": m1B64("hi")})
		}},
		{op: "decrypt", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			id := e.demoKey(t, "A256GCM")
			c := m1Do(t, k, e.admin, "POST", m1KeyPath(id, "/encrypt"), map[string]any{"plaintext": m1B64("hi")})
			return m1Do(t, k, tok, "POST", m1KeyPath(id, "/decrypt"), map[string]any{"ciphertext": c.str(t, "ciphertext")})
		}},
		{op: "sign", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", m1KeyPath(e.demoKey(t, "EdDSA"), "/sign"), map[string]any{"payload": m1B64("hi")})
		}},
		{op: "verify", ok: 200, coarse: read, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			id := e.demoKey(t, "EdDSA")
			s := m1Do(t, k, e.admin, "POST", m1KeyPath(id, "/sign"), map[string]any{"payload": m1B64("hi")})
			return m1Do(t, k, tok, "POST", m1KeyPath(id, "/verify"), map[string]any{"signature": s.str(t, "signature")})
		}},
		{op: "mac", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", m1KeyPath(e.demoKey(t, "HS256"), "/mac"), map[string]any{"payload": m1B64("hi")})
		}},
		{op: "verifyMac", ok: 200, coarse: read, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			id := e.demoKey(t, "HS256")
			s := m1Do(t, k, e.admin, "POST", m1KeyPath(id, "/mac"), map[string]any{"payload": m1B64("hi")})
			return m1Do(t, k, tok, "POST", m1KeyPath(id, "/verify-mac"), map[string]any{"signature": s.str(t, "signature")})
		}},
		{op: "generateDataKey", ok: 200, coarse: write, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", m1KeyPath(e.demoKey(t, "A256KW"), "/generate-data-key"), map[string]any{})
		}},
		{op: "getJwks", ok: 200, coarse: read, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", m1KeyPath(e.demoKey(t, "RS256"), "/jwks"), nil)
		}},
		{op: "listAuditEvents", ok: 200, coarse: adm, cross: list, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", "/api/v1/audit-events", nil)
		}},
		{op: "createRealmUser", ok: 201, coarse: adm, cross: create, get: userGet, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", "/api/v1/admin/realm-users", factory.RealmUser("reader"))
		}},
		{op: "listRealmUsers", ok: 200, coarse: adm, cross: list, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", "/api/v1/admin/realm-users", nil)
		}},
		{op: "getRealmUser", ok: 200, coarse: adm, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", "/api/v1/admin/realm-users/"+e.createUser(t), nil)
		}},
		{op: "updateRealmUser", ok: 200, coarse: adm, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "PATCH", "/api/v1/admin/realm-users/"+e.createUser(t), map[string]any{"email": "x@example.com"})
		}},
		{op: "deleteRealmUser", ok: 204, coarse: adm, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "DELETE", "/api/v1/admin/realm-users/"+e.createUser(t), nil)
		}},
		{op: "setRealmUserPassword", ok: 204, coarse: adm, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "PUT", "/api/v1/admin/realm-users/"+e.createUser(t)+"/password", map[string]any{"password": "a-new-password"})
		}},
		{op: "createApiKey", ok: 201, coarse: adm, cross: create, get: apiKeyGet, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "POST", m1APIKeysPath, map[string]any{"name": factory.Name("api key"), "scopes": []string{"kms:read"}})
		}},
		{op: "listApiKeys", ok: 200, coarse: adm, cross: list, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", m1APIKeysPath, nil)
		}},
		{op: "getApiKey", ok: 200, coarse: adm, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "GET", m1APIKeysPath+"/"+e.createAPIKey(t), nil)
		}},
		{op: "revokeApiKey", ok: 204, coarse: adm, cross: nf, call: func(t *testing.T, tok string) m1Resp {
			return m1Do(t, k, tok, "DELETE", m1APIKeysPath+"/"+e.createAPIKey(t), nil)
		}},
	}
}

// m1TierBelow is the coarse scope one tier below c, which must not grant
// what needs c ("" for kms:read, the lowest).
func m1TierBelow(c string) string {
	switch c {
	case "kms:admin":
		return "kms:write"
	case "kms:write":
		return "kms:read"
	}
	return ""
}

// m1Unrelated is a fine scope that grants nothing the operation needs.
func m1Unrelated(required string) string {
	if required == "kms:keys:read" {
		return "kms:encrypt"
	}
	return "kms:keys:read"
}

// m1AssertBearer401 checks a refusal for missing or bad credentials: 401,
// problem+json, and a Bearer challenge (with error, when wantError is set).
func m1AssertBearer401(t *testing.T, r m1Resp, wantError string) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, r.status, "body: %s", r.body)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	want := `Bearer realm="kms"`
	if wantError != "" {
		want += `, error="` + wantError + `"`
	}
	assert.Contains(t, r.header.Values("WWW-Authenticate"), want)
}

// TestBearerEndpointMatrix: every operation of openapi.yaml x {no
// credentials, a token with an unrelated fine scope, a token with only the
// coarse scope one tier too low, a token with exactly the operation's fine
// scope, a token with the least coarse scope granting it, tenant B's
// full-scope token on tenant A's resources}, with real Identity tokens
// through the real KMS router.
func TestBearerEndpointMatrix(t *testing.T) {
	spec := m1SpecScopes(t)
	require.Len(t, spec, 28, "the API has 28 operations: a new one must be added to this matrix")
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		idp, k := fixture.StartSystem(t, b)
		tokens := m1NewTokens(idp)
		// One client of tenant A holding every KMS scope: its tokens ask
		// for exactly the scope a case needs.
		allScopes := []string{
			"kms:admin", "kms:write", "kms:read", "kms:encrypt", "kms:decrypt", "kms:sign", "kms:verify", "kms:mac",
			"kms:generate", "kms:keys:read", "kms:keys:write", "kms:audit:read", "kms:users:admin",
		}
		fine := m1CreateServiceClient(t, idp, tokens, 0, allScopes)
		e := &m1Env{k: k, admin: tokens.get(t, idp.ClientWithPrefix(t, 0, "demo-service")), tenant: 0}
		e.mark(k.Tenant(t, 0).ID)
		for _, key := range k.Tenant(t, 0).Keys {
			e.mark(key.ID)
		}
		other := tokens.get(t, idp.ClientWithPrefix(t, 1, "demo-service"))
		otherEnv := &m1Env{k: k, admin: other, tenant: 1}

		eps := e.endpoints()
		covered := map[string]bool{}
		for _, ep := range eps {
			covered[ep.op] = true
		}
		for op := range spec {
			require.True(t, covered[op], "operation %s of openapi.yaml is not in the matrix", op)
		}
		require.Len(t, eps, len(spec), "every matrix entry is an operation of openapi.yaml")

		for _, ep := range eps {
			required := spec[ep.op]
			t.Run(ep.op, func(t *testing.T) {
				t.Run("no credentials: 401 with a Bearer challenge", func(t *testing.T) {
					r := ep.call(t, "")
					m1AssertBearer401(t, r, "")
					assert.Equal(t, "unauthenticated", r.str(t, "code"))
				})
				forbidden := []struct{ desc, scope string }{
					{desc: "unrelated fine scope " + m1Unrelated(required), scope: m1Unrelated(required)},
				}
				if below := m1TierBelow(ep.coarse); below != "" {
					forbidden = append(forbidden, struct{ desc, scope string }{desc: "coarse scope one tier too low " + below, scope: below})
				}
				for _, fc := range forbidden {
					t.Run(fc.desc+": 403 insufficient_scope", func(t *testing.T) {
						r := ep.call(t, tokens.get(t, fine, fc.scope))
						require.Equal(t, http.StatusForbidden, r.status, "body: %s", r.body)
						assert.Equal(t, []string{`Bearer realm="kms", error="insufficient_scope", scope="` + required + `"`},
							r.header.Values("WWW-Authenticate"))
						assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
					})
				}
				for _, sc := range slices.Compact([]string{required, ep.coarse}) {
					t.Run("scope "+sc+": success", func(t *testing.T) {
						r := ep.call(t, tokens.get(t, fine, sc))
						require.Equal(t, ep.ok, r.status, "body: %s", r.body)
					})
				}
				t.Run("tenant B with every scope: tenant A stays invisible", func(t *testing.T) {
					r := ep.call(t, other)
					switch ep.cross {
					case m1CrossNotFound:
						require.Equal(t, http.StatusNotFound, r.status, "body: %s", r.body)
					case m1CrossList:
						require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
						items, _ := r.json(t)["items"].([]any)
						for _, it := range items {
							if tid, ok := it.(map[string]any)["tenant_id"]; ok {
								assert.Equal(t, k.Tenant(t, 1).ID, tid, "an item of another tenant in tenant B's list")
							}
						}
						if ep.op == "listAuditEvents" {
							// B's own trail names the ids B presented above
							// and was refused: the tenant_id check is the one.
							assert.NotEmpty(t, items, "tenant B's own events")
							return
						}
						for _, id := range e.marksSnapshot() {
							assert.False(t, strings.Contains(string(r.body), id), "tenant B's list shows tenant A's %s", id)
						}
					case m1CrossCreate:
						require.Equal(t, ep.ok, r.status, "body: %s", r.body)
						id := r.str(t, "id")
						assert.Equal(t, http.StatusOK, m1Do(t, k, otherEnv.admin, "GET", ep.get(id), nil).status, "created in tenant B")
						assert.Equal(t, http.StatusNotFound, m1Do(t, k, e.admin, "GET", ep.get(id), nil).status, "not in tenant A")
					}
				})
			})
		}
		// Tenant B's own list still shows its own keys: the lists above
		// were filtered, not empty because the token was refused data.
		r := m1Do(t, k, other, "GET", "/api/v1/elastic-keys", nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Contains(t, string(r.body), k.Key(t, 1, "A256GCM").ID)
	})
}
