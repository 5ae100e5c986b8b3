package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedAuth recognises the header X-Test: its value decides the outcome.
type fixedAuth struct {
	scheme string
	p      *Principal
}

func (f fixedAuth) Challenge() string { return f.scheme + ` realm="t"` }

func (f fixedAuth) Authenticate(r *http.Request) (*Principal, error) {
	switch r.Header.Get("X-" + f.scheme) {
	case "":
		return nil, ErrNoCredentials
	case "good":
		return f.p, nil
	case "broken":
		return nil, errors.New("database down")
	default:
		return nil, ErrInvalidCredentials
	}
}

func statusWriter(w http.ResponseWriter, _ *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrInvalidCredentials):
		w.WriteHeader(http.StatusUnauthorized)
	case errors.Is(err, ErrForbidden):
		w.WriteHeader(http.StatusForbidden)
	default:
		w.WriteHeader(http.StatusInternalServerError)
	}
}

func TestMiddleware(t *testing.T) {
	reader := &Principal{Subject: "r", TenantID: uuid.New(), Scopes: []string{"test:read"}, Method: MethodBasic}
	auths := []Authenticator{fixedAuth{scheme: "Basic", p: reader}, fixedAuth{scheme: "Bearer", p: reader}}
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		require.True(t, ok)
		assert.Equal(t, "r", p.Subject)
		w.WriteHeader(http.StatusOK)
	})
	tests := []struct {
		desc       string
		headers    map[string]string
		scope      string
		want       int
		challenges int
	}{
		{desc: "no credentials is 401 with one challenge per scheme", want: 401, challenges: 2},
		{desc: "bad first-scheme credentials is 401", headers: map[string]string{"X-Basic": "bad"}, want: 401, challenges: 2},
		{desc: "second authenticator is tried", headers: map[string]string{"X-Bearer": "good"}, scope: "test:read", want: 200},
		{desc: "first authenticator wins", headers: map[string]string{"X-Basic": "good", "X-Bearer": "bad"}, scope: "test:read", want: 200},
		{desc: "missing scope is 403", headers: map[string]string{"X-Basic": "good"}, scope: "test:write", want: 403},
		{desc: "internal error is 500 without challenge", headers: map[string]string{"X-Basic": "broken"}, want: 500},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			h := Middleware(auths, statusWriter, BearerChallenge("extra"))(RequireScope(tc.scope, statusWriter)(final))
			if tc.scope == "" {
				h = Middleware(auths, statusWriter, BearerChallenge("extra"))(final)
			}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.want, rec.Code)
			assert.Len(t, rec.Header().Values("WWW-Authenticate"), tc.challenges)
		})
	}
	t.Run("RequireScope without principal is 401", func(t *testing.T) {
		rec := httptest.NewRecorder()
		RequireScope("test:read", statusWriter)(final).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
	})
}

func TestChallenges(t *testing.T) {
	assert.Equal(t, `Basic realm="kms", charset="UTF-8"`, BasicChallenge("kms"))
	assert.Equal(t, `Bearer realm="a\"b\\c"`, BearerChallenge(`a"b\c`))
	// Control characters never reach the header: they could split it.
	assert.Equal(t, `Basic realm="kms", charset="UTF-8"`, BasicChallenge("k\r\nms"))
	assert.Equal(t, `Bearer realm="kms"`, BearerChallenge("k\r\nms"))
}

func TestCheckScope(t *testing.T) {
	ctx := context.Background()
	require.ErrorIs(t, CheckScope(ctx, "test:read"), ErrNoCredentials)
	p := &Principal{Subject: "u", Scopes: []string{"test:read", "test:list"}}
	ctx = WithPrincipal(ctx, p)
	require.NoError(t, CheckScope(ctx, "test:list"))
	err := CheckScope(ctx, "test:write")
	require.ErrorIs(t, err, ErrForbidden)
	assert.Contains(t, err.Error(), "test:write")
	got, ok := PrincipalFrom(ctx)
	require.True(t, ok)
	assert.Same(t, p, got)
	var nilP *Principal
	assert.False(t, nilP.HasScope("test:read"))
}

// invalidBearer refuses every request with an RFC 6750 challenge of its own.
type invalidBearer struct{}

func (invalidBearer) Challenge() string { return `Bearer realm="t"` }
func (invalidBearer) Authenticate(*http.Request) (*Principal, error) {
	return nil, &ChallengeError{Scheme: "Bearer", Challenge: `Bearer realm="t", error="invalid_token"`, Err: ErrInvalidCredentials}
}

func TestChallengeErrorReplacesItsSchemesChallenge(t *testing.T) {
	auths := []Authenticator{fixedAuth{scheme: "Basic"}, invalidBearer{}}
	rec := httptest.NewRecorder()
	Middleware(auths, statusWriter, `Bearer realm="extra"`)(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, []string{`Basic realm="t"`, `Bearer realm="t", error="invalid_token"`}, rec.Header().Values("WWW-Authenticate"))
}

func TestScopeErrorIsForbidden(t *testing.T) {
	err := CheckScope(WithPrincipal(context.Background(), &Principal{Subject: "u"}), "test:write")
	var se *ScopeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "test:write", se.Scope)
	assert.ErrorIs(t, err, ErrForbidden)
	assert.False(t, IsSensitive(context.Background()))
	assert.True(t, IsSensitive(WithSensitive(context.Background())))
}
