package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/realm"
	"github.com/passthru-dev/passthru/services/kms/scope"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func newHandlers(t *testing.T) (*handlers, http.Handler, uuid.UUID) {
	t.Helper()
	ctx := t.Context()
	d := dbtest.Open(t, dbtest.SQLite)
	br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("a-test-unseal-secret-of-32-bytes!!")}})
	require.NoError(t, err)
	kstore, err := sqlstore.New(ctx, d)
	require.NoError(t, err)
	svc, err := keys.New(ctx, keys.Options{Store: kstore, Barrier: br})
	require.NoError(t, err)
	tenant := uuid.New()
	_, err = svc.CreateTenant(ctx, tenant, "t", false)
	require.NoError(t, err)
	roles, err := realm.NewRoles(realm.DefaultRoles())
	require.NoError(t, err)
	users, err := realm.NewUserStore(ctx, d.Gorm(), realm.UserStoreOptions{Hasher: password.Hasher{Iterations: 1000}, Roles: roles})
	require.NoError(t, err)
	opts := Options{Keys: svc, Users: users, UserRealms: []string{"local"}}
	h, err := New(ctx, opts)
	require.NoError(t, err)
	return &handlers{opts: opts, logger: opts.Logger}, h, tenant
}

func TestNewValidatesOptions(t *testing.T) {
	_, err := New(t.Context(), Options{})
	require.Error(t, err)
}

// TestHandlersDecodeStrictly: the handlers decode bodies strictly even
// without the validating gate in front (defence in depth).
func TestHandlersDecodeStrictly(t *testing.T) {
	h, _, tenant := newHandlers(t)
	id := uuid.Must(uuid.NewV7())
	calls := []struct {
		desc string
		fn   func(w http.ResponseWriter, r *http.Request)
	}{
		{desc: "create key", fn: h.CreateElasticKey},
		{desc: "update key", fn: func(w http.ResponseWriter, r *http.Request) { h.UpdateElasticKey(w, r, id) }},
		{desc: "update version", fn: func(w http.ResponseWriter, r *http.Request) { h.UpdateMaterialKey(w, r, id, id) }},
		{desc: "encrypt", fn: func(w http.ResponseWriter, r *http.Request) { h.Encrypt(w, r, id) }},
		{desc: "decrypt", fn: func(w http.ResponseWriter, r *http.Request) { h.Decrypt(w, r, id) }},
		{desc: "generate data key", fn: func(w http.ResponseWriter, r *http.Request) { h.GenerateDataKey(w, r, id) }},
		{desc: "sign", fn: func(w http.ResponseWriter, r *http.Request) { h.Sign(w, r, id) }},
		{desc: "verify", fn: func(w http.ResponseWriter, r *http.Request) { h.Verify(w, r, id) }},
		{desc: "mac", fn: func(w http.ResponseWriter, r *http.Request) { h.Mac(w, r, id) }},
		{desc: "verify mac", fn: func(w http.ResponseWriter, r *http.Request) { h.VerifyMac(w, r, id) }},
		{desc: "create user", fn: h.CreateRealmUser},
		{desc: "update user", fn: func(w http.ResponseWriter, r *http.Request) { h.UpdateRealmUser(w, r, id) }},
		{desc: "set password", fn: func(w http.ResponseWriter, r *http.Request) { h.SetRealmUserPassword(w, r, id) }},
	}
	p := &authn.Principal{Subject: "s", TenantID: tenant, Scopes: scope.Expand([]string{scope.Admin})}
	for _, c := range calls {
		t.Run(c.desc, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"unknown_field":1}`))
			r.Header.Set("Content-Type", "application/json")
			r = r.WithContext(authn.WithPrincipal(r.Context(), p))
			rec := httptest.NewRecorder()
			c.fn(rec, r)
			assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), "malformed_json")
		})
	}
	// And every id-taking handler reports not_found for a missing key.
	for _, c := range []struct {
		desc string
		fn   func(w http.ResponseWriter, r *http.Request)
	}{
		{desc: "get key", fn: func(w http.ResponseWriter, r *http.Request) { h.GetElasticKey(w, r, id) }},
		{desc: "destroy key", fn: func(w http.ResponseWriter, r *http.Request) { h.DestroyElasticKey(w, r, id) }},
		{desc: "rotate", fn: func(w http.ResponseWriter, r *http.Request) { h.RotateElasticKey(w, r, id) }},
		{desc: "list versions", fn: func(w http.ResponseWriter, r *http.Request) { h.ListMaterialKeys(w, r, id, listParams()) }},
		{desc: "get version", fn: func(w http.ResponseWriter, r *http.Request) { h.GetMaterialKey(w, r, id, id) }},
		{desc: "jwks", fn: func(w http.ResponseWriter, r *http.Request) { h.GetJwks(w, r, id) }},
		{desc: "get user", fn: func(w http.ResponseWriter, r *http.Request) { h.GetRealmUser(w, r, id) }},
		{desc: "delete user", fn: func(w http.ResponseWriter, r *http.Request) { h.DeleteRealmUser(w, r, id) }},
	} {
		t.Run(c.desc, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = r.WithContext(authn.WithPrincipal(r.Context(), p))
			rec := httptest.NewRecorder()
			c.fn(rec, r)
			assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
		})
	}
}

func TestPagingTokens(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	tok := nextToken(id)
	p, err := page(nil, &tok)
	require.NoError(t, err)
	assert.Equal(t, id, p.After)
	assert.Equal(t, defaultPageSize, p.Size)
	assert.Empty(t, nextToken(uuid.Nil))
	for _, bad := range []string{"!!", "cDE6bm90LWEtdXVpZA", "eHg6MDFhMjI2NDAtMzg4OC03YjI0LWEyNmUtZTkyYTA5YjIyYzBl"} {
		_, err := page(nil, &bad)
		require.Error(t, err, bad)
	}
	zero := 0
	_, err = page(&zero, nil)
	require.Error(t, err)
}

func TestErrorMapping(t *testing.T) {
	assert.Equal(t, http.StatusInternalServerError, StatusOf("no_such_code"))
	for code, status := range statusOf {
		assert.Equal(t, status, StatusOf(code), "code %s", code)
		assert.GreaterOrEqual(t, status, 400, "code %s is an error status", code)
	}
	tests := []struct {
		desc string
		err  error
		want kms.Code
	}{
		{desc: "no credentials", err: authn.ErrNoCredentials, want: kms.Unauthenticated},
		{desc: "forbidden", err: authn.ErrForbidden, want: kms.Forbidden},
		{desc: "user not found", err: realm.ErrUserNotFound, want: kms.NotFound},
		{desc: "user exists", err: realm.ErrUserExists, want: kms.UserExists},
		{desc: "invalid user", err: realm.ErrInvalidUser, want: kms.InvalidRequest},
		{desc: "locked account", err: fmt.Errorf("basic: %w", &credential.RetryError{Err: credential.ErrLocked}), want: kms.TooManyAttempts},
		{desc: "busy verifier", err: fmt.Errorf("basic: %w", &credential.RetryError{Err: credential.ErrBusy}), want: kms.Busy},
		{desc: "anything else", err: errors.New("boom"), want: kms.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, classify(tc.err).Code)
		})
	}
	rec := httptest.NewRecorder()
	writeError(newDiscard(), rec, httptest.NewRequest(http.MethodGet, "/x", nil), errors.New("secret internals"))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "secret internals", "internal causes are logged, not shown")
	assert.Equal(t, "the request does not match the API specification", validationDetail(errors.New("x")))
	assert.Len(t, clipText(strings.Repeat("a", 300)), 203)
	assert.Equal(t, "", errText(nil))
	assert.Equal(t, "plain", errText(errors.New("plain")))
}

func listParams() api.ListMaterialKeysParams { return api.ListMaterialKeysParams{} }

func newDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestProblemCodesDocumented: the Problem schema of openapi.yaml lists
// exactly the codes the service answers with, each with its HTTP status.
func TestProblemCodesDocumented(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.SpecYAML)
	require.NoError(t, err)
	problem := doc.Components.Schemas["Problem"]
	require.NotNil(t, problem)
	documented := map[kms.Code]int{}
	for _, m := range regexp.MustCompile("(?m)^- `([a-z_]+)` \\((\\d{3})\\):").FindAllStringSubmatch(problem.Value.Description, -1) {
		status, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		_, dup := documented[kms.Code(m[1])]
		require.False(t, dup, "code %s documented twice", m[1])
		documented[kms.Code(m[1])] = status
	}
	assert.Equal(t, statusOf, documented, "openapi.yaml Problem lists every code with its status, and no others")
}
