package oauth

import (
	"crypto/sha256"
	"time"
)

// tokenCache remembers access tokens validAccess accepted, keyed by the
// SHA-256 of the token's exact text, so introspecting (or presenting) the
// same token again costs no signature check and no database read. An entry
// is used only
//
//   - before the token's exp (no leeway: a cached answer never outlives
//     the token), and
//   - while its tenant's stamp, taken before the token's record, client and
//     user were read, is still current: a revocation, or a change of the
//     client or user, raises the tenant's change count, so this replica
//     refuses the token at once, and another replica once it reads the
//     tenant's generation again (within the tracker's interval).
//
// The cache holds at most max tokens; a new one takes the place of an
// arbitrary old one. Entries are shared: callers only read them.
type tokenCache struct {
	tokens *boundedMap[[sha256.Size]byte, cachedToken]
}

type cachedToken struct {
	token *validToken
	st    stamp
	until time.Time // the token's exp
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{tokens: newBoundedMap[[sha256.Size]byte, cachedToken](size)}
}

func tokenKey(raw string) [sha256.Size]byte { return sha256.Sum256([]byte(raw)) }

// get returns the entry of key unless it expired at now (which it drops).
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (cachedToken, bool) {
	e, ok := c.tokens.get(key)
	if ok && !now.Before(e.until) {
		// A fresh entry put meanwhile may go too: it costs one check again.
		c.tokens.drop(key)
		return cachedToken{}, false
	}
	return e, ok
}

func (c *tokenCache) put(key [sha256.Size]byte, e cachedToken) { c.tokens.put(key, e) }

// drop forgets key: its entry is stale for good.
func (c *tokenCache) drop(key [sha256.Size]byte) { c.tokens.drop(key) }

func (c *tokenCache) len() int { return c.tokens.len() }
