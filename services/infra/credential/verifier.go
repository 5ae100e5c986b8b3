// Package credential verifies secrets that people and clients present
// (passwords, client secrets) against their stored PBKDF2 hashes, for every
// service alike. Around the PBKDF2 check it keeps what each service would
// otherwise write again and get subtly different:
//
//   - an unknown or disabled account, and a presented secret holding control
//     bytes, cost one dummy PBKDF2 and get the same answer as a wrong secret;
//   - a keyed cache of verified credentials, bounded, filled through a single
//     flight, so repeated and concurrent requests with one credential pay one
//     PBKDF2 (see "Cache lifetimes" below);
//   - a per-account lockout with backoff after consecutive failures, which
//     refuses further attempts without hashing and says when to retry;
//   - a bounded pool for uncached checks, so a flood of unknown or wrong
//     credentials is refused as busy instead of starving the requests whose
//     credentials are cached (those never enter the pool);
//   - an AccountCache that also remembers what a verified credential
//     authenticated as (a principal), so that a request with a known
//     credential need not read its account from the store at all.
//
// # Cache lifetimes
//
// A cached credential is forgotten when it has not been used for the idle
// TTL (Options.CacheTTL, default 5 minutes), and is never answered from the
// cache once its last PBKDF2 check is older than the maximum age
// (Options.CacheMaxAge, default 1 hour). A busy credential does not reach
// that age: the first hit within the refresh window before it
// (Options.CacheRefreshWindow, default 5 minutes or the idle TTL if longer,
// at most half the maximum age)
// starts one re-verification in the background, through the single flight
// and the pool, and the hit itself is answered at once; a successful
// re-verification starts the maximum age again, a failed one drops the
// entry. With the refresh window at least the idle TTL (as by default), a
// credential used at least once per idle TTL never expires in a request; an
// idle one expires, and its next request pays one PBKDF2 again. A full pool
// skips the re-verification; the next hit asks again.
//
// An AccountCache entry also ends when its account changes in the store:
// at once on the replica that made the change (AccountCache.Forget), and
// within the freshness interval (AccountCacheOptions.Freshness, default 5
// seconds) on the others, where the first request after it reads the
// account again and keeps the entry only if the stored hash is unchanged.
package credential

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/passthru-dev/passthru/services/infra/password"
)

// Defaults of Options.
const (
	DefaultCacheTTL          = 5 * time.Minute
	DefaultCacheMaxAge       = time.Hour
	DefaultRefreshWindow     = 5 * time.Minute
	DefaultCacheSize         = 10_000
	DefaultLockoutThreshold  = 5
	DefaultLockoutBackoff    = time.Minute
	DefaultLockoutMaxBackoff = 15 * time.Minute
	DefaultLockoutWindow     = 15 * time.Minute
	DefaultLockoutSize       = 100_000
	// busyRetryAfter is what a refused uncached check is told: a PBKDF2
	// check takes a fraction of a second, so the pool drains within one.
	busyRetryAfter = time.Second
)

var (
	// ErrMismatch is the one answer for a wrong secret, an unknown or
	// disabled account and a secret that may not be presented: callers
	// must not tell these apart to the client.
	ErrMismatch = errors.New("invalid credentials")
	// ErrLocked is wrapped by the RetryError of an account locked after
	// too many consecutive failures.
	ErrLocked = errors.New("too many failed attempts for the account")
	// ErrBusy is wrapped by the RetryError of an uncached check refused
	// because the pool and its queue are full.
	ErrBusy = errors.New("too many credential checks in progress")
)

// RetryError refuses an attempt that may succeed later: Err is ErrLocked or
// ErrBusy, After how long the client should wait (HTTP Retry-After).
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return fmt.Sprintf("%v: retry after %v", e.Err, e.After) }

// Unwrap returns ErrLocked or ErrBusy.
func (e *RetryError) Unwrap() error { return e.Err }

// Account names whose credentials are checked: Name (a username or a client
// id) is unique within Realm (a KMS realm, one tenant's users, the clients).
// The cache and the lockout are kept per account.
type Account struct {
	Realm string
	Name  string
}

// Options configures a Verifier. Zero values take the defaults.
type Options struct {
	// Hasher sets the cost of the dummy check for unknown accounts; it
	// must use the iterations of the stored hashes so that both cost alike.
	Hasher password.Hasher
	// Now is the clock (default time.Now); tests move it instead of sleeping.
	Now func() time.Time

	// CacheTTL is the idle TTL: how long a verified credential is
	// remembered after its last use (default DefaultCacheTTL); negative
	// disables the cache, the AccountCache's too.
	CacheTTL time.Duration
	// CacheMaxAge is how long after its last PBKDF2 check a credential may
	// be answered from the cache, however busy (default the larger of
	// DefaultCacheMaxAge and CacheTTL).
	CacheMaxAge time.Duration
	// CacheRefreshWindow is how long before CacheMaxAge a hit starts a
	// background re-verification that renews the entry (default the larger
	// of DefaultRefreshWindow and CacheTTL, at most half of CacheMaxAge). At
	// least CacheTTL, no credential used once per CacheTTL expires in a
	// request; it must be shorter than CacheMaxAge.
	CacheRefreshWindow time.Duration
	// CacheSize bounds the remembered credentials (default DefaultCacheSize).
	CacheSize int

	// LockoutThreshold is the number of consecutive failures that lock an
	// account (default DefaultLockoutThreshold).
	LockoutThreshold int
	// LockoutBackoff is the first lock's length; each further lock of the
	// same account doubles it, up to LockoutMaxBackoff.
	LockoutBackoff    time.Duration
	LockoutMaxBackoff time.Duration
	// LockoutWindow is how long an account's failures and lock count are
	// remembered after its last failure or lock (default DefaultLockoutWindow).
	LockoutWindow time.Duration
	// LockoutSize bounds the accounts tracked (default DefaultLockoutSize).
	LockoutSize int

	// PoolSize is how many uncached checks run at once (default half the
	// CPUs, at least one: the other half keeps serving cached requests).
	PoolSize int
	// PoolQueue is how many more uncached checks may wait for a slot
	// (default 16 per slot); beyond that a check is refused with ErrBusy.
	PoolQueue int
}

func (o *Options) setDefaults() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defDur(&o.CacheTTL, DefaultCacheTTL)
	defDur(&o.CacheMaxAge, max(DefaultCacheMaxAge, o.CacheTTL))
	defDur(&o.CacheRefreshWindow, min(max(DefaultRefreshWindow, o.CacheTTL), o.CacheMaxAge/2))
	def(&o.CacheSize, DefaultCacheSize)
	def(&o.LockoutThreshold, DefaultLockoutThreshold)
	defDur(&o.LockoutBackoff, DefaultLockoutBackoff)
	defDur(&o.LockoutMaxBackoff, max(DefaultLockoutMaxBackoff, o.LockoutBackoff))
	defDur(&o.LockoutWindow, DefaultLockoutWindow)
	def(&o.LockoutSize, DefaultLockoutSize)
	def(&o.PoolSize, max(1, runtime.GOMAXPROCS(0)/2))
	def(&o.PoolQueue, 16*o.PoolSize)
	switch {
	case o.CacheSize < 0, o.LockoutSize < 0, o.PoolSize < 0, o.PoolQueue < 0:
		return errors.New("credential verifier: sizes must not be negative")
	case o.LockoutThreshold < 0, o.LockoutBackoff < 0, o.LockoutWindow < 0:
		return errors.New("credential verifier: lockout threshold, backoff and window must not be negative")
	case o.CacheMaxAge < 0, o.CacheRefreshWindow < 0, o.CacheRefreshWindow >= o.CacheMaxAge:
		return errors.New("credential verifier: the cache refresh window must be shorter than the maximum age, neither negative")
	case o.LockoutMaxBackoff < o.LockoutBackoff:
		return errors.New("credential verifier: the maximum lockout backoff must not be shorter than the first")
	}
	return nil
}

// Verifier checks presented secrets. It is safe for concurrent use; one
// Verifier serves every credential check of a service, so that they share
// one pool and one count.
type Verifier struct {
	hasher  password.Hasher
	now     func() time.Time
	key     [32]byte // per-process HMAC key of the caches
	macs    sync.Pool
	cache   *cache[Account, struct{}]
	lockout *lockout
	pool    *Pool
	flight  singleflight.Group
	checks  atomic.Int64
	// background counts the re-verifications running after the hit that
	// started them has been answered; tests wait for them.
	background sync.WaitGroup
}

// New returns a Verifier; invalid options are refused.
func New(opts Options) (*Verifier, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	lt := lifetimes{idle: opts.CacheTTL, maxAge: opts.CacheMaxAge, refresh: opts.CacheRefreshWindow}
	v := &Verifier{
		hasher:  opts.Hasher,
		now:     opts.Now,
		cache:   newCache[Account, struct{}](lt, opts.CacheSize),
		lockout: newLockout(opts),
		pool:    NewPool(opts.PoolSize, opts.PoolQueue),
	}
	// crypto/rand.Read never fails: it crashes the program instead.
	_, _ = rand.Read(v.key[:])
	v.macs.New = func() any { return &macState{h: hmac.New(sha256.New, v.key[:])} }
	return v, nil
}

// Checks counts the PBKDF2 verifications (real and dummy) since start: the
// cost the cache and the single flight exist to avoid, counted for tests
// and benchmarks.
func (v *Verifier) Checks() int64 { return v.checks.Load() }

// Pool is the pool uncached checks run in.
func (v *Verifier) Pool() *Pool { return v.pool }

// Verify checks secret, presented for acct, against stored, the account's
// encoded PBKDF2 hash. Pass stored "" when the account does not exist or may
// not sign in (disabled): the check then costs what a wrong secret costs.
//
// It returns nil on a match; an error wrapping ErrMismatch for a wrong
// secret, an unknown account, a secret holding control bytes or an unusable
// stored hash (the latter also wraps password.ErrMalformed, for logs); a
// *RetryError wrapping ErrLocked while the account is locked, or ErrBusy
// when the pool is full; or the context's error when ctx ended while waiting
// for the pool. A lock is checked before anything else, so during a lock
// even the right secret is refused, without hashing.
//
// A hit near the end of the cached credential's maximum age starts its
// re-verification in the background (see the package documentation) and
// returns without waiting for it.
func (v *Verifier) Verify(ctx context.Context, acct Account, stored, secret string) error {
	now := v.now()
	remaining, locked, tracked := v.lockout.check(acct, now)
	if locked {
		return &RetryError{Err: ErrLocked, After: remaining}
	}
	mac := v.credentialMAC(acct, stored, secret)
	if stored != "" {
		if _, e, refresh, ok := v.cache.get(acct, mac, now); ok {
			if refresh {
				v.goBackground(ctx, func(ctx context.Context) {
					switch err := v.recheck(ctx, acct, stored, secret); {
					case err == nil: // recheck cached it anew
					case errors.Is(err, ErrMismatch):
						v.cache.drop(e)
					default:
						v.cache.unmark(e)
					}
				})
			}
			if tracked {
				v.lockout.succeed(acct)
			}
			return nil
		}
	}
	_, err := shareFlight(ctx, &v.flight, string(mac[:]), func() (any, error) {
		return nil, v.check(ctx, acct, mac, stored, secret)
	})
	switch {
	case err == nil:
		v.lockout.succeed(acct)
	case errors.Is(err, ErrMismatch):
		v.lockout.fail(acct, v.now())
	}
	return err
}

// shareFlight runs fn once for all concurrent callers of key. A shared
// flight runs under its first caller's context: when that caller went away,
// one still waiting tries again.
func shareFlight(ctx context.Context, g *singleflight.Group, key string, fn func() (any, error)) (any, error) {
	for {
		res, err, _ := g.Do(key, fn)
		if (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return res, err
	}
}

// check is one flight: the cache again (an earlier flight may have filled it
// since Verify looked), then a slot of the pool, then PBKDF2.
func (v *Verifier) check(ctx context.Context, acct Account, mac [32]byte, stored, secret string) error {
	if stored != "" && v.cache.has(acct, mac, v.now()) {
		return nil
	}
	return v.hash(ctx, acct, mac, stored, secret)
}

// recheck verifies secret against stored again whether or not it is
// cached, as a background refresh does, through the single flight (one
// refresh per credential at a time) and the pool (refused with ErrBusy
// rather than queued without bound). A match is cached anew.
func (v *Verifier) recheck(ctx context.Context, acct Account, stored, secret string) error {
	mac := v.credentialMAC(acct, stored, secret)
	_, err, _ := v.flight.Do("refresh:"+string(mac[:]), func() (any, error) {
		return nil, v.hash(ctx, acct, mac, stored, secret)
	})
	return err
}

// hash takes a slot of the pool and runs PBKDF2; a match is cached.
func (v *Verifier) hash(ctx context.Context, acct Account, mac [32]byte, stored, secret string) error {
	ticket, err := v.pool.Reserve()
	if err != nil {
		return &RetryError{Err: err, After: busyRetryAfter}
	}
	defer ticket.Release()
	if err := ticket.Wait(ctx); err != nil {
		return fmt.Errorf("wait for a credential check: %w", err)
	}
	v.checks.Add(1)
	if stored == "" || ValidateSecret(secret) != nil {
		// Refused before hashing the secret against anything real, at the
		// cost of a real check: a control byte is not a hint to the client.
		v.hasher.VerifyDummy(secret)
		return ErrMismatch
	}
	if err := password.Verify(stored, secret); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			return ErrMismatch
		}
		return fmt.Errorf("%w: stored hash of %s/%s: %w", ErrMismatch, acct.Realm, acct.Name, err)
	}
	v.cache.put(acct, mac, struct{}{}, v.now())
	return nil
}

// goBackground runs fn in a goroutine of its own, under ctx without its
// cancellation: the request that started it is answered, and may end,
// before fn does.
func (v *Verifier) goBackground(ctx context.Context, fn func(context.Context)) {
	ctx = context.WithoutCancel(ctx)
	v.background.Go(func() { fn(ctx) })
}

// waitBackground waits for the background re-verifications started so far.
func (v *Verifier) waitBackground() { v.background.Wait() }

type macState struct {
	h        hash.Hash
	buf, sum []byte
}

// credentialMAC is the key of the verified-credential cache. It holds the
// stored hash, so a changed password stops matching at once, in any
// process.
func (v *Verifier) credentialMAC(acct Account, stored, secret string) [32]byte {
	return v.mac("verify", acct.Realm, acct.Name, stored, secret)
}

// mac is HMAC-SHA256 under the per-process key of the length-prefixed
// fields (so no two inputs share an encoding); the first field names the
// use, so that no two caches share a key. It never holds the secret
// itself, and is useless outside this process.
func (v *Verifier) mac(fields ...string) [32]byte {
	st := v.macs.Get().(*macState)
	buf := st.buf[:0]
	for _, f := range fields {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	st.h.Reset()
	st.h.Write(buf)
	st.sum = st.h.Sum(st.sum[:0])
	var out [32]byte
	copy(out[:], st.sum)
	// The buffer held the secret: clear it before it waits in the pool.
	clear(buf)
	st.buf = buf
	v.macs.Put(st)
	return out
}
