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
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/apikey"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/realm"
	"github.com/passthru-dev/passthru/services/kms/scope"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func newHandlers(t *testing.T) (*handlers, http.Handler, uuid.UUID) {
	t.Helper()
	opts, tenant := newOptions(t)
	h, err := New(t.Context(), opts)
	require.NoError(t, err)
	return &handlers{opts: opts, logger: opts.Logger}, h, tenant
}

// newOptions makes the handler's dependencies on a fresh SQLite database
// with one tenant, and no authenticators; apiKeyOpts adjust the API key
// service's options.
func newOptions(t *testing.T, apiKeyOpts ...func(*apikey.Options)) (Options, uuid.UUID) {
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
	ko := apikey.Options{Store: kstore, Barrier: br}
	for _, fn := range apiKeyOpts {
		fn(&ko)
	}
	keys, err := apikey.New(ctx, ko)
	require.NoError(t, err)
	return Options{Keys: svc, Users: users, UserRealms: []string{"local"}, APIKeys: keys}, tenant
}

func TestNewValidatesOptions(t *testing.T) {
	_, err := New(t.Context(), Options{})
	require.Error(t, err)
}

// fixedAuth authenticates every request as one principal.
type fixedAuth struct{ p *authn.Principal }

func (a fixedAuth) Authenticate(*http.Request) (*authn.Principal, error) { return a.p, nil }
func (fixedAuth) Challenge() string                                      { return `Basic realm="test"` }

// TestGateHandsOnTheValidatedBody: the gate passes on the value the
// validator decoded, which the strict handler binds to the request type
// instead of decoding the body a second time.
func TestGateHandsOnTheValidatedBody(t *testing.T) {
	h, _, tenant := newHandlers(t)
	h.opts.Authenticators = []authn.Authenticator{fixedAuth{p: &authn.Principal{Subject: "s", TenantID: tenant, Scopes: scope.Expand([]string{scope.Admin})}}}
	g, err := newGate(t.Context(), h)
	require.NoError(t, err)
	var got any
	r := mux.NewRouter()
	r.Use(g.middleware)
	r.HandleFunc("/api/v1/elastic-keys/{id}/encrypt", func(w http.ResponseWriter, r *http.Request) {
		vb, ok := r.Body.(interface{ ValidatedValue() any })
		require.True(t, ok, "the body carries the validated value, got %T", r.Body)
		got = vb.ValidatedValue()
		w.WriteHeader(http.StatusNoContent)
	}).Methods(http.MethodPost)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/elastic-keys/"+uuid.Must(uuid.NewV7()).String()+"/encrypt", strings.NewReader(`{"plaintext":"aGk="}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Equal(t, map[string]any{"plaintext": "aGk="}, got)
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))

	// The strict handler binds that value and never reads the body again:
	// with a body that cannot be read, the request still reaches the
	// domain (which knows no such key).
	req = httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Body = valueOnly{v: got}
	req = req.WithContext(authn.WithPrincipal(req.Context(), h.opts.Authenticators[0].(fixedAuth).p))
	rec = httptest.NewRecorder()
	h.strict().Encrypt(rec, req, uuid.Must(uuid.NewV7()))
	assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
}

// valueOnly is a request body that carries a validated value and fails
// every read.
type valueOnly struct{ v any }

func (b valueOnly) ValidatedValue() any    { return b.v }
func (valueOnly) Read([]byte) (int, error) { return 0, errors.New("the body was read again") }
func (valueOnly) Close() error             { return nil }

// TestStrictRequestErrorsAreProblems: a body that cannot be bound to the
// operation's request type is answered through the one error mapping.
func TestStrictRequestErrorsAreProblems(t *testing.T) {
	h, _, tenant := newHandlers(t)
	p := &authn.Principal{Subject: "s", TenantID: tenant, Scopes: scope.Expand([]string{scope.Admin})}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"plaintext":"!!!"}`))
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(authn.WithPrincipal(req.Context(), p))
	rec := httptest.NewRecorder()
	h.strict().Encrypt(rec, req, uuid.Must(uuid.NewV7()))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), `"code":"malformed_json"`)
}

// TestHandlersReportMissingKeys: every id-taking handler reports not_found
// for a key or user that does not exist, as an error for the one mapping.
func TestHandlersReportMissingKeys(t *testing.T) {
	h, _, tenant := newHandlers(t)
	id := uuid.Must(uuid.NewV7())
	p := &authn.Principal{Subject: "s", TenantID: tenant, Scopes: scope.Expand([]string{scope.Admin})}
	ctx := authn.WithPrincipal(t.Context(), p)
	calls := []struct {
		desc string
		fn   func() error
	}{
		{desc: "get key", fn: func() error { _, err := h.GetElasticKey(ctx, api.GetElasticKeyRequestObject{Id: id}); return err }},
		{desc: "destroy key", fn: func() error {
			_, err := h.DestroyElasticKey(ctx, api.DestroyElasticKeyRequestObject{Id: id})
			return err
		}},
		{desc: "rotate", fn: func() error { _, err := h.RotateElasticKey(ctx, api.RotateElasticKeyRequestObject{Id: id}); return err }},
		{desc: "list versions", fn: func() error {
			_, err := h.ListMaterialKeys(ctx, api.ListMaterialKeysRequestObject{Id: id, Params: listParams()})
			return err
		}},
		{desc: "get version", fn: func() error {
			_, err := h.GetMaterialKey(ctx, api.GetMaterialKeyRequestObject{Id: id, Mid: id})
			return err
		}},
		{desc: "encrypt", fn: func() error {
			_, err := h.Encrypt(ctx, api.EncryptRequestObject{Id: id, Body: &api.EncryptRequest{Plaintext: []byte("x")}})
			return err
		}},
		{desc: "jwks", fn: func() error { _, err := h.GetJwks(ctx, api.GetJwksRequestObject{Id: id}); return err }},
		{desc: "get user", fn: func() error { _, err := h.GetRealmUser(ctx, api.GetRealmUserRequestObject{Uid: id}); return err }},
		{desc: "delete user", fn: func() error { _, err := h.DeleteRealmUser(ctx, api.DeleteRealmUserRequestObject{Uid: id}); return err }},
	}
	for _, c := range calls {
		t.Run(c.desc, func(t *testing.T) {
			err := c.fn()
			require.Error(t, err)
			assert.Equal(t, kms.NotFound, classify(err).Code, "%v", err)
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
		{desc: "credentials cannot be checked", err: fmt.Errorf("jwks: %w", authn.ErrUnavailable), want: kms.Unavailable},
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
