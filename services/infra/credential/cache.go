package credential

import (
	"container/list"
	"crypto/hmac"
	"sync"
	"time"
)

// cache remembers, per account, the MAC of the last credential verified
// (see Verifier.mac) until it expires. Entries are kept in insertion order,
// which is also expiry order (one TTL for all), so a full cache drops its
// oldest entry, expired or not, and never more: one more PBKDF2 for the
// account dropped is the whole cost of a full cache.
type cache struct {
	ttl  time.Duration // <= 0: disabled
	size int

	mu      sync.Mutex
	entries map[Account]*list.Element // of *cacheEntry
	order   list.List                 // oldest first
}

type cacheEntry struct {
	acct    Account
	mac     [32]byte
	expires time.Time
}

func newCache(ttl time.Duration, size int) *cache {
	return &cache{ttl: ttl, size: size, entries: map[Account]*list.Element{}}
}

// hit reports whether mac is the account's remembered credential and has
// not expired; an expired entry is dropped.
func (c *cache) hit(acct Account, mac [32]byte, now time.Time) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[acct]
	if !ok {
		return false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.remove(el)
		return false
	}
	return hmac.Equal(e.mac[:], mac[:])
}

// put remembers mac as the account's verified credential for one TTL.
func (c *cache) put(acct Account, mac [32]byte, now time.Time) {
	if c.ttl <= 0 || c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[acct]; ok {
		c.remove(el)
	}
	for front := c.order.Front(); front != nil && (len(c.entries) >= c.size || !now.Before(front.Value.(*cacheEntry).expires)); front = c.order.Front() {
		c.remove(front)
	}
	c.entries[acct] = c.order.PushBack(&cacheEntry{acct: acct, mac: mac, expires: now.Add(c.ttl)})
}

func (c *cache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*cacheEntry).acct)
	c.order.Remove(el)
}

// len is the number of entries, expired ones included until dropped.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
