package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/passthru-dev/passthru/services/identity/store"
)

// Client authentication methods.
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
	AuthNone  = "none"
)

// parsePostForm reads an application/x-www-form-urlencoded body. Parameters
// in the query string are ignored: credentials and grants travel in the body.
func parsePostForm(r *http.Request) *Error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return badRequest("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("invalid_request", "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return badRequest("invalid_request", "parameter "+k+" given more than once")
		}
	}
	return nil
}

// authenticateClient authenticates the calling client from a parsed form
// request: client_secret_basic, client_secret_post, or (when allowPublic)
// none for a public client naming itself by client_id.
func (s *Server) authenticateClient(r *http.Request, allowPublic bool) (*store.Client, *Error) {
	ctx := r.Context()
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id) // RFC 6749 §2.3.1: form-encoded before Basic
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "malformed Basic credentials", basic: true}
		}
		if r.PostForm.Get("client_secret") != "" {
			return nil, badRequest("invalid_request", "use exactly one client authentication method")
		}
		if fid := r.PostForm.Get("client_id"); fid != "" && fid != id {
			return nil, badRequest("invalid_request", "client_id does not match the authenticated client")
		}
	} else {
		id = r.PostForm.Get("client_id")
		secret = r.PostForm.Get("client_secret")
	}
	fail := &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", basic: basic}
	if id == "" {
		fail.Description = "client authentication required"
		return nil, fail
	}
	client, err := s.cfg.Store.Client(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return nil, serverError(err)
		}
		if secret != "" {
			s.verifyDummy(secret) // an unknown client costs what a wrong secret costs
		}
		return nil, fail
	}
	if client.Disabled {
		if secret != "" {
			s.verifyDummy(secret) // a disabled client costs what a wrong secret costs
		}
		return nil, fail
	}
	if client.Public() {
		if !allowPublic || secret != "" || basic {
			return nil, fail
		}
		return client, nil
	}
	if secret == "" {
		return nil, fail
	}
	if !s.verifySecret(client, secret) {
		return nil, fail
	}
	return client, nil
}

// verifySecret checks a confidential client's secret: the PBKDF2 cost is
// paid once per secret and cache period, not on every request.
func (s *Server) verifySecret(c *store.Client, secret string) bool {
	if s.secrets.ok(c.ClientID, secret, c.SecretHash) {
		return true
	}
	if err := s.verifyPassword(c.SecretHash, secret); err != nil {
		return false
	}
	s.secrets.remember(c.ClientID, secret, c.SecretHash)
	return true
}

// secretCache remembers recently verified client secrets so a busy client
// does not pay PBKDF2 on every request. Entries are keyed by an HMAC (with a
// random per-process key) of client id, secret and stored hash: the secret is
// never kept, and rotating the secret changes the stored hash, which
// invalidates the entry.
type secretCache struct {
	ttl time.Duration
	now func() time.Time
	key []byte

	mu      sync.Mutex
	entries map[string]time.Time
}

const secretCacheMax = 10_000

func newSecretCache(ttl time.Duration, now func() time.Time) *secretCache {
	return &secretCache{ttl: ttl, now: now, key: randomBytes(32), entries: map[string]time.Time{}}
}

func (c *secretCache) entryKey(id, secret, hash string) string {
	m := hmac.New(sha256.New, c.key)
	for _, p := range []string{id, secret, hash} {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return string(m.Sum(nil))
}

func (c *secretCache) ok(id, secret, hash string) bool {
	if c.ttl <= 0 {
		return false
	}
	k := c.entryKey(id, secret, hash)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, found := c.entries[k]
	if !found {
		return false
	}
	if !c.now().Before(exp) {
		delete(c.entries, k)
		return false
	}
	return true
}

func (c *secretCache) remember(id, secret, hash string) {
	if c.ttl <= 0 {
		return
	}
	k := c.entryKey(id, secret, hash)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= secretCacheMax {
		c.entries = map[string]time.Time{} // bounded memory; a miss only costs one PBKDF2
	}
	c.entries[k] = c.now().Add(c.ttl)
}
