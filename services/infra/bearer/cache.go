package bearer

import (
	"sync"
	"time"
)

// evictSample is how many entries a full cache looks at to make room:
// expired ones go first, else the one expiring soonest. Sampling keeps an
// insert O(1) however large the cache, at the price of an eviction that is
// only approximately "soonest to expire".
const evictSample = 8

type cacheEntry struct {
	tok   *Token
	until time.Time
	// iss and kid let a hit confirm that the key that verified the token is
	// still published by the issuer.
	iss *issuer
	kid string
}

// tokenCache remembers verified tokens by the SHA-256 of the raw token.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[32]byte]*cacheEntry
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[32]byte]*cacheEntry), max: max}
}

// get returns the cached token of hash when it is still valid at now and
// its key is still in its issuer's current key set; nil otherwise.
func (c *tokenCache) get(hash [32]byte, now time.Time) *Token {
	c.mu.RLock()
	e := c.m[hash]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.until) {
		return nil
	}
	ks := e.iss.currentKeys(now)
	if ks == nil {
		return nil
	}
	if _, ok := ks.keys[e.kid]; !ok {
		return nil
	}
	return e.tok
}

func (c *tokenCache) put(hash [32]byte, e *cacheEntry, now time.Time) {
	if c == nil || !now.Before(e.until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[hash]; !ok && len(c.m) >= c.max {
		c.evictLocked(now)
	}
	c.m[hash] = e
}

// evictLocked removes the expired entries among a sample of the cache or,
// when none is expired, the sampled entry that expires first. Map iteration
// starts at a random place, which makes the sample random enough.
func (c *tokenCache) evictLocked(now time.Time) {
	var (
		victim  [32]byte
		soonest time.Time
		removed bool
		n       int
	)
	for h, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, h)
			removed = true
		} else if soonest.IsZero() || e.until.Before(soonest) {
			victim, soonest = h, e.until
		}
		n++
		if n >= evictSample {
			break
		}
	}
	if !removed && !soonest.IsZero() {
		delete(c.m, victim)
	}
}
