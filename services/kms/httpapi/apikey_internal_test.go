package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/kms/apikey"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// TestExpiredAPIKey: a key past its expires_at is refused with 401 like
// any bad credential, through the real router.
func TestExpiredAPIKey(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	opts, tenant := newOptions(t, func(o *apikey.Options) { o.Now = clock })
	keys := opts.APIKeys
	opts.Authenticators = []authn.Authenticator{keys.Authenticator()}
	h, err := New(ctx, opts)
	require.NoError(t, err)

	admin := &authn.Principal{Subject: "alice", TenantID: tenant, Scopes: scope.Expand([]string{scope.Admin})}
	expires := now.Add(time.Hour)
	_, presented, err := keys.Create(ctx, admin, apikey.NewKey{Name: "short-lived", Scopes: []string{scope.Read}, ExpiresAt: &expires})
	require.NoError(t, err)
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/elastic-keys", nil)
		req.Header.Set(apikey.Header, presented)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	require.Equal(t, http.StatusOK, get().Code)
	mu.Lock()
	now = expires
	mu.Unlock()
	w := get()
	require.Equal(t, http.StatusUnauthorized, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"code":"unauthenticated"`)
	assert.Contains(t, w.Body.String(), "invalid credentials")
}

// TestAPIKeyEscalationRefused: a caller may only grant scopes it holds
// itself. With today's scopes kms:admin implies them all, so the caller
// here is a principal whose scopes are listed one by one.
func TestAPIKeyEscalationRefused(t *testing.T) {
	opts, tenant := newOptions(t)
	opts.Authenticators = []authn.Authenticator{fixedAuth{p: &authn.Principal{
		Subject: "narrow", TenantID: tenant, Method: authn.MethodBearer, ClientID: "tool",
		Scopes: []string{scope.Admin, scope.Read, scope.KeysRead, scope.Verify},
	}}}
	h, err := New(t.Context(), opts)
	require.NoError(t, err)
	create := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/admin/api-keys", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := create(`{"name":"wider","scopes":["kms:read","kms:decrypt"]}`)
	require.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"code":"forbidden"`)
	assert.Contains(t, w.Body.String(), "cannot grant scope kms:decrypt: the caller does not hold it")
	w = create(`{"name":"same","scopes":["kms:read","kms:verify"]}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"key":"pk_`)
}
