package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

const (
	// maxDocumentSize caps a metadata or JWK set response: real ones are a
	// few KiB, and an issuer endpoint must not be able to exhaust memory.
	maxDocumentSize = 1 << 20
	// fetchTimeout bounds one metadata or JWK set request, connection
	// included; the verification waiting for it waits no longer.
	fetchTimeout = 10 * time.Second
	// maxRedirects bounds redirects of the issuer's endpoints (https only).
	maxRedirects = 3
	// minRSABits refuses RSA keys too short to be trusted.
	minRSABits = 2048
)

// Metadata is the part of an issuer's authorization server metadata
// (RFC 8414, OpenID Connect Discovery) a resource server uses.
type Metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	TokenEndpoint         string `json:"token_endpoint,omitempty"`
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	// IntrospectionBatchEndpoint is a Passthru extension: introspection of
	// several tokens in one request.
	IntrospectionBatchEndpoint                string   `json:"introspection_batch_endpoint,omitempty"`
	RevocationEndpoint                        string   `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
}

// verifyKey is one public key of a JWK set with the algorithm the set
// restricts it to (empty: any algorithm matching the key type).
type verifyKey struct {
	key any
	alg string
}

// keySet is an immutable snapshot of an issuer's usable keys.
type keySet struct {
	keys    map[string]verifyKey
	fetched time.Time
}

type metaEntry struct {
	md      Metadata
	fetched time.Time
}

// errRateLimited says a refresh was skipped because the last one is too
// recent; the keys known so far stay in use.
var errRateLimited = errors.New("JWK set refreshed too recently")

// issuer is the state of one trusted issuer: its configuration, HTTP
// client, claim validator and cached keys and metadata.
type issuer struct {
	cfg       IssuerConfig
	client    *http.Client
	validator *jwt.Validator
	log       *slog.Logger
	now       func() time.Time
	fetches   *atomic.Uint64

	keys atomic.Pointer[keySet]
	meta atomic.Pointer[metaEntry]

	mu              sync.Mutex
	lastKeysAttempt time.Time
	lastMetaAttempt time.Time
	sf              singleflight.Group
}

// instrument wraps the issuer's transport (telemetry.Transport).
func newIssuer(cfg IssuerConfig, now func() time.Time, log *slog.Logger, fetches *atomic.Uint64, instrument func(http.RoundTripper) http.RoundTripper) *issuer {
	cfg = cfg.withDefaults()
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsx.ClientConfig(cfg.Roots, cfg.ClientCert),
		TLSHandshakeTimeout: fetchTimeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{
		Transport: instrument(transport),
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// A redirect must not downgrade to plain HTTP or loop.
			if req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to non-https %s refused", req.URL.Redacted())
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return nil
		},
	}
	return &issuer{
		cfg:    cfg,
		client: client,
		validator: jwt.NewValidator(
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audiences...), // any one of them suffices
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(now),
		),
		log:     log.With("issuer", cfg.Issuer),
		now:     now,
		fetches: fetches,
	}
}

// keyFor returns the public key of kid for a token signed with alg. Errors
// wrap authn.ErrUnavailable when the keys could not be obtained, and
// authn.ErrInvalidCredentials when the keys are known but kid is not one of
// them or does not fit alg.
func (s *issuer) keyFor(ctx context.Context, kid, alg string) (any, error) {
	now := s.now()
	ks := s.keys.Load()
	refreshed := false
	var refreshErr error
	if ks == nil || now.Sub(ks.fetched) >= s.cfg.JWKSCacheTTL {
		ks, refreshErr = s.refreshKeys(ctx)
		refreshed = true
	}
	if ks == nil || now.Sub(ks.fetched) >= s.grace() {
		return nil, unavailable("keys of issuer", refreshErr)
	}
	k, ok := ks.keys[kid]
	if !ok && !refreshed {
		// An unknown kid may be a key the issuer rotated in since the last
		// fetch: look once more (rate limited by refreshKeys).
		var fresh *keySet
		fresh, refreshErr = s.refreshKeys(ctx)
		if fresh != nil {
			ks = fresh
		}
		k, ok = ks.keys[kid]
	}
	if !ok {
		if refreshErr != nil && !errors.Is(refreshErr, errRateLimited) {
			// The key may exist; we could not ask. Fail closed, but as
			// "try again" rather than "your token is bad".
			return nil, unavailable("unknown kid and the key refresh failed", refreshErr)
		}
		return nil, invalid("unknown kid")
	}
	if !keyFits(k, alg) {
		return nil, invalid("key does not fit algorithm %s", alg)
	}
	return k.key, nil
}

func unavailable(what string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %s", authn.ErrUnavailable, what)
	}
	return fmt.Errorf("%w: %s: %w", authn.ErrUnavailable, what, cause)
}

// currentKeys is the key snapshot a cached token may still rely on: nil
// once the snapshot is past the grace period (the hit then falls back to a
// full verification, which refreshes or fails closed).
func (s *issuer) currentKeys(now time.Time) *keySet {
	ks := s.keys.Load()
	if ks == nil || now.Sub(ks.fetched) >= s.grace() {
		return nil
	}
	return ks
}

// grace is how long fetched keys (and metadata) serve after their fetch
// when refreshing fails: twice the TTL, and always long enough for one
// more refresh after the TTL despite the refresh rate limit, so that a
// short TTL cannot make a healthy issuer's tokens fail between refreshes.
func (s *issuer) grace() time.Duration {
	return max(2*s.cfg.JWKSCacheTTL, s.cfg.JWKSCacheTTL+2*s.cfg.MinRefreshInterval)
}

// refreshKeys fetches the JWK set unless the last attempt is less than
// MinRefreshInterval ago (then it returns errRateLimited). Concurrent callers
// share one fetch. It returns the key snapshot current after the attempt
// (possibly the old one, possibly nil) and the attempt's error.
func (s *issuer) refreshKeys(ctx context.Context) (*keySet, error) {
	_, err, _ := s.sf.Do("jwks", func() (any, error) {
		now := s.now()
		s.mu.Lock()
		if !s.lastKeysAttempt.IsZero() && now.Sub(s.lastKeysAttempt) < s.cfg.MinRefreshInterval {
			s.mu.Unlock()
			return nil, errRateLimited
		}
		s.lastKeysAttempt = now
		s.mu.Unlock()

		// The fetch serves every caller waiting on it: one caller giving
		// up must not fail the others.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		ks, err := s.fetchKeys(fctx, now)
		if err != nil {
			s.log.LogAttrs(fctx, slog.LevelWarn, "bearer: JWK set fetch failed", slog.String("error", err.Error()))
			return nil, err
		}
		s.keys.Store(ks)
		return nil, nil
	})
	return s.keys.Load(), err
}

func (s *issuer) fetchKeys(ctx context.Context, now time.Time) (*keySet, error) {
	uri := s.cfg.JWKSURI
	if uri == "" {
		md, err := s.metadata(ctx)
		if err != nil {
			return nil, err
		}
		uri = md.JWKSURI
	}
	s.fetches.Add(1)
	body, err := s.get(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("fetch JWK set: %w", err)
	}
	keys, skipped, err := parseKeySet(body, s.cfg.MaxKeys)
	if err != nil {
		return nil, fmt.Errorf("JWK set of %s: %w", uri, err)
	}
	if skipped > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "bearer: JWK set keys ignored (not usable for signatures)",
			slog.Int("ignored", skipped), slog.Int("usable", len(keys)))
	}
	return &keySet{keys: keys, fetched: now}, nil
}

// parseKeySet decodes a JWK set and keeps the public signature keys that
// have a kid. Keys are decoded one by one, so that one key of a type this
// library cannot read (a newer algorithm, say) does not make the whole set
// unusable. A kid published twice is ambiguous and dropped altogether.
func parseKeySet(body []byte, maxKeys int) (map[string]verifyKey, int, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, 0, fmt.Errorf("not a JWK set: %w", err)
	}
	if raw.Keys == nil {
		return nil, 0, errors.New(`not a JWK set: no "keys" member`)
	}
	if len(raw.Keys) > maxKeys {
		return nil, 0, fmt.Errorf("%d keys exceed the limit of %d", len(raw.Keys), maxKeys)
	}
	keys := make(map[string]verifyKey, len(raw.Keys))
	dup := map[string]bool{}
	skipped := 0
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil ||
			k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.IsPublic() || !k.Valid() {
			// IsPublic refuses private and symmetric keys: a set that
			// publishes either is broken, and neither may verify tokens.
			skipped++
			continue
		}
		if _, seen := keys[k.KeyID]; seen {
			delete(keys, k.KeyID)
			dup[k.KeyID] = true
			skipped += 2 // the one kept so far goes too
			continue
		}
		if dup[k.KeyID] {
			skipped++
			continue
		}
		keys[k.KeyID] = verifyKey{key: k.Key, alg: k.Algorithm}
	}
	if len(keys) == 0 {
		// A set with no usable key cannot be what the issuer signs with:
		// treat it as a failed fetch and keep the keys known so far.
		return nil, skipped, errors.New("the JWK set has no usable signing key")
	}
	return keys, skipped, nil
}

// keyFits reports whether k may verify a signature of alg: the JWK's own
// alg when it has one, and always the key type and size (P-256 for ES256,
// RSA of at least 2048 bits, ...). It rules out algorithm confusion, such as
// an RSA key used for a PS256 token the issuer never signed that way.
func keyFits(k verifyKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		return (alg == "RS256" || alg == "PS256") && key.N.BitLen() >= minRSABits
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// metadata returns the issuer's metadata, fetching it when it is missing or
// older than JWKSCacheTTL. A failed refresh keeps the old document for the
// same grace as the keys; fetches are rate limited like the keys'.
func (s *issuer) metadata(ctx context.Context) (*Metadata, error) {
	now := s.now()
	if m := s.meta.Load(); m != nil && now.Sub(m.fetched) < s.cfg.JWKSCacheTTL {
		return &m.md, nil
	}
	_, err, _ := s.sf.Do("metadata", func() (any, error) {
		now := s.now()
		s.mu.Lock()
		if !s.lastMetaAttempt.IsZero() && now.Sub(s.lastMetaAttempt) < s.cfg.MinRefreshInterval {
			s.mu.Unlock()
			return nil, errRateLimited
		}
		s.lastMetaAttempt = now
		s.mu.Unlock()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		md, err := s.fetchMetadata(fctx)
		if err != nil {
			s.log.LogAttrs(fctx, slog.LevelWarn, "bearer: metadata fetch failed", slog.String("error", err.Error()))
			return nil, err
		}
		s.meta.Store(&metaEntry{md: *md, fetched: now})
		return nil, nil
	})
	m := s.meta.Load()
	if m == nil || now.Sub(m.fetched) >= s.grace() {
		return nil, unavailable("metadata of issuer", err)
	}
	return &m.md, nil
}

// metadataURLs are the places an issuer's metadata may be: the RFC 8414
// document appended to the issuer (where Passthru serves it), the RFC 8414
// form with the well-known segment before the issuer's path, and the OpenID
// Connect Discovery document.
func metadataURLs(iss string) []string {
	trimmed := strings.TrimSuffix(iss, "/")
	urls := []string{trimmed + "/.well-known/oauth-authorization-server"}
	if u, err := url.Parse(iss); err == nil && strings.Trim(u.Path, "/") != "" {
		inserted := *u
		inserted.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
		inserted.RawPath = ""
		urls = append(urls, inserted.String())
	}
	return append(urls, trimmed+"/.well-known/openid-configuration")
}

func (s *issuer) fetchMetadata(ctx context.Context) (*Metadata, error) {
	var errs []error
	for _, u := range metadataURLs(s.cfg.Issuer) {
		md, err := s.fetchMetadataAt(ctx, u)
		if err == nil {
			return md, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("discover metadata: %w", errors.Join(errs...))
}

func (s *issuer) fetchMetadataAt(ctx context.Context, u string) (*Metadata, error) {
	body, err := s.get(ctx, u)
	if err != nil {
		return nil, err
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("%s: not a metadata document: %w", u, err)
	}
	// RFC 8414 §3.3: a document naming another issuer must not be used, or
	// one issuer's endpoint could hand out another's keys.
	if md.Issuer != s.cfg.Issuer {
		return nil, fmt.Errorf("%s: metadata issuer %q is not %q", u, md.Issuer, s.cfg.Issuer)
	}
	if err := checkHTTPSURL(md.JWKSURI, false); err != nil {
		return nil, fmt.Errorf("%s: jwks_uri: %w", u, err)
	}
	// Credentials are sent to the introspection endpoints: https only.
	for name, v := range map[string]string{
		"token_endpoint":               md.TokenEndpoint,
		"introspection_endpoint":       md.IntrospectionEndpoint,
		"introspection_batch_endpoint": md.IntrospectionBatchEndpoint,
		"revocation_endpoint":          md.RevocationEndpoint,
	} {
		if v == "" {
			continue
		}
		if err := checkHTTPSURL(v, false); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", u, name, err)
		}
	}
	return &md, nil
}

// get fetches u: status 200 and at most maxDocumentSize bytes.
func (s *issuer) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", u, err)
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("GET %s: response exceeds %d bytes", u, maxDocumentSize)
	}
	return body, nil
}
