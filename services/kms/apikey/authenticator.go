package apikey

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/kms"
)

// Authenticator recognises API keys in the X-API-Key header. It implements
// authn.Authenticator.
type Authenticator struct {
	s *Service
}

var _ authn.Authenticator = (*Authenticator)(nil)

// Challenge is empty: API keys have no registered HTTP authentication
// scheme, so there is no WWW-Authenticate challenge to advertise (the spec's
// apiKeyAuth scheme documents the header instead).
func (*Authenticator) Challenge() string { return "" }

// Authenticate returns the principal of the API key in r's X-API-Key
// header: ErrNoCredentials without the header; ErrInvalidCredentials, the
// same answer for every case, when the key is malformed, unknown, wrong,
// revoked or expired.
func (a *Authenticator) Authenticate(r *http.Request) (*authn.Principal, error) {
	values := r.Header.Values(Header)
	if len(values) == 0 {
		return nil, authn.ErrNoCredentials
	}
	if len(values) > 1 {
		return nil, fmt.Errorf("api key: header repeated: %w", authn.ErrInvalidCredentials)
	}
	id, secret, ok := parse(values[0])
	if !ok {
		return nil, fmt.Errorf("api key: malformed: %w", authn.ErrInvalidCredentials)
	}
	ctx := r.Context()
	e, err := a.s.entry(ctx, id, authn.IsSensitive(ctx))
	if kms.Is(err, kms.NotFound) {
		return nil, fmt.Errorf("api key: unknown: %w", authn.ErrInvalidCredentials)
	}
	if err != nil {
		return nil, fmt.Errorf("api key: look up %s: %w", id, err)
	}
	if !hmac.Equal(a.s.mac(id, secret), e.key.Hash) {
		return nil, fmt.Errorf("api key: wrong secret: %w", authn.ErrInvalidCredentials)
	}
	if !e.key.Usable(a.s.now()) {
		return nil, fmt.Errorf("api key: revoked or expired: %w", authn.ErrInvalidCredentials)
	}
	p := e.principal // a copy: callers may not change the cached one
	return &p, nil
}

// entry returns key id from the cache, or from the store when it is not
// cached, its entry is older than the TTL, or fresh is set.
func (s *Service) entry(ctx context.Context, id uuid.UUID, fresh bool) (*cacheEntry, error) {
	if !fresh {
		if e, ok := s.cache.get(id); ok {
			return e, nil
		}
	}
	// A revocation on this replica while the row is being read must win:
	// the entry is cached only if nothing was forgotten in between.
	gen := s.cache.generation()
	k, err := s.store.LookupAPIKey(ctx, id)
	if err != nil {
		s.cache.forget(id)
		return nil, err
	}
	e := &cacheEntry{key: k, principal: authn.Principal{
		Subject:  "api-key:" + k.ID.String(),
		TenantID: k.TenantID,
		Scopes:   s.hierarchy.Expand(k.Scopes),
		Method:   authn.MethodAPIKey,
		ClientID: k.ID.String(),
	}}
	s.cache.put(id, e, gen)
	return e, nil
}

// cacheEntry is a key as read from the store, with the principal it
// authenticates as (built once, not per request).
type cacheEntry struct {
	key       *kms.APIKey
	principal authn.Principal
	loaded    time.Time
}

// cache remembers keys read from the store for a short, bounded time, so
// that a request with a known key costs one HMAC and no database round
// trip. Entries hold the stored MAC, never the secret; every request is
// still checked against it. Only keys that exist are cached: a flood of
// made-up ids reaches the store, but cannot fill memory.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	entries map[uuid.UUID]*cacheEntry
	gen     uint64 // counts forget calls; see put
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, now: now, entries: map[uuid.UUID]*cacheEntry{}}
}

func (c *cache) get(id uuid.UUID) (*cacheEntry, bool) {
	if c.ttl < 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return nil, false
	}
	if c.now().Sub(e.loaded) >= c.ttl {
		delete(c.entries, id)
		return nil, false
	}
	return e, true
}

// generation is to be read before the store read whose result is put.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches e unless a forget happened since gen was read: the row may
// have been read before a revocation that forget announced.
func (c *cache) put(id uuid.UUID, e *cacheEntry, gen uint64) {
	if c.ttl < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	now := c.now()
	e.loaded = now
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.size {
		for k, old := range c.entries {
			if now.Sub(old.loaded) >= c.ttl {
				delete(c.entries, k)
			}
		}
		// Still full of live entries: make room by dropping any one. It
		// only costs that key a store read on its next request.
		for k := range c.entries {
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[id] = e
}

func (c *cache) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, id)
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
