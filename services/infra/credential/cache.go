package credential

import (
	"container/list"
	"crypto/hmac"
	"sync"
	"time"
)

// lifetimes are the three bounds of a cached credential (see Options).
type lifetimes struct {
	idle    time.Duration // <= 0: caching disabled
	maxAge  time.Duration
	refresh time.Duration // window before maxAge in which a hit starts a refresh
}

// cache remembers, per key, the MAC of the last credential verified and a
// value derived from it. An entry ends when it has not been used for the
// idle TTL, or when its last PBKDF2 check is maxAge old; a hit within the
// refresh window before maxAge asks its caller, once, to re-verify it in
// the background (renew). Entries are kept in order of last use, so a full
// cache drops the least recently used entry, expired or not, and never more:
// one more PBKDF2 for the key dropped is the whole cost of a full cache.
//
// The callers' background work holds an *entry: renew, update and drop act
// only when that same entry is still cached, so work begun before a Forget
// (a changed password, say) can never bring the forgotten entry back.
type cache[K comparable, V any] struct {
	lifetimes
	size int

	mu      sync.Mutex
	entries map[K]*list.Element // of *entry[K, V]
	order   list.List           // least recently used first
	// epoch counts the Forgets: a value read from the store before a
	// Forget must not be put after it (see putIf).
	epoch uint64
}

type entry[K comparable, V any] struct {
	key        K
	mac        [32]byte
	val        V
	verified   time.Time // last PBKDF2 check: where maxAge counts from
	used       time.Time // last hit: where the idle TTL counts from
	refreshing bool      // a background refresh has been asked for
}

func newCache[K comparable, V any](lt lifetimes, size int) *cache[K, V] {
	return &cache[K, V]{lifetimes: lt, size: size, entries: map[K]*list.Element{}}
}

func (c *cache[K, V]) enabled() bool { return c.idle > 0 && c.size > 0 }

// get returns a copy of the value cached for key when mac is the key's
// remembered credential and the entry lives; e identifies the entry for
// later renew, update or drop calls. refresh is true for the one hit that
// should start a background refresh. An expired entry is dropped; an entry
// whose MAC differs (another secret presented) is left alone.
func (c *cache[K, V]) get(key K, mac [32]byte, now time.Time) (val V, e *entry[K, V], refresh, ok bool) {
	if !c.enabled() {
		return val, nil, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.entries[key]
	if !found {
		return val, nil, false, false
	}
	e = el.Value.(*entry[K, V])
	if !now.Before(e.used.Add(c.idle)) || !now.Before(e.verified.Add(c.maxAge)) {
		c.remove(el)
		return val, nil, false, false
	}
	if !hmac.Equal(e.mac[:], mac[:]) {
		return val, nil, false, false
	}
	e.used = now
	c.order.MoveToBack(el)
	if !e.refreshing && !now.Before(e.verified.Add(c.maxAge-c.refresh)) {
		e.refreshing, refresh = true, true
	}
	return e.val, e, refresh, true
}

// put caches val for key, verified now with the credential mac, replacing
// any entry of key.
func (c *cache[K, V]) put(key K, mac [32]byte, val V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, mac, val, now)
}

// putIf is put unless a Forget happened since epoch was read: the value
// may then describe what was forgotten.
func (c *cache[K, V]) putIf(epoch uint64, key K, mac [32]byte, val V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == epoch {
		c.putLocked(key, mac, val, now)
	}
}

func (c *cache[K, V]) putLocked(key K, mac [32]byte, val V, now time.Time) {
	if !c.enabled() {
		return
	}
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	for front := c.order.Front(); front != nil && (len(c.entries) >= c.size || !now.Before(front.Value.(*entry[K, V]).used.Add(c.idle))); front = c.order.Front() {
		c.remove(front)
	}
	c.entries[key] = c.order.PushBack(&entry[K, V]{key: key, mac: mac, val: val, verified: now, used: now})
}

// currentEpoch is the epoch to pass to putIf.
func (c *cache[K, V]) currentEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// live returns the element of e when e is still the entry cached for its key.
func (c *cache[K, V]) live(e *entry[K, V]) *list.Element {
	if el, ok := c.entries[e.key]; ok && el.Value.(*entry[K, V]) == e {
		return el
	}
	return nil
}

// renew records a successful background re-verification of e: its max
// age starts again now. change, when not nil, updates its value.
func (c *cache[K, V]) renew(e *entry[K, V], now time.Time, change func(*V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live(e) != nil {
		e.verified, e.refreshing = now, false
		if change != nil {
			change(&e.val)
		}
	}
}

// update changes the value of e, if still cached.
func (c *cache[K, V]) update(e *entry[K, V], change func(*V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live(e) != nil {
		change(&e.val)
	}
}

// unmark lets the next hit of e ask for a refresh again (this one could
// not be done, e.g. the pool was full).
func (c *cache[K, V]) unmark(e *entry[K, V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live(e) != nil {
		e.refreshing = false
	}
}

// drop removes e, if still cached.
func (c *cache[K, V]) drop(e *entry[K, V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.live(e); el != nil {
		c.remove(el)
	}
}

// forget removes the entry of key, and keeps values read before from
// being put (see putIf).
func (c *cache[K, V]) forget(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
}

// forgetAll empties the cache, and keeps values read before from being put.
func (c *cache[K, V]) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.entries)
	c.order.Init()
}

func (c *cache[K, V]) remove(el *list.Element) {
	delete(c.entries, el.Value.(*entry[K, V]).key)
	c.order.Remove(el)
}

// len is the number of entries, expired ones included until dropped.
func (c *cache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// has reports, without counting a use, whether mac is the live credential of key.
func (c *cache[K, V]) has(key K, mac [32]byte, now time.Time) bool {
	if !c.enabled() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return false
	}
	e := el.Value.(*entry[K, V])
	return now.Before(e.used.Add(c.idle)) && now.Before(e.verified.Add(c.maxAge)) && hmac.Equal(e.mac[:], mac[:])
}
