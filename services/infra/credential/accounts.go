package credential

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultFreshness is the default AccountCacheOptions.Freshness: how long
// another replica's change to an account (a new password, a disabled or
// deleted account, other roles) may go unseen by an AccountCache.
const DefaultFreshness = 5 * time.Second

// Found is an account as its store has it now: what the lookup of an
// AccountCache returns.
type Found[P any] struct {
	// Account names the account for the lockout and the verified-credential
	// cache; for a name no store knows, Account{Name: name}.
	Account Account
	// Stored is the account's encoded PBKDF2 hash, "" when the name is
	// unknown or the account may not sign in (disabled).
	Stored string
	// Principal is what the account authenticates as: returned on a match
	// and cached with it, never for Stored "".
	Principal P
}

// AccountCacheOptions configures an AccountCache.
type AccountCacheOptions[P any] struct {
	// Lookup reads the account presented as name from its store. It is
	// called on a miss, once per Freshness for a cached account (one call
	// at a time per name), and by a background refresh. Required.
	Lookup func(ctx context.Context, name string) (Found[P], error)
	// Freshness is how long a cached account is answered without reading
	// it again (default DefaultFreshness); negative reads it on every
	// request, saving only the PBKDF2.
	Freshness time.Duration
}

// AccountCache answers a repeated credential with the principal it
// authenticated as, without reading the account from its store: it is
// keyed by an HMAC of (name, secret) under the verifier's per-process key,
// never by the secret, and holds the account, the stored hash the secret was
// verified against and the principal. A miss, a wrong secret (another HMAC)
// and an unknown or disabled account go through Lookup and Verifier.Verify
// with its dummy check, lockout and pool; a cached account is refused while
// it is locked out.
//
// The entry lives as the Verifier's cache says (idle TTL, maximum age,
// background refresh, which also reads the account again), and ends early:
// at once when Forget is called for the name (the replica's own changes to
// the account), and, for changes made elsewhere, on the first request after
// Freshness, which reads the account again and keeps the entry only if the
// stored hash and the account are unchanged (taking its new principal).
type AccountCache[P any] struct {
	v      *Verifier
	lookup func(ctx context.Context, name string) (Found[P], error)
	fresh  time.Duration
	cache  *cache[string, cachedAccount[P]]
	flight singleflight.Group
}

type cachedAccount[P any] struct {
	acct      Account
	stored    string
	principal P
	read      time.Time // when the account was last read from its store
}

// NewAccountCache returns an AccountCache sharing v's key, lifetimes, size
// bound, lockout and pool.
func NewAccountCache[P any](v *Verifier, opts AccountCacheOptions[P]) (*AccountCache[P], error) {
	if v == nil || opts.Lookup == nil {
		return nil, errors.New("account cache: verifier and lookup required")
	}
	if opts.Freshness == 0 {
		opts.Freshness = DefaultFreshness
	}
	return &AccountCache[P]{
		v: v, lookup: opts.Lookup, fresh: opts.Freshness,
		cache: newCache[string, cachedAccount[P]](v.cache.lifetimes, v.cache.size),
	}, nil
}

// Authenticate returns the principal of the account presented as name when
// secret is its secret. Errors are those of Verifier.Verify, or Lookup's.
func (c *AccountCache[P]) Authenticate(ctx context.Context, name, secret string) (P, error) {
	var zero P
	now := c.v.now()
	mac := c.v.mac("account", name, secret)
	if a, e, refresh, ok := c.cache.get(name, mac, now); ok {
		remaining, locked, tracked := c.v.lockout.check(a.acct, now)
		if locked {
			return zero, &RetryError{Err: ErrLocked, After: remaining}
		}
		if c.fresh < 0 || !now.Before(a.read.Add(c.fresh)) {
			r, err := c.reread(ctx, name, e, a)
			if err != nil {
				return zero, err
			}
			if !r.kept {
				return c.verify(ctx, r.epoch, name, secret, mac, r.found, r.read)
			}
			a.principal = r.found.Principal
		}
		if refresh {
			c.v.goBackground(ctx, func(ctx context.Context) { c.refresh(ctx, name, e, a, secret) })
		}
		if tracked {
			c.v.lockout.succeed(a.acct)
		}
		return a.principal, nil
	}
	epoch, read := c.cache.currentEpoch(), now
	found, err := c.lookup(ctx, name)
	if err != nil {
		return zero, err
	}
	return c.verify(ctx, epoch, name, secret, mac, found, read)
}

// verify checks secret against found and caches the match, unless a Forget
// happened since epoch (found may then be what was forgotten).
func (c *AccountCache[P]) verify(ctx context.Context, epoch uint64, name, secret string, mac [32]byte, found Found[P], read time.Time) (P, error) {
	if err := c.v.Verify(ctx, found.Account, found.Stored, secret); err != nil {
		var zero P
		return zero, err
	}
	c.cache.putIf(epoch, name, mac, cachedAccount[P]{acct: found.Account, stored: found.Stored, principal: found.Principal, read: read}, c.v.now())
	return found.Principal, nil
}

type reread[P any] struct {
	found Found[P]
	epoch uint64
	read  time.Time
	kept  bool
}

// reread reads the account of a cached entry again, once for all the
// requests that find it stale at the same time, and keeps the entry (with
// the principal read) only if the account still signs in with the hash the
// entry was verified against; otherwise the entry is dropped and the caller
// verifies against what was read. The read is shared, the verdict is each
// caller's own: a caller holding another entry of the name (one replaced
// meanwhile) judges its entry, not the first caller's.
func (c *AccountCache[P]) reread(ctx context.Context, name string, e *entry[string, cachedAccount[P]], a cachedAccount[P]) (reread[P], error) {
	res, err := shareFlight(ctx, &c.flight, name, func() (any, error) {
		r := reread[P]{epoch: c.cache.currentEpoch(), read: c.v.now()}
		var err error
		if r.found, err = c.lookup(ctx, name); err != nil {
			return nil, err
		}
		return r, nil
	})
	if err != nil {
		return reread[P]{}, err
	}
	r := res.(reread[P])
	r.kept = c.unchanged(a, r.found)
	if r.kept {
		c.cache.update(e, func(x *cachedAccount[P]) { x.principal, x.read = r.found.Principal, r.read })
	} else {
		c.cache.drop(e)
	}
	return r, nil
}

// unchanged reports whether found still signs in with the hash a was
// verified against.
func (c *AccountCache[P]) unchanged(a cachedAccount[P], found Found[P]) bool {
	return found.Stored != "" && found.Stored == a.stored && found.Account == a.acct
}

// refresh is the background re-verification of a cached account near its
// maximum age: it reads the account again and runs PBKDF2 against it. A
// changed or refused account drops the entry; a full pool or a failed read
// leave it for the next hit to try again.
func (c *AccountCache[P]) refresh(ctx context.Context, name string, e *entry[string, cachedAccount[P]], a cachedAccount[P], secret string) {
	read := c.v.now()
	found, err := c.lookup(ctx, name)
	if err != nil {
		c.cache.unmark(e)
		return
	}
	if !c.unchanged(a, found) {
		c.cache.drop(e)
		return
	}
	switch err := c.v.recheck(ctx, found.Account, found.Stored, secret); {
	case err == nil:
		c.cache.renew(e, c.v.now(), func(x *cachedAccount[P]) { x.principal, x.read = found.Principal, read })
	case errors.Is(err, ErrMismatch):
		c.cache.drop(e)
	default:
		c.cache.unmark(e)
	}
}

// Forget ends the cached credential of name at once: call it whenever the
// account presented as name changes in its store (password, roles,
// disabled, deleted). A lookup that began before Forget is not cached.
func (c *AccountCache[P]) Forget(name string) { c.cache.forget(name) }

// ForgetAll ends every cached credential, as Forget does for one name.
func (c *AccountCache[P]) ForgetAll() { c.cache.forgetAll() }
