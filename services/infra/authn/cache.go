package authn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// DefaultCacheTTL is how long a successful Basic credential is remembered.
const DefaultCacheTTL = 5 * time.Minute

// CredentialCache remembers successful Basic credentials so a repeated
// request does not pay PBKDF2 again. An entry is keyed by realm and username
// and holds HMAC-SHA256 under a per-process random key of (realm, username,
// stored password hash, password): never the password, and useless outside
// this process. Because the stored hash is inside the MAC, a password changed
// anywhere (even by another process) stops matching at once; Invalidate
// drops the entry on change, disable and delete as well.
type CredentialCache struct {
	key [32]byte
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	mac     []byte
	expires time.Time
}

// NewCredentialCache returns an empty cache. ttl <= 0 means DefaultCacheTTL;
// now nil means time.Now.
func NewCredentialCache(ttl time.Duration, now func() time.Time) *CredentialCache {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	c := &CredentialCache{ttl: ttl, now: now, entries: map[string]cacheEntry{}}
	// crypto/rand.Read never fails (Go 1.24+): it crashes the program instead.
	_, _ = rand.Read(c.key[:])
	return c
}

func cacheKey(realm, username string) string {
	return realm + "\x00" + username
}

// mac length-prefixes every field so that no two inputs share an encoding.
func (c *CredentialCache) mac(realm, username, hash, password string) []byte {
	m := hmac.New(sha256.New, c.key[:])
	for _, f := range []string{realm, username, hash, password} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

// Check reports whether (realm, username, password) was verified against
// the stored hash within the TTL.
func (c *CredentialCache) Check(realm, username, hash, password string) bool {
	want := c.mac(realm, username, hash, password)
	k := cacheKey(realm, username)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, k)
		return false
	}
	return hmac.Equal(e.mac, want)
}

// Put remembers a successful verification.
func (c *CredentialCache) Put(realm, username, hash, password string) {
	m := c.mac(realm, username, hash, password)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Drop expired entries now and then so the map stays bounded by the
	// number of users seen within one TTL.
	if len(c.entries)%64 == 63 {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	c.entries[cacheKey(realm, username)] = cacheEntry{mac: m, expires: now.Add(c.ttl)}
}

// Invalidate forgets the user's cached credentials.
func (c *CredentialCache) Invalidate(realm, username string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, cacheKey(realm, username))
}

// Len is the number of entries (expired ones included until touched).
func (c *CredentialCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
