package credential

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fakeclock "github.com/passthru-dev/passthru/testkit/clock"
)

// accountStore is the store of an AccountCache under test: accounts by
// name, their principal a string, and a count of the reads.
type accountStore struct {
	mu     sync.Mutex
	byName map[string]Found[string]
	reads  int
	// during, when set, runs inside each read (once), as a concurrent
	// change would.
	during func()
}

func (s *accountStore) lookup(_ context.Context, name string) (Found[string], error) {
	s.mu.Lock()
	s.reads++
	during := s.during
	s.during = nil
	f, ok := s.byName[name]
	s.mu.Unlock()
	if during != nil {
		during()
	}
	if !ok {
		return Found[string]{Account: Account{Name: name}}, nil
	}
	return f, nil
}

func (s *accountStore) set(name string, f Found[string]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byName[name] = f
}

func (s *accountStore) delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byName, name)
}

func (s *accountStore) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

type accountEnv struct {
	clk    *fakeclock.Fake
	v      *Verifier
	store  *accountStore
	cache  *AccountCache[string]
	stored string
}

var aliceAcct = Account{Realm: "local", Name: "alice"}

func newAccountEnv(t *testing.T, edit func(*Options, *AccountCacheOptions[string])) *accountEnv {
	t.Helper()
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	env := &accountEnv{clk: clk, store: &accountStore{byName: map[string]Found[string]{}}, stored: hashOf(t, "right-password")}
	o := Options{Hasher: fast, Now: clk.Now, PoolSize: 1, CacheTTL: testIdle, CacheMaxAge: testMaxAge, CacheRefreshWindow: testRefresh}
	ao := AccountCacheOptions[string]{Lookup: env.store.lookup}
	if edit != nil {
		edit(&o, &ao)
	}
	var err error
	env.v, err = New(o)
	require.NoError(t, err)
	env.cache, err = NewAccountCache(env.v, ao)
	require.NoError(t, err)
	env.store.set("alice", Found[string]{Account: aliceAcct, Stored: env.stored, Principal: "alice:writer"})
	return env
}

// auth authenticates alice and returns the principal, the error, the
// store reads and the PBKDF2 checks it cost.
func (e *accountEnv) auth(ctx context.Context, secret string) (p string, err error, reads int, checks int64) {
	r0, c0 := e.store.readCount(), e.v.Checks()
	p, err = e.cache.Authenticate(ctx, "alice", secret)
	return p, err, e.store.readCount() - r0, e.v.Checks() - c0
}

func TestAccountCache(t *testing.T) {
	env := newAccountEnv(t, nil)
	ctx := t.Context()
	type want struct {
		principal string
		err       error
		reads     int
		checks    int64
	}
	steps := []struct {
		desc    string
		advance time.Duration
		change  func()
		secret  string
		want    want
	}{
		{desc: "first time reads and hashes", secret: "right-password", want: want{principal: "alice:writer", reads: 1, checks: 1}},
		{desc: "a hit reads nothing and hashes nothing", advance: time.Second, secret: "right-password", want: want{principal: "alice:writer"}},
		{desc: "a wrong secret misses: read and verified", secret: "wrong-password", want: want{err: ErrMismatch, reads: 1, checks: 1}},
		{desc: "the right one is still cached", secret: "right-password", want: want{principal: "alice:writer"}},
		{
			desc: "roles changed elsewhere: unseen before the freshness interval",
			change: func() {
				env.store.set("alice", Found[string]{Account: aliceAcct, Stored: env.stored, Principal: "alice:reader"})
			},
			advance: DefaultFreshness - 2*time.Second, secret: "right-password", want: want{principal: "alice:writer"},
		},
		{desc: "after it, one read takes the new principal, no PBKDF2", advance: time.Second, secret: "right-password", want: want{principal: "alice:reader", reads: 1}},
		{desc: "and is fresh again", advance: time.Second, secret: "right-password", want: want{principal: "alice:reader"}},
		{
			desc: "password changed elsewhere: refused after the interval",
			change: func() {
				env.store.set("alice", Found[string]{Account: aliceAcct, Stored: hashOf(t, "new-password"), Principal: "alice:reader"})
			},
			advance: DefaultFreshness, secret: "right-password", want: want{err: ErrMismatch, reads: 1, checks: 1},
		},
		{desc: "the new password works", secret: "new-password", want: want{principal: "alice:reader", reads: 1, checks: 1}},
		{
			desc:    "disabled elsewhere: refused after the interval, at the cost of a dummy check",
			change:  func() { env.store.set("alice", Found[string]{Account: aliceAcct, Principal: "alice:reader"}) },
			advance: DefaultFreshness, secret: "new-password", want: want{err: ErrMismatch, reads: 1, checks: 1},
		},
		{
			desc: "enabled again",
			change: func() {
				env.store.set("alice", Found[string]{Account: aliceAcct, Stored: env.stored, Principal: "alice:admin"})
			},
			// The verifier remembers one credential per account: since
			// new-password, right-password is hashed again.
			secret: "right-password", want: want{principal: "alice:admin", reads: 1, checks: 1},
		},
		{
			desc:    "deleted elsewhere: refused after the interval",
			change:  func() { env.store.delete("alice") },
			advance: DefaultFreshness, secret: "right-password", want: want{err: ErrMismatch, reads: 1, checks: 1},
		},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			if st.change != nil {
				st.change()
			}
			env.clk.Advance(st.advance)
			p, err, reads, checks := env.auth(ctx, st.secret)
			if st.want.err != nil {
				require.ErrorIs(t, err, st.want.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, st.want.principal, p)
			assert.Equal(t, st.want.reads, reads, "store reads")
			assert.Equal(t, st.want.checks, checks, "PBKDF2 checks")
		})
	}
}

// TestAccountCacheForget: the replica's own changes end the entry at once.
func TestAccountCacheForget(t *testing.T) {
	env := newAccountEnv(t, nil)
	ctx := t.Context()
	_, err, _, _ := env.auth(ctx, "right-password")
	require.NoError(t, err)

	env.store.set("alice", Found[string]{Account: aliceAcct, Stored: hashOf(t, "new-password"), Principal: "alice:writer"})
	env.cache.Forget("alice")
	_, err, reads, _ := env.auth(ctx, "right-password")
	require.ErrorIs(t, err, ErrMismatch, "old password refused at once")
	assert.Equal(t, 1, reads)

	_, err, _, _ = env.auth(ctx, "new-password")
	require.NoError(t, err)
	env.store.set("alice", Found[string]{Account: aliceAcct, Stored: env.store.byName["alice"].Stored, Principal: "alice:admin"})
	env.cache.ForgetAll()
	p, err, reads, checks := env.auth(ctx, "new-password")
	require.NoError(t, err)
	assert.Equal(t, "alice:admin", p, "new roles at once")
	assert.Equal(t, 1, reads)
	assert.Zero(t, checks, "the verified credential itself is still cached: no PBKDF2 for a role change")

	t.Run("a read begun before a Forget is not cached", func(t *testing.T) {
		env.cache.ForgetAll()
		env.store.during = func() { env.cache.Forget("alice") }
		_, err, reads, _ := env.auth(ctx, "new-password")
		require.NoError(t, err)
		assert.Equal(t, 1, reads)
		_, err, reads, _ = env.auth(ctx, "new-password")
		require.NoError(t, err)
		assert.Equal(t, 1, reads, "read again: the earlier read was not cached")
	})
}

// TestAccountCacheLockout: a cached account is refused, without reading
// or hashing, while wrong secrets have it locked out.
func TestAccountCacheLockout(t *testing.T) {
	env := newAccountEnv(t, func(o *Options, _ *AccountCacheOptions[string]) { o.LockoutThreshold = 2 })
	ctx := t.Context()
	_, err, _, _ := env.auth(ctx, "right-password")
	require.NoError(t, err)
	for range 2 {
		_, err, _, _ := env.auth(ctx, "wrong-password")
		require.ErrorIs(t, err, ErrMismatch)
	}
	_, err, reads, checks := env.auth(ctx, "right-password")
	var re *RetryError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, ErrLocked)
	assert.Zero(t, reads)
	assert.Zero(t, checks)
}

// TestAccountCacheBusyNeverExpires: an account used every minute across
// ten maximum ages is never verified in a request (each is served while
// the pool's only slot is held, with a context that ends any wait for it):
// the PBKDF2 checks are the first and the background refreshes.
func TestAccountCacheBusyNeverExpires(t *testing.T) {
	// Freshness beyond the test: only the refreshes read the account.
	env := newAccountEnv(t, func(_ *Options, ao *AccountCacheOptions[string]) { ao.Freshness = 24 * time.Hour })
	_, err, _, _ := env.auth(t.Context(), "right-password")
	require.NoError(t, err)
	const periods = 10
	for range periods * int(testMaxAge/time.Minute) {
		env.clk.Advance(time.Minute)
		release := holdPool(t, env.v)
		p, err, _, _ := env.auth(cancelled(t), "right-password")
		release()
		require.NoError(t, err, "at %v the request had to wait for a check", env.clk.Now())
		assert.Equal(t, "alice:writer", p)
		env.v.waitBackground()
	}
	refreshes := int(periods * testMaxAge / (testMaxAge - testRefresh))
	assert.EqualValues(t, 1+refreshes, env.v.Checks())
	assert.Equal(t, 1+refreshes, env.store.readCount(), "each refresh reads the account again")

	t.Run("an idle account expires", func(t *testing.T) {
		env.clk.Advance(testIdle)
		_, err, reads, checks := env.auth(t.Context(), "right-password")
		require.NoError(t, err)
		assert.Equal(t, 1, reads)
		assert.EqualValues(t, 1, checks)
	})
}

// TestAccountCacheRefreshSeesChangedPassword: a background refresh that
// finds another stored hash drops the entry, so the old password is
// refused even though the freshness interval has not passed.
func TestAccountCacheRefreshSeesChangedPassword(t *testing.T) {
	env := newAccountEnv(t, func(_ *Options, ao *AccountCacheOptions[string]) { ao.Freshness = 24 * time.Hour })
	ctx := t.Context()
	_, err, _, _ := env.auth(ctx, "right-password")
	require.NoError(t, err)
	steps := int((testMaxAge - testRefresh) / time.Minute)
	for i := 1; i <= steps; i++ {
		env.clk.Advance(time.Minute)
		if i == steps { // the hit that starts the refresh
			env.store.set("alice", Found[string]{Account: aliceAcct, Stored: hashOf(t, "new-password"), Principal: "alice:writer"})
		}
		_, err, _, _ := env.auth(ctx, "right-password")
		require.NoError(t, err, "a hit is answered; the refresh runs after it")
		env.v.waitBackground()
	}
	assert.EqualValues(t, 1, env.v.Checks(), "the refresh stopped at the changed hash, without PBKDF2")
	_, err, reads, _ := env.auth(ctx, "right-password")
	require.ErrorIs(t, err, ErrMismatch, "the entry was dropped")
	assert.Equal(t, 1, reads)
}

// TestAccountCacheDisabled: with the verifier's cache off, every request
// reads the account and verifies it.
func TestAccountCacheDisabled(t *testing.T) {
	env := newAccountEnv(t, func(o *Options, _ *AccountCacheOptions[string]) { o.CacheTTL = -1 })
	for range 2 {
		_, err, reads, checks := env.auth(t.Context(), "right-password")
		require.NoError(t, err)
		assert.Equal(t, 1, reads)
		assert.EqualValues(t, 1, checks)
	}
}

// TestAccountCacheLookupError: a failed read fails the request, on a miss
// and on a stale entry.
func TestAccountCacheLookupError(t *testing.T) {
	broken := errors.New("store down")
	fail := false
	env := newAccountEnv(t, nil)
	inner := env.store.lookup
	env.cache.lookup = func(ctx context.Context, name string) (Found[string], error) {
		if fail {
			return Found[string]{}, broken
		}
		return inner(ctx, name)
	}
	_, err, _, _ := env.auth(t.Context(), "right-password")
	require.NoError(t, err)
	fail = true
	env.clk.Advance(DefaultFreshness)
	_, err, _, _ = env.auth(t.Context(), "right-password")
	require.ErrorIs(t, err, broken, "stale entry")
	env.cache.ForgetAll()
	_, err, _, _ = env.auth(t.Context(), "right-password")
	require.ErrorIs(t, err, broken, "miss")
}

func TestNewAccountCacheNeedsVerifierAndLookup(t *testing.T) {
	_, err := NewAccountCache[string](nil, AccountCacheOptions[string]{Lookup: (&accountStore{}).lookup})
	require.Error(t, err)
	v := newVerifier(t, newClock(), nil)
	_, err = NewAccountCache(v, AccountCacheOptions[string]{})
	require.Error(t, err)
	c, err := NewAccountCache(v, AccountCacheOptions[string]{Lookup: (&accountStore{}).lookup})
	require.NoError(t, err)
	assert.Equal(t, DefaultFreshness, c.fresh)
}
