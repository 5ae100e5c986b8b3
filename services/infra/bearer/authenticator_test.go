package bearer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

// fakeRevoker answers with err and records what it was asked.
type fakeRevoker struct {
	mu        sync.Mutex
	err       error
	calls     int
	sensitive []bool
}

func (f *fakeRevoker) Active(_ context.Context, _ string, tok *Token, sensitive bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tok == nil || tok.Claims == nil {
		return errors.New("revoker called without a token")
	}
	f.calls++
	f.sensitive = append(f.sensitive, sensitive)
	return f.err
}

type authFixture struct {
	ti      *testIssuer
	clk     *fakeClock
	v       *Verifier
	revoker *fakeRevoker
	auth    *Authenticator
	// registered is the set of tenants Registered knows; regErr its failure.
	registered map[uuid.UUID]bool
	regErr     error
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{ti: newTestIssuer(t, newPKI(t)), clk: newClock(), revoker: &fakeRevoker{},
		registered: map[uuid.UUID]bool{testTenant: true}}
	f.v = newTestVerifier(t, f.clk, f.ti.config())
	auth, err := NewAuthenticator(AuthenticatorOptions{
		Verifier: f.v,
		Registered: func(_ context.Context, tenant uuid.UUID) (bool, error) {
			return f.registered[tenant], f.regErr
		},
		// The service's implication rule: decrypt implies encrypt-check.
		Scopes: func(granted []string) []string {
			if slices.Contains(granted, "kms:decrypt") {
				return append(granted, "kms:read")
			}
			return granted
		},
		Revokers: map[string]Revoker{f.ti.url: f.revoker},
		Realm:    "kms",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.auth = auth
	return f
}

func request(authz ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/keys", nil)
	for _, a := range authz {
		r.Header.Add("Authorization", a)
	}
	return r
}

const invalidTokenChallenge = `Bearer realm="kms", error="invalid_token"`

func TestAuthenticatorCredentials(t *testing.T) {
	f := newAuthFixture(t)
	valid := f.ti.sign("k1", f.ti.claims(f.clk.Now()))
	badSig := tamper(t, valid)
	cases := []struct {
		desc string
		req  *http.Request
		want error // nil: a principal
	}{
		{"no header", request(), authn.ErrNoCredentials},
		{"Basic scheme", request("Basic YWxpY2U6cHc="), authn.ErrNoCredentials},
		{"scheme that merely starts with bearer", request("Bearerish abc"), authn.ErrNoCredentials},
		{"valid", request("Bearer " + valid), nil},
		{"scheme in lower case", request("bearer " + valid), nil},
		{"scheme in upper case", request("BEARER " + valid), nil},
		{"bare scheme", request("Bearer"), authn.ErrMalformedCredentials},
		{"two spaces", request("Bearer  " + valid), authn.ErrMalformedCredentials},
		{"tab instead of space", request("Bearer\t" + valid), authn.ErrMalformedCredentials},
		{"trailing space", request("Bearer " + valid + " "), authn.ErrMalformedCredentials},
		{"not token68", request("Bearer a,b"), authn.ErrMalformedCredentials},
		{"padding in the middle", request("Bearer ab=c"), authn.ErrMalformedCredentials},
		{"two Authorization headers", request("Bearer "+valid, "Bearer "+valid), authn.ErrMalformedCredentials},
		{"bad signature", request("Bearer " + badSig), authn.ErrInvalidCredentials},
		{"not a JWT", request("Bearer abc"), authn.ErrInvalidCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := f.auth.Authenticate(tc.req)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if p.Subject != "alice" || p.TenantID != testTenant {
					t.Fatalf("principal %+v", p)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, authn.ErrInvalidCredentials) {
				assertInvalidTokenChallenge(t, err)
			}
			if errors.Is(tc.want, authn.ErrMalformedCredentials) {
				var ce *authn.ChallengeError
				if !errors.As(err, &ce) || ce.Challenge != `Bearer realm="kms", error="invalid_request"` || errors.Is(err, authn.ErrInvalidCredentials) {
					t.Fatalf("err = %v, want only an invalid_request refusal", err)
				}
			}
		})
	}
}

// assertInvalidTokenChallenge: the client learns "invalid_token" and
// nothing about which check failed.
func assertInvalidTokenChallenge(t *testing.T, err error) {
	t.Helper()
	var ce *authn.ChallengeError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ChallengeError", err)
	}
	if ce.Scheme != "Bearer" || ce.Challenge != invalidTokenChallenge {
		t.Fatalf("challenge = %q (%s), want %q", ce.Challenge, ce.Scheme, invalidTokenChallenge)
	}
}

func TestAuthenticatorPrincipal(t *testing.T) {
	f := newAuthFixture(t)
	raw := f.ti.sign("k1", f.ti.claims(f.clk.Now()))
	p, err := f.auth.Authenticate(request("Bearer " + raw))
	if err != nil {
		t.Fatal(err)
	}
	want := authn.Principal{Subject: "alice", TenantID: testTenant, ClientID: "client-1", Method: authn.MethodBearer}
	if p.Subject != want.Subject || p.TenantID != want.TenantID || p.ClientID != want.ClientID || p.Method != want.Method || p.Realm != "" {
		t.Fatalf("principal %+v, want %+v", p, want)
	}
	if !slices.Equal(p.Scopes, []string{"kms:encrypt", "kms:decrypt", "kms:read"}) {
		t.Fatalf("scopes %v: want the granted ones expanded", p.Scopes)
	}
	if !slices.Equal(p.Roles, []string{"operator"}) || p.Claims == nil || p.Claims.Subject != "alice" {
		t.Fatalf("roles %v claims %+v", p.Roles, p.Claims)
	}
	// A second request with the same token gets its own principal (from the
	// cached token): changing one principal cannot leak into the next.
	p.Scopes[0] = "tampered"
	p2, err := f.auth.Authenticate(request("Bearer " + raw))
	if err != nil {
		t.Fatal(err)
	}
	if p2 == p || p2.Scopes[0] != "kms:encrypt" {
		t.Fatalf("second principal %+v shares state with the first", p2)
	}
	if st := f.v.Stats(); st.CacheHits != 1 || st.Verifications != 1 {
		t.Fatalf("stats %+v, want the second request served from the cache", st)
	}
	if got := f.auth.Challenge(); got != `Bearer realm="kms"` {
		t.Fatalf("Challenge = %q", got)
	}
}

func TestAuthenticatorTenantAndRevocation(t *testing.T) {
	other := uuid.MustParse("99999999-9999-4999-8999-999999999999")
	cases := []struct {
		desc          string
		setup         func(f *authFixture)
		sensitive     bool
		wantErr       error // nil: a principal
		wantChallenge bool
		wantSensitive []bool // what the revoker was asked
	}{
		{desc: "active token", wantSensitive: []bool{false}},
		{desc: "sensitive operation is passed on", sensitive: true, wantSensitive: []bool{true}},
		{
			desc:    "tenant not registered",
			setup:   func(f *authFixture) { f.registered = map[uuid.UUID]bool{other: true} },
			wantErr: authn.ErrInvalidCredentials, wantChallenge: true,
		},
		{
			desc:  "tenant lookup fails: internal error, not invalid",
			setup: func(f *authFixture) { f.regErr = errors.New("database down") },
		},
		{
			desc:    "revoked",
			setup:   func(f *authFixture) { f.revoker.err = fmt.Errorf("%w: token revoked", authn.ErrInvalidCredentials) },
			wantErr: authn.ErrInvalidCredentials, wantChallenge: true, wantSensitive: []bool{false},
		},
		{
			desc:    "revocation unknown",
			setup:   func(f *authFixture) { f.revoker.err = fmt.Errorf("%w: introspection timed out", authn.ErrUnavailable) },
			wantErr: authn.ErrUnavailable, wantSensitive: []bool{false},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			f := newAuthFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			r := request("Bearer " + f.ti.sign("k1", f.ti.claims(f.clk.Now())))
			if tc.sensitive {
				r = r.WithContext(authn.WithSensitive(r.Context()))
			}
			p, err := f.auth.Authenticate(r)
			switch {
			case f.regErr != nil:
				if err == nil || errors.Is(err, authn.ErrInvalidCredentials) || errors.Is(err, authn.ErrNoCredentials) ||
					!errors.Is(err, f.regErr) {
					t.Fatalf("err = %v, want the lookup failure passed through", err)
				}
			case tc.wantErr == nil:
				if err != nil || p.TenantID != testTenant {
					t.Fatalf("Authenticate = %+v, %v", p, err)
				}
			default:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				var ce *authn.ChallengeError
				if got := errors.As(err, &ce); got != tc.wantChallenge {
					t.Fatalf("err = %v: challenge %v, want %v", err, got, tc.wantChallenge)
				}
				if tc.wantChallenge {
					assertInvalidTokenChallenge(t, err)
				}
			}
			if !slices.Equal(f.revoker.sensitive, tc.wantSensitive) {
				t.Fatalf("revoker asked %v, want %v", f.revoker.sensitive, tc.wantSensitive)
			}
		})
	}
}

func TestAuthenticatorUnavailableIssuer(t *testing.T) {
	f := newAuthFixture(t)
	f.ti.down.Store(true)
	_, err := f.auth.Authenticate(request("Bearer " + f.ti.sign("k1", f.ti.claims(f.clk.Now()))))
	if !errors.Is(err, authn.ErrUnavailable) || errors.Is(err, authn.ErrInvalidCredentials) {
		t.Fatalf("err = %v, want unavailable only", err)
	}
	var ce *authn.ChallengeError
	if errors.As(err, &ce) {
		t.Fatal("an unavailable issuer is not an invalid token: no invalid_token challenge")
	}
}

func TestAuthenticatorWithoutRevokerOrMapper(t *testing.T) {
	ti := newTestIssuer(t, newPKI(t))
	clk := newClock()
	a, err := NewAuthenticator(AuthenticatorOptions{
		Verifier:   newTestVerifier(t, clk, ti.config()),
		Registered: func(context.Context, uuid.UUID) (bool, error) { return true, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(request("Bearer " + ti.sign("k1", ti.claims(clk.Now()))))
	if err != nil {
		t.Fatal(err)
	}
	if p.TenantID != testTenant || !slices.Equal(p.Scopes, []string{"kms:encrypt", "kms:decrypt"}) {
		t.Fatalf("principal %+v", p)
	}
	if got := a.Challenge(); got != "Bearer" {
		t.Fatalf("Challenge without realm = %q", got)
	}
}

func TestNewAuthenticatorRequiresVerifierAndRegistered(t *testing.T) {
	ti := newTestIssuer(t, newPKI(t))
	v := newTestVerifier(t, newClock(), ti.config())
	cases := []struct {
		desc string
		opts AuthenticatorOptions
	}{
		{"no verifier", AuthenticatorOptions{Registered: func(context.Context, uuid.UUID) (bool, error) { return true, nil }}},
		{"no registered", AuthenticatorOptions{Verifier: v}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := NewAuthenticator(tc.opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestAuthenticatorInMiddleware: the challenge reaches the client through
// authn.Middleware, with no detail beyond invalid_token.
func TestAuthenticatorInMiddleware(t *testing.T) {
	f := newAuthFixture(t)
	var gotErr error
	h := authn.Middleware([]authn.Authenticator{f.auth}, func(w http.ResponseWriter, _ *http.Request, err error) {
		gotErr = err
		w.WriteHeader(http.StatusUnauthorized)
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authn.PrincipalFrom(r.Context())
		_, _ = w.Write([]byte(p.Subject))
	}))
	cases := []struct {
		desc          string
		authz         string
		wantStatus    int
		wantChallenge string
	}{
		{"valid", "Bearer " + f.ti.sign("k1", f.ti.claims(f.clk.Now())), http.StatusOK, ""},
		{"none", "", http.StatusUnauthorized, `Bearer realm="kms"`},
		{"expired", "Bearer " + f.ti.sign("k1", f.ti.claims(f.clk.Now().Add(-2*time.Hour))), http.StatusUnauthorized, invalidTokenChallenge},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := request()
			if tc.authz != "" {
				r = request(tc.authz)
			}
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus || w.Header().Get("WWW-Authenticate") != tc.wantChallenge {
				t.Fatalf("status %d challenge %q (err %v), want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), gotErr, tc.wantStatus, tc.wantChallenge)
			}
		})
	}
}

func TestAuthenticatorParseScopeRefuses(t *testing.T) {
	f := newAuthFixture(t)
	f.auth.opts.ParseScope = func(s string) ([]string, error) {
		if strings.Contains(s, "kms:decrypt") {
			return nil, errors.New("not in this service's syntax")
		}
		return strings.Fields(s), nil
	}
	raw := f.ti.sign("k1", f.ti.claims(f.clk.Now()))
	_, err := f.auth.Authenticate(request("Bearer " + raw))
	var ce *authn.ChallengeError
	if !errors.As(err, &ce) || !errors.Is(err, authn.ErrInvalidCredentials) || !strings.Contains(ce.Challenge, `error="invalid_token"`) {
		t.Fatalf("err = %v, want an invalid_token refusal", err)
	}
	if f.revoker.calls != 0 {
		t.Fatal("a token with a malformed scope must be refused before asking the issuer")
	}
}
