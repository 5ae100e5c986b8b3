package introspect

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/clock"
)

const (
	introspectPath = "/oauth2/v1/introspect"
	batchPath      = "/oauth2/v1/introspect/batch"
	tenantA        = "11111111-1111-1111-1111-111111111111"
	tenantB        = "22222222-2222-2222-2222-222222222222"
	// The secrets hold characters Basic needs form-encoded (RFC 6749 §2.3.1).
	secretA = "s3cr:t+A/é %"
	secretB = "secret-of-b"
)

// fakeClock is the checker's clock, moved by the test only.
type fakeClock = clock.Fake

func newClock() *fakeClock { return clock.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)) }

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// call is one request the fake Identity received.
type call struct {
	path     string
	clientID string
	tokens   []string
}

type fakeClient struct {
	secret string
	tenant string
}

type fakeToken struct {
	tenant, jti string
}

// fakeIdentity answers RFC 7662 and the batch extension over TLS 1.3 like
// Identity does: per-tenant resource-server clients, "active" only for known,
// unrevoked tokens of the client's own tenant.
type fakeIdentity struct {
	t     testing.TB
	srv   *httptest.Server
	chain *tlsx.Chain
	mtls  bool

	mu          sync.Mutex
	clients     map[string]fakeClient
	tokens      map[string]fakeToken
	revoked     map[string]bool
	calls       []call
	status      int    // non-zero: every request is answered with it
	batchStatus int    // non-zero: batch requests are answered with it
	body        string // non-empty: the body of every 200 answer
	block       chan struct{}
	// entered receives one value per request, before it blocks.
	entered chan struct{}
}

func newFakeIdentity(t testing.TB, mtls bool) *fakeIdentity {
	t.Helper()
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	leaf, err := chain.IssueLeaf(tlsx.LeafOptions{CommonName: "identity.test.local", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	require.NoError(t, err)
	f := &fakeIdentity{
		t: t, chain: chain, mtls: mtls,
		clients: map[string]fakeClient{"rs-a": {secret: secretA, tenant: tenantA}, "rs-b": {secret: secretB, tenant: tenantB}},
		tokens:  map[string]fakeToken{},
		revoked: map[string]bool{},
		entered: make(chan struct{}, 1000),
	}
	f.srv = httptest.NewUnstartedServer(f)
	var clientCAs = chain.Pool()
	if !mtls {
		clientCAs = nil
	}
	f.srv.TLS = tlsx.ServerConfig(leaf.TLSCertificate(), clientCAs)
	// Handshakes cut short when the server closes are not the test's business.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.close)
	return f
}

// close stops the server, releasing blocked handlers first.
func (f *fakeIdentity) close() {
	f.release()
	f.srv.Close()
}

func (f *fakeIdentity) url(path string) string { return f.srv.URL + path }

// mint registers a token of tenant and returns its claims.
func (f *fakeIdentity) mint(raw, tenant string, exp time.Time) *authn.Claims {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The jti is not derived from the token's text, like a real one.
	jti := fmt.Sprintf("jti-%d", len(f.tokens)+1)
	f.tokens[raw] = fakeToken{tenant: tenant, jti: jti}
	return &authn.Claims{
		TenantID:         tenant,
		RegisteredClaims: jwt.RegisteredClaims{ID: jti, ExpiresAt: jwt.NewNumericDate(exp)},
	}
}

func (f *fakeIdentity) revoke(raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[raw] = true
}

func (f *fakeIdentity) set(fn func(f *fakeIdentity)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// hold makes every request wait until release.
func (f *fakeIdentity) hold() {
	f.set(func(f *fakeIdentity) { f.block = make(chan struct{}) })
}

func (f *fakeIdentity) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.block != nil {
		close(f.block)
		f.block = nil
	}
}

func (f *fakeIdentity) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeIdentity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id = r.PostForm.Get("client_id")
	}
	tokens := r.PostForm["token"]
	f.mu.Lock()
	f.calls = append(f.calls, call{path: r.URL.Path, clientID: id, tokens: tokens})
	block, status, batchStatus, body := f.block, f.status, f.batchStatus, f.body
	client, known := f.clients[id]
	f.mu.Unlock()
	f.entered <- struct{}{}
	if block != nil {
		<-block
	}
	if status != 0 {
		writeJSON(w, status, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	authenticated := known && basic && secret == client.secret
	if f.mtls {
		// tls_client_auth: the verified certificate and the client_id
		// parameter, never a Basic header.
		authenticated = known && !basic && r.TLS != nil && len(r.TLS.VerifiedChains) > 0
	}
	if !authenticated {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.URL.Path == batchPath && batchStatus != 0 {
		writeJSON(w, batchStatus, map[string]string{"error": "not_found"})
		return
	}
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
		return
	}
	switch {
	case r.URL.Path == introspectPath && len(tokens) == 1:
		writeJSON(w, http.StatusOK, f.answer(tokens[0], client.tenant))
	case r.URL.Path == batchPath && len(tokens) >= 1 && len(tokens) <= MaxBatchLimit:
		results := make([]map[string]any, len(tokens))
		for i, tok := range tokens {
			results[i] = f.answer(tok, client.tenant)
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": results})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
	}
}

// answer is Identity's RFC 7662 object for raw asked by a client of tenant.
func (f *fakeIdentity) answer(raw, tenant string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.tokens[raw]
	if !ok || f.revoked[raw] || tok.tenant != tenant {
		return map[string]any{"active": false}
	}
	return map[string]any{"active": true, "tenant_id": tok.tenant, "jti": tok.jti, "scope": "kms", "client_id": "app"}
}

// credentials are the resource-server clients of the fake, per tenant.
func credentials(tenant string) (string, string, bool) {
	switch tenant {
	case tenantA:
		return "rs-a", secretA, true
	case tenantB:
		return "rs-b", secretB, true
	}
	return "", "", false
}

type harness struct {
	id    *fakeIdentity
	clock *fakeClock
	logs  *logBuffer
	c     *Checker
}

// newHarness starts a fake Identity and a checker of mode against it;
// edit adjusts the options before New.
func newHarness(t testing.TB, mode Mode, edit func(*Options)) *harness {
	t.Helper()
	h := &harness{id: newFakeIdentity(t, false), clock: newClock(), logs: &logBuffer{}}
	opts := h.options(mode)
	if edit != nil {
		edit(&opts)
	}
	c, err := New(opts)
	require.NoError(t, err)
	h.c = c
	return h
}

func (h *harness) options(mode Mode) Options {
	return Options{
		Mode:          mode,
		Interval:      time.Minute,
		Endpoint:      h.id.url(introspectPath),
		BatchEndpoint: h.id.url(batchPath),
		Credentials:   credentials,
		Roots:         h.id.chain.Pool(),
		Now:           h.clock.Now,
		Logger:        slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// token registers a token of tenant A valid for an hour.
func (h *harness) token(raw string) *authn.Claims {
	return h.tokenOf(raw, tenantA)
}

// tokenOf registers a token of tenant valid for an hour.
func (h *harness) tokenOf(raw, tenant string) *authn.Claims {
	return h.id.mint(raw, tenant, h.clock.Now().Add(time.Hour))
}

func (h *harness) check(raw string, claims *authn.Claims, sensitive bool) error {
	return h.c.Check(context.Background(), raw, claims, sensitive)
}

// clientCert makes an mTLS client certificate of the fake's chain.
func (f *fakeIdentity) clientCert(t testing.TB) *tls.Certificate {
	t.Helper()
	leaf, err := f.chain.IssueLeaf(tlsx.LeafOptions{CommonName: "kms introspection client", Style: tlsx.CNStyleDescriptive, Client: true})
	require.NoError(t, err)
	cert := leaf.TLSCertificate()
	return &cert
}
