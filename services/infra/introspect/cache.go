package introspect

import (
	"container/list"
	"sync"
	"time"
)

// cached is what the memory says about a token.
type cached int

const (
	cachedNothing  cached = iota // ask Identity
	cachedActive                 // active, answered less than an interval ago
	cachedInactive               // Identity said inactive; the token has not expired yet
)

// cache remembers Identity's answers by token hash, least recently used
// first out when full. Expired entries are dropped when looked up; the size
// bound keeps the rest in check.
type cache struct {
	size int

	mu      sync.Mutex
	entries map[[32]byte]*list.Element // of *entry
	order   list.List                  // least recently used first
}

type entry struct {
	key    [32]byte
	active bool
	// sent is when the call that answered "active" was sent: the answer
	// reflects Identity at some instant after it, so it is good until
	// sent + interval.
	sent time.Time
	// exp is the token's expiry; zero when it has none. Nothing is
	// remembered about a token past it.
	exp time.Time
}

func newCache(size int) *cache {
	return &cache{size: size, entries: make(map[[32]byte]*list.Element, min(size, 1024))}
}

// lookup says what is remembered about key at now. A strict lookup ignores
// remembered "active" answers: only a fresh call counts for it.
func (c *cache) lookup(key [32]byte, now time.Time, interval time.Duration, strict bool) cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return cachedNothing
	}
	e := el.Value.(*entry)
	if !e.exp.IsZero() && !now.Before(e.exp) {
		c.remove(el)
		return cachedNothing
	}
	if !e.active {
		c.order.MoveToBack(el)
		return cachedInactive
	}
	if now.Sub(e.sent) >= interval {
		c.remove(el)
		return cachedNothing
	}
	if strict {
		return cachedNothing
	}
	c.order.MoveToBack(el)
	return cachedActive
}

// putActive remembers an "active" answer from a call sent at sent. It never
// replaces an "inactive" answer (a revoked token never becomes active again)
// nor a fresher "active" one.
func (c *cache) putActive(key [32]byte, sent, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry)
		if !e.active || !sent.After(e.sent) {
			return
		}
		e.sent = sent
		c.order.MoveToBack(el)
		return
	}
	c.add(&entry{key: key, active: true, sent: sent, exp: exp})
}

// putInactive remembers an "inactive" answer until exp (zero: until the
// entry is evicted).
func (c *cache) putInactive(key [32]byte, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry)
		e.active, e.exp = false, exp
		c.order.MoveToBack(el)
		return
	}
	c.add(&entry{key: key, exp: exp})
}

func (c *cache) add(e *entry) {
	for len(c.entries) >= c.size {
		c.remove(c.order.Front())
	}
	c.entries[e.key] = c.order.PushBack(e)
}

func (c *cache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*entry).key)
	c.order.Remove(el)
}

// len is the number of entries, expired ones included until dropped.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
