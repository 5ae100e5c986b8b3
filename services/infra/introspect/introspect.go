// Package introspect checks whether a bearer token is still active at the
// Identity service that signed it, through OAuth 2.0 Token Introspection
// (RFC 7662) and, when Identity offers it, its batch extension. A resource
// server plugs a Checker into its bearer authenticator after the token's
// signature and claims verified: the signature proves where the token comes
// from, introspection tells whether it was revoked since.
//
// # Modes and their staleness bounds
//
// How often a token is checked at Identity is a trade between freshness and
// the cost of a call per request. The mode sets it:
//
//   - none: tokens are never checked. A revoked token is accepted until it
//     expires; its lifetime is the staleness bound.
//   - interval: a token is checked at Identity when first seen and again
//     whenever its last "active" answer is Interval old or older. Between
//     checks the remembered answer stands. The bound is exact: a token
//     revoked at time T is refused by every check that starts after
//     T + Interval, because an answer is remembered from the moment its call
//     was sent, and a check only shares a call that is already in flight when
//     that call was sent less than Interval ago. When a check is due and
//     Identity cannot be asked (unreachable, timing out, answering with an
//     error), the check fails with authn.ErrUnavailable (HTTP 503): the
//     remembered answer is served up to the bound, never past it.
//   - sensitive: checks of sensitive operations (see authn.WithSensitive)
//     always ask Identity, as in every-request; all other checks behave as in
//     interval.
//   - every-request: every check asks Identity; a revoked token is refused by
//     every check that starts after the revocation. A check shares a call
//     only with checks of the same token that are still waiting to be sent,
//     never with a call already in flight, so its answer was always given
//     after the check began. Identity unreachable means authn.ErrUnavailable.
//
// In every mode except none, an "inactive" answer (revoked, unknown to
// Identity, expired, or of another tenant) is remembered until the token's
// own expiry (a token without exp: until evicted): a revoked token never
// costs another call and never becomes active again. The memory is bounded (Options.CacheSize, least recently used
// entries go first); a forgotten revoked token is simply asked about again.
//
// # Calls
//
// Concurrent checks of one token share one call (within the rules above:
// an every-request check, or a sensitive one in sensitive mode, never joins
// a call already sent). Checks for tokens of the
// same introspection client batch naturally: while a call for a client is in
// flight, newly arriving tokens queue, and when it returns, all of them go to
// Identity together in one batch call (split at Options.MaxBatch, at most 8
// calls at once), with no timer adding latency; a token waiting alone goes to
// the RFC 7662 endpoint. Without a batch endpoint, or once the batch endpoint
// answered 404 or 405 (logged once), each token is sent in its own RFC 7662
// call. A call runs on its own context bounded by Options.Timeout, so a
// caller giving up never cancels the call other checks wait for.
//
// The introspection client is chosen per token, by the token's tenant
// (Options.Credentials): Identity lets a resource-server client introspect
// tokens of its own tenant only. A tenant without credentials is a gap in the
// configuration; its tokens are refused with authn.ErrUnavailable and an
// error log line, never let through.
//
// Only "active" answers that name the token's tenant_id (and its jti, when
// the token has one) count as active; the rest describe another token. Any failure to get a clear answer (a
// transport error, a non-200 status including 401 for wrong client
// credentials, a malformed or oversized body) is authn.ErrUnavailable, never
// "token invalid": whether a token is revoked is decided by Identity only.
// Tokens and client secrets are never logged.
package introspect

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Mode says when a token is checked at Identity; see the package
// documentation for the staleness bound of each.
type Mode string

// Modes.
const (
	ModeNone         Mode = "none"
	ModeInterval     Mode = "interval"
	ModeSensitive    Mode = "sensitive"
	ModeEveryRequest Mode = "every-request"
)

// ParseMode parses a mode as configuration spells it: "none", "interval",
// "sensitive" or "every-request".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeNone, ModeInterval, ModeSensitive, ModeEveryRequest:
		return m, nil
	}
	return "", fmt.Errorf("introspection mode %q: want none, interval, sensitive or every-request", s)
}

// Client authentication methods at the introspection endpoint.
const (
	// MethodSecretBasic sends the client id and secret with HTTP Basic,
	// each form-url-encoded first (RFC 6749 §2.3.1).
	MethodSecretBasic = "client_secret_basic"
	// MethodTLSClientAuth authenticates with the client certificate of the
	// TLS connection and names the client with the client_id form parameter
	// (RFC 8705 §2).
	MethodTLSClientAuth = "tls_client_auth"
)

// Defaults of Options.
const (
	DefaultInterval  = 30 * time.Second
	DefaultMaxBatch  = 100
	DefaultCacheSize = 10000
	DefaultTimeout   = 5 * time.Second
)

// MaxBatchLimit is the most tokens Identity accepts in one batch call.
const MaxBatchLimit = 100

// Options configure a Checker. Zero values mean the documented defaults.
type Options struct {
	// Mode is required.
	Mode Mode
	// Interval is the staleness bound of interval and sensitive mode;
	// default 30s.
	Interval time.Duration
	// Endpoint is Identity's RFC 7662 introspection endpoint (https).
	Endpoint string
	// BatchEndpoint is Identity's batch introspection endpoint (https);
	// empty means one RFC 7662 call per token.
	BatchEndpoint string
	// Resolve discovers both endpoints (e.g. from Identity's metadata:
	// introspection_endpoint, introspection_batch_endpoint) when Endpoint is
	// empty. It is called on the first call to Identity and again after a
	// failure; its first success is kept. batchEndpoint may be empty.
	Resolve func(ctx context.Context) (endpoint, batchEndpoint string, err error)
	// Method is MethodSecretBasic (the default) or MethodTLSClientAuth.
	Method string
	// Credentials names the introspection client for tokens of a tenant
	// (the token's tenant_id claim). secret is ignored (and may be empty)
	// with MethodTLSClientAuth. ok false means the tenant has no client:
	// its tokens are refused with authn.ErrUnavailable. Required.
	Credentials func(tenantID string) (clientID, secret string, ok bool)
	// Roots are the only CAs Identity's certificate is verified against.
	// Required.
	Roots *x509.CertPool
	// ClientCert is presented on the TLS connection; required with
	// MethodTLSClientAuth.
	ClientCert *tls.Certificate
	// MaxBatch is the most tokens sent in one batch call; default and
	// maximum 100.
	MaxBatch int
	// CacheSize bounds the remembered answers; default 10000.
	CacheSize int
	// Timeout bounds one exchange with Identity (endpoint discovery
	// included); default 5s.
	Timeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives configuration and availability problems; default
	// discards.
	Logger *slog.Logger
	// TracerProvider and MeterProvider instrument the calls to Identity
	// (the service's own, see telemetry.Transport): each call is a client
	// span in the trace of the check that queued its first token, and
	// carries that trace to Identity. Both nil: no instrumentation at all.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Stats count what a Checker did, for tests and benchmarks.
type Stats struct {
	// Calls is the number of HTTP requests sent to Identity, batch calls
	// included.
	Calls uint64
	// BatchCalls is the number of those sent to the batch endpoint.
	BatchCalls uint64
	// TokensChecked is the number of tokens sent to Identity, summed over
	// all calls.
	TokensChecked uint64
	// CacheHits is the number of checks answered from memory.
	CacheHits uint64
}

// Errors returned by Check. Each wraps an authn sentinel, so a service's
// error mapping picks the status with errors.Is.
var (
	// errInactive: Identity says the token is not active.
	errInactive = fmt.Errorf("introspection: %w: the token is not active", authn.ErrInvalidCredentials)
	// errUnavailable: Identity could not be asked or gave no clear answer.
	errUnavailable = fmt.Errorf("introspection: %w", authn.ErrUnavailable)
)

// Checker checks tokens at Identity under one Mode. It is safe for
// concurrent use.
type Checker struct {
	mode        Mode
	interval    time.Duration
	method      string
	credentials func(string) (string, string, bool)
	maxBatch    int
	timeout     time.Duration
	now         func() time.Time
	log         *slog.Logger
	http        *http.Client
	traced      bool // a TracerProvider is set: flights remember their trace

	endpoints endpoints
	noBatch   atomic.Bool // the batch endpoint answered 404/405: one call per token from now on

	cache   *cache
	hashers sync.Pool // of *hasher

	mu       sync.Mutex
	queues   map[credential]*queue // clients with a call in flight or tokens waiting
	inflight map[[32]byte]*flight  // sent calls, by token hash

	calls, batchCalls, tokensChecked, cacheHits atomic.Uint64

	// testHookQueued, when set, is called (without locks held) each time
	// a check starts waiting for a call, so tests can tell when all their
	// checks are waiting without sleeping.
	testHookQueued func()
}

// New validates opts and returns a Checker.
func New(opts Options) (*Checker, error) {
	if _, err := ParseMode(string(opts.Mode)); err != nil {
		return nil, fmt.Errorf("introspect: Mode: %w", err)
	}
	c := &Checker{mode: opts.Mode, now: opts.Now, log: opts.Logger}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.mode == ModeNone {
		// Nothing is ever asked: the rest of the options do not matter.
		return c, nil
	}
	if err := c.configure(opts); err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	return c, nil
}

func (c *Checker) configure(opts Options) error {
	c.interval = opts.Interval
	switch {
	case c.interval == 0:
		c.interval = DefaultInterval
	case c.interval < 0:
		return fmt.Errorf("Interval %v: must be positive", opts.Interval)
	}
	c.method = opts.Method
	switch c.method {
	case "":
		c.method = MethodSecretBasic
	case MethodSecretBasic, MethodTLSClientAuth:
	default:
		return fmt.Errorf("Method %q: want %s or %s", opts.Method, MethodSecretBasic, MethodTLSClientAuth)
	}
	if opts.Credentials == nil {
		return errors.New("Credentials is required")
	}
	c.credentials = opts.Credentials
	if opts.Roots == nil {
		return errors.New("Roots is required: Identity's certificate is verified against it only")
	}
	if c.method == MethodTLSClientAuth && opts.ClientCert == nil {
		return fmt.Errorf("ClientCert is required with Method %s", MethodTLSClientAuth)
	}
	switch {
	case opts.Endpoint != "":
		if err := checkEndpoint(opts.Endpoint); err != nil {
			return fmt.Errorf("Endpoint: %w", err)
		}
		if opts.BatchEndpoint != "" {
			if err := checkEndpoint(opts.BatchEndpoint); err != nil {
				return fmt.Errorf("BatchEndpoint: %w", err)
			}
		}
		c.endpoints.endpoint, c.endpoints.batch, c.endpoints.known = opts.Endpoint, opts.BatchEndpoint, true
	case opts.BatchEndpoint != "":
		return errors.New("BatchEndpoint without Endpoint: set Endpoint too, or leave both to Resolve")
	case opts.Resolve != nil:
		c.endpoints.resolve = opts.Resolve
	default:
		return errors.New("Endpoint or Resolve is required")
	}
	c.maxBatch = opts.MaxBatch
	switch {
	case c.maxBatch == 0:
		c.maxBatch = DefaultMaxBatch
	case c.maxBatch < 0 || c.maxBatch > MaxBatchLimit:
		return fmt.Errorf("MaxBatch %d: want 1 to %d", opts.MaxBatch, MaxBatchLimit)
	}
	size := opts.CacheSize
	switch {
	case size == 0:
		size = DefaultCacheSize
	case size < 0:
		return fmt.Errorf("CacheSize %d: must be positive", opts.CacheSize)
	}
	c.cache = newCache(size)
	c.timeout = opts.Timeout
	switch {
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	case c.timeout < 0:
		return fmt.Errorf("Timeout %v: must be positive", opts.Timeout)
	}
	c.traced = opts.TracerProvider != nil
	c.http = &http.Client{
		Transport: telemetry.Transport(&http.Transport{
			// No proxy from the environment: the token and the client's
			// credentials go to Identity and nowhere else.
			Proxy:               nil,
			TLSClientConfig:     tlsx.ClientConfig(opts.Roots, opts.ClientCert),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: parallelism,
			IdleConnTimeout:     90 * time.Second,
		}, opts.TracerProvider, opts.MeterProvider),
		// A redirect would resend the token to wherever it points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.queues = map[credential]*queue{}
	c.inflight = map[[32]byte]*flight{}
	return nil
}

// checkEndpoint accepts absolute https URLs only: the token and the client's
// secret never travel in the clear.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want an absolute https URL", s)
	}
	return nil
}

// hasher hashes tokens without allocating: sha256.Sum256([]byte(raw))
// would copy every token to the heap on the hot path, and the digest has no
// WriteString, so the token goes through a fixed buffer instead.
type hasher struct {
	h   hash.Hash
	buf [1024]byte
	out [sha256.Size]byte
}

// hashToken is the SHA-256 of raw, the key of everything the checker
// remembers or shares about a token.
func (c *Checker) hashToken(raw string) [sha256.Size]byte {
	hs, _ := c.hashers.Get().(*hasher)
	if hs == nil {
		hs = &hasher{h: sha256.New()}
	}
	hs.h.Reset()
	for len(raw) > 0 {
		n := copy(hs.buf[:], raw)
		hs.h.Write(hs.buf[:n]) // never fails
		raw = raw[n:]
	}
	hs.h.Sum(hs.out[:0])
	key := hs.out
	c.hashers.Put(hs)
	return key
}

// Mode returns the checker's mode.
func (c *Checker) Mode() Mode { return c.mode }

// Stats returns the counters.
func (c *Checker) Stats() Stats {
	return Stats{
		Calls:         c.calls.Load(),
		BatchCalls:    c.batchCalls.Load(),
		TokensChecked: c.tokensChecked.Load(),
		CacheHits:     c.cacheHits.Load(),
	}
}

// Check reports whether the token raw, whose verified claims are claims, is
// still active at Identity under the checker's mode. sensitive marks a
// sensitive operation (see authn.IsSensitive). It returns nil for an active
// token, an error wrapping authn.ErrInvalidCredentials for one Identity says
// is not active, and one wrapping authn.ErrUnavailable when Identity could
// not be asked (or ctx ended while waiting for it).
func (c *Checker) Check(ctx context.Context, raw string, claims *authn.Claims, sensitive bool) error {
	if c.mode == ModeNone {
		return nil
	}
	return c.CheckHashed(ctx, raw, c.hashToken(raw), claims, sensitive)
}

// CheckHashed is Check for a caller that already holds the token's SHA-256
// (a bearer authenticator hashes every token once): sum must be
// sha256.Sum256 of raw, it keys everything remembered and shared about the
// token. It saves hashing the token again on the cached path.
func (c *Checker) CheckHashed(ctx context.Context, raw string, sum [sha256.Size]byte, claims *authn.Claims, sensitive bool) error {
	if c.mode == ModeNone {
		return nil
	}
	if claims == nil {
		// A caller bug, not the client's fault: refuse without blaming the token.
		c.log.ErrorContext(ctx, "introspection called without the token's claims")
		return fmt.Errorf("%w: no claims", errUnavailable)
	}
	key := sum
	strict := c.mode == ModeEveryRequest || (c.mode == ModeSensitive && sensitive)
	now := c.now()
	switch c.cache.lookup(key, now, c.interval, strict) {
	case cachedActive:
		c.cacheHits.Add(1)
		return nil
	case cachedInactive:
		c.cacheHits.Add(1)
		return errInactive
	}
	id, secret, ok := c.credentials(claims.TenantID)
	if !ok || id == "" || (c.method == MethodSecretBasic && secret == "") {
		c.log.ErrorContext(ctx, "no introspection client configured for the token's tenant: its tokens are refused until one is",
			"tenant_id", claims.TenantID)
		return fmt.Errorf("%w: no introspection client for tenant %q", errUnavailable, claims.TenantID)
	}
	f := c.join(ctx, credential{id: id, secret: secret}, key, raw, claims, now, strict)
	select {
	case <-f.done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errUnavailable, ctx.Err())
	}
	switch {
	case f.err != nil:
		return f.err
	case f.active:
		return nil
	}
	return errInactive
}
