package bearer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

const (
	// MaxTokenSize caps a raw token: access tokens are well under 2 KiB, and
	// nothing larger is parsed at all.
	MaxTokenSize = 8 << 10
	// DefaultCacheSize is how many verified tokens are remembered.
	DefaultCacheSize = 10000
)

// ErrUnknownIssuer is returned by Metadata for an issuer that is not configured.
var ErrUnknownIssuer = errors.New("issuer not configured")

// Options configures NewVerifier.
type Options struct {
	// Issuers are the trusted issuers; at least one, each iss once.
	Issuers []IssuerConfig
	// CacheSize bounds the verified-token cache; default DefaultCacheSize.
	CacheSize int
	// CacheMaxAge bounds how long a verified token is reused without being
	// verified again; 0 means until its exp.
	CacheMaxAge time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger receives fetch failures; default discards. Tokens are never logged.
	Logger *slog.Logger
	// TracerProvider and MeterProvider instrument the fetches from the
	// issuers (metadata, JWK sets) with the service's own providers (see
	// telemetry.Transport); both nil: no instrumentation at all.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Token is a verified access token. It is shared between the callers that
// present the same token while it is cached: treat it, and its Claims, as
// read-only.
type Token struct {
	Claims *authn.Claims
	// Issuer is the configured issuer that vouched for the token (its iss).
	Issuer string
	// Hash is the SHA-256 of the raw token: a key for callers' own caches
	// and single-flight groups, so they need not keep the token itself.
	Hash [32]byte
}

// Stats are counters for tests and benchmarks.
type Stats struct {
	// JWKSFetches counts requests for JWK sets (successful or not).
	JWKSFetches uint64
	// Verifications counts signature checks.
	Verifications uint64
	// CacheHits counts tokens answered from the verified-token cache.
	CacheHits uint64
}

// Verifier verifies RFC 9068 access tokens of its configured issuers. It is
// safe for concurrent use.
type Verifier struct {
	issuers       map[string]*issuer
	parser        *jwt.Parser
	cache         *tokenCache
	cacheMaxAge   time.Duration
	now           func() time.Time
	sf            singleflight.Group
	fetches       atomic.Uint64
	verifications atomic.Uint64
	hits          atomic.Uint64
	// skipCache makes every Verify a full verification (benchmarks).
	skipCache bool
}

// NewVerifier validates opts and returns a Verifier. Nothing is fetched yet:
// an issuer's keys are fetched when its first token arrives (or by Prefetch).
func NewVerifier(opts Options) (*Verifier, error) {
	if len(opts.Issuers) == 0 {
		return nil, errors.New("bearer verifier: Issuers: at least one trusted issuer is required")
	}
	if opts.CacheSize < 0 {
		return nil, fmt.Errorf("bearer verifier: CacheSize: negative (%d)", opts.CacheSize)
	}
	if opts.CacheMaxAge < 0 {
		return nil, fmt.Errorf("bearer verifier: CacheMaxAge: negative (%v)", opts.CacheMaxAge)
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{
		issuers:     make(map[string]*issuer, len(opts.Issuers)),
		cache:       newTokenCache(size),
		cacheMaxAge: opts.CacheMaxAge,
		now:         now,
	}
	var methods []string
	for i := range opts.Issuers {
		cfg := &opts.Issuers[i]
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("bearer verifier: %w", err)
		}
		if _, dup := v.issuers[cfg.Issuer]; dup {
			return nil, fmt.Errorf("bearer verifier: Issuers: %q configured twice", cfg.Issuer)
		}
		iss := newIssuer(*cfg, now, log, &v.fetches, func(rt http.RoundTripper) http.RoundTripper {
			return telemetry.Transport(rt, opts.TracerProvider, opts.MeterProvider)
		})
		v.issuers[cfg.Issuer] = iss
		for _, alg := range iss.cfg.Algorithms {
			if !contains(methods, alg) {
				methods = append(methods, alg)
			}
		}
	}
	// The parser admits the union of the issuers' algorithms; the key
	// function then holds each token to its own issuer's list. Claims are
	// validated per issuer after the signature (leeway and audiences differ).
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithoutClaimsValidation(),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Stats returns the counters.
func (v *Verifier) Stats() Stats {
	return Stats{
		JWKSFetches:   v.fetches.Load(),
		Verifications: v.verifications.Load(),
		CacheHits:     v.hits.Load(),
	}
}

// Close releases the idle connections to the issuers. The Verifier stays
// usable (a later fetch opens a new connection).
func (v *Verifier) Close() {
	for _, iss := range v.issuers {
		iss.client.CloseIdleConnections()
	}
}

// Prefetch fetches every issuer's keys now (best effort, at start-up), so
// the first requests do not wait for them. Its error joins the issuers'
// failures; tokens of those issuers fetch again when they arrive.
func (v *Verifier) Prefetch(ctx context.Context) error {
	var errs []error
	for _, iss := range v.issuers {
		if _, err := iss.refreshKeys(ctx); err != nil && !errors.Is(err, errRateLimited) {
			errs = append(errs, fmt.Errorf("issuer %q: %w", iss.cfg.Issuer, err))
		}
	}
	return errors.Join(errs...)
}

// Metadata returns the discovered metadata of a configured issuer (cached
// like its keys). Errors wrap ErrUnknownIssuer or authn.ErrUnavailable.
func (v *Verifier) Metadata(ctx context.Context, issuerID string) (*Metadata, error) {
	iss, ok := v.issuers[issuerID]
	if !ok {
		return nil, fmt.Errorf("bearer metadata: %q: %w", issuerID, ErrUnknownIssuer)
	}
	md, err := iss.metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("bearer metadata: %w", err)
	}
	cp := *md
	cp.IntrospectionEndpointAuthMethodsSupported = append([]string(nil), md.IntrospectionEndpointAuthMethodsSupported...)
	return &cp, nil
}

// Verify checks raw and returns its verified token. Errors wrap
// authn.ErrInvalidCredentials (the token is not acceptable; the text names
// the reason, for logs only), authn.ErrUnavailable (the issuer's keys could
// not be obtained: retry later), or are the context's error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	if raw == "" || len(raw) > MaxTokenSize || strings.Count(raw, ".") != 2 {
		return nil, invalid("not a compact JWS of at most %d bytes", MaxTokenSize)
	}
	hash := sha256.Sum256([]byte(raw))
	now := v.now()
	if !v.skipCache {
		if tok := v.cache.get(hash, now); tok != nil {
			v.hits.Add(1)
			return tok, nil
		}
	}
	// Clients send their token with every request, often in parallel: the
	// first verification of a token is shared by all who present it meanwhile.
	ch := v.sf.DoChan(string(hash[:]), func() (any, error) {
		return v.verify(ctx, raw, hash)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Token), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("bearer verify: %w", ctx.Err())
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: bearer token: %s", authn.ErrInvalidCredentials, fmt.Sprintf(format, args...))
}

// verify does the full check of a token not in the cache and caches it.
func (v *Verifier) verify(ctx context.Context, raw string, hash [32]byte) (*Token, error) {
	var (
		claims authn.Claims
		iss    *issuer
		kid    string
		keyErr error
	)
	_, err := v.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		// Everything that can be decided before the signature is, so that a
		// forged token costs no key lookup.
		typ, _ := t.Header["typ"].(string)
		if typ = strings.ToLower(typ); typ != "at+jwt" && typ != "application/at+jwt" {
			keyErr = invalid("typ is not at+jwt")
			return nil, keyErr
		}
		if _, ok := t.Header["crit"]; ok {
			// No critical extension is understood here (RFC 7515 §4.1.11).
			keyErr = invalid("unsupported crit header")
			return nil, keyErr
		}
		iss = v.issuers[claims.Issuer]
		if iss == nil {
			keyErr = invalid("issuer not trusted")
			return nil, keyErr
		}
		if alg := t.Method.Alg(); !contains(iss.cfg.Algorithms, alg) {
			keyErr = invalid("algorithm %s not allowed for the issuer", alg)
			return nil, keyErr
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			keyErr = invalid("no kid")
			return nil, keyErr
		}
		key, err := iss.keyFor(ctx, kid, t.Method.Alg())
		if err != nil {
			keyErr = err
			return nil, err
		}
		v.verifications.Add(1)
		return key, nil
	})
	switch {
	case keyErr != nil:
		return nil, keyErr
	case err != nil:
		return nil, invalid("%v", err)
	}
	if err := iss.validator.Validate(&claims); err != nil {
		return nil, invalid("%v", err)
	}
	if err := checkClaims(&claims); err != nil {
		return nil, err
	}
	tok := &Token{Claims: &claims, Issuer: iss.cfg.Issuer, Hash: hash}
	until := claims.ExpiresAt.Time
	if v.cacheMaxAge > 0 {
		if bound := v.now().Add(v.cacheMaxAge); bound.Before(until) {
			until = bound
		}
	}
	v.cache.put(hash, &cacheEntry{tok: tok, until: until, iss: iss, kid: kid}, v.now())
	return tok, nil
}

// checkClaims holds the claims to what a resource server needs beyond the
// registered-claim checks: RFC 9068 requires iat and sub, the tenant must
// be named, and the scope must be well formed (RFC 6749 §3.3).
func checkClaims(c *authn.Claims) error {
	switch {
	case c.IssuedAt == nil:
		return invalid("no iat")
	case c.Subject == "":
		return invalid("no sub")
	case c.TenantID == "":
		return invalid("no tenant_id")
	}
	if !validScope(c.Scope) {
		return invalid("malformed scope")
	}
	return nil
}

// validScope accepts space-separated scope tokens of printable ASCII
// without '"' and '\' (RFC 6749 §3.3). Repeated spaces are tolerated.
func validScope(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			continue
		}
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
