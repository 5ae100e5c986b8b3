package credential

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/password"
)

// fast keeps PBKDF2 cheap: real PBKDF2, low cost.
var fast = password.Hasher{Iterations: password.MinIterations}

// clock is moved by the test goroutine only, between requests.
type clock struct{ now time.Time }

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newVerifier(t *testing.T, clk *clock, edit func(*Options)) *Verifier {
	t.Helper()
	o := Options{Hasher: fast, Now: clk.Now}
	if edit != nil {
		edit(&o)
	}
	v, err := New(o)
	require.NoError(t, err)
	return v
}

func hashOf(t *testing.T, plain string) string {
	t.Helper()
	h, err := fast.Hash(plain)
	require.NoError(t, err)
	return h
}

var alice = Account{Realm: "local", Name: "alice"}

// spent runs fn and returns the PBKDF2 checks it cost.
func spent(v *Verifier, fn func()) int64 {
	before := v.Checks()
	fn()
	return v.Checks() - before
}

func TestVerifyAnswers(t *testing.T) {
	stored := hashOf(t, "right-password")
	// The reason for the control-byte rule: PBKDF2 pads short keys with
	// zeros, so the hash alone accepts the secret with a NUL appended.
	require.NoError(t, password.Verify(stored, "right-password\x00"))

	tests := []struct {
		desc      string
		stored    string
		secret    string
		wantErr   error
		malformed bool
	}{
		{desc: "right secret", stored: stored, secret: "right-password"},
		{desc: "wrong secret", stored: stored, secret: "wrong-password", wantErr: ErrMismatch},
		{desc: "unknown or disabled account", stored: "", secret: "right-password", wantErr: ErrMismatch},
		{desc: "NUL appended to the right secret", stored: stored, secret: "right-password\x00", wantErr: ErrMismatch},
		{desc: "NUL inside", stored: stored, secret: "right\x00password", wantErr: ErrMismatch},
		{desc: "other control byte", stored: stored, secret: "right-password\n", wantErr: ErrMismatch},
		{desc: "DEL", stored: stored, secret: "right-password\x7f", wantErr: ErrMismatch},
		{desc: "unusable stored hash", stored: "$md5$x", secret: "right-password", wantErr: ErrMismatch, malformed: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			v := newVerifier(t, newClock(), nil)
			var err error
			// Each answer costs exactly one PBKDF2, whatever the reason:
			// the client cannot tell the cases apart by time.
			assert.EqualValues(t, 1, spent(v, func() { err = v.Verify(t.Context(), alice, tc.stored, tc.secret) }))
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			assert.Equal(t, tc.malformed, errors.Is(err, password.ErrMalformed))
			var re *RetryError
			assert.False(t, errors.As(err, &re), "a refusal is not a retry")
		})
	}
}

func TestValidateSecret(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		secret string
		ok     bool
	}{
		{desc: "printable ASCII", secret: "correct horse battery staple!", ok: true},
		{desc: "UTF-8", secret: "pässwörd-日本", ok: true},
		{desc: "empty", secret: "", ok: true},
		{desc: "NUL", secret: "pw\x00", ok: false},
		{desc: "tab", secret: "p\tw", ok: false},
		{desc: "CR", secret: "pw\r", ok: false},
		{desc: "DEL", secret: "pw\x7f", ok: false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := ValidateSecret(tc.secret)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrControlByte)
			}
		})
	}
}

func TestCache(t *testing.T) {
	clk := newClock()
	v := newVerifier(t, clk, func(o *Options) { o.CacheTTL = time.Minute })
	ctx := t.Context()
	stored := hashOf(t, "right-password")
	verify := func(acct Account, stored, secret string) (error, int64) {
		var err error
		n := spent(v, func() { err = v.Verify(ctx, acct, stored, secret) })
		return err, n
	}
	steps := []struct {
		desc    string
		advance time.Duration
		acct    Account
		stored  string
		secret  string
		wantErr bool
		checks  int64
	}{
		{desc: "first time pays", acct: alice, stored: stored, secret: "right-password", checks: 1},
		{desc: "again is free", acct: alice, stored: stored, secret: "right-password", checks: 0},
		{desc: "a wrong secret is always checked", acct: alice, stored: stored, secret: "wrong-password", wantErr: true, checks: 1},
		{desc: "the right one is still cached", acct: alice, stored: stored, secret: "right-password", checks: 0},
		{desc: "another account is not", acct: Account{Realm: "local", Name: "bob"}, stored: stored, secret: "right-password", checks: 1},
		{desc: "same name in another realm is not", acct: Account{Realm: "other", Name: "alice"}, stored: stored, secret: "right-password", checks: 1},
		{desc: "a changed stored hash stops matching", acct: alice, stored: hashOf(t, "new-password"), secret: "right-password", wantErr: true, checks: 1},
		{desc: "a disabled account is never answered from the cache", acct: alice, stored: "", secret: "right-password", wantErr: true, checks: 1},
		{desc: "the entry stays bound to the hash it was verified with", acct: alice, stored: stored, secret: "right-password", checks: 0},
		{desc: "within the idle TTL", advance: 59 * time.Second, acct: alice, stored: stored, secret: "right-password", checks: 0},
		{desc: "a hit extends it", advance: 59 * time.Second, acct: alice, stored: stored, secret: "right-password", checks: 0},
		{desc: "expired after an idle TTL unused", advance: time.Minute, acct: alice, stored: stored, secret: "right-password", checks: 1},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			clk.Advance(st.advance)
			err, n := verify(st.acct, st.stored, st.secret)
			assert.Equal(t, st.wantErr, err != nil, "error %v", err)
			assert.Equal(t, st.checks, n, "PBKDF2 checks")
		})
	}
	t.Run("the cache never holds the secret", func(t *testing.T) {
		for _, el := range v.cache.entries {
			assert.NotContains(t, string(el.Value.(*entry[Account, struct{}]).mac[:]), "right-password")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		off := newVerifier(t, clk, func(o *Options) { o.CacheTTL = -1 })
		for range 2 {
			assert.EqualValues(t, 1, spent(off, func() { require.NoError(t, off.Verify(ctx, alice, stored, "right-password")) }))
		}
		assert.Zero(t, off.cache.len())
	})
}

// TestCacheBounded: a full cache drops its oldest entries, one per new
// account, and keeps the rest answering; it is never wiped.
func TestCacheBounded(t *testing.T) {
	clk := newClock()
	v := newVerifier(t, clk, func(o *Options) { o.CacheSize = 3 })
	ctx := t.Context()
	stored := hashOf(t, "right-password")
	acct := func(i int) Account { return Account{Realm: "r", Name: fmt.Sprint("user-", i)} }
	for i := range 10 {
		clk.Advance(time.Second)
		require.NoError(t, v.Verify(ctx, acct(i), stored, "right-password"))
		assert.LessOrEqual(t, v.cache.len(), 3)
	}
	for i := 7; i < 10; i++ {
		assert.Zero(t, spent(v, func() { require.NoError(t, v.Verify(ctx, acct(i), stored, "right-password")) }), "recent account %d still cached", i)
	}
	assert.EqualValues(t, 1, spent(v, func() { require.NoError(t, v.Verify(ctx, acct(0), stored, "right-password")) }), "the oldest was dropped")

	t.Run("expired entries go first", func(t *testing.T) {
		v := newVerifier(t, clk, func(o *Options) { o.CacheSize = 3; o.CacheTTL = time.Minute })
		require.NoError(t, v.Verify(ctx, acct(0), stored, "right-password"))
		clk.Advance(2 * time.Minute)
		require.NoError(t, v.Verify(ctx, acct(1), stored, "right-password"))
		assert.Equal(t, 1, v.cache.len(), "the expired entry was dropped on the way")
	})
}

// TestSingleFlight: concurrent first requests with one credential pay one
// PBKDF2 between them, not one each. The cost is raised so that the
// requests overlap the first check, as they do at production cost.
func TestSingleFlight(t *testing.T) {
	const n = 100
	slow := password.Hasher{Iterations: 200_000}
	v := newVerifier(t, newClock(), func(o *Options) { o.Hasher = slow })
	stored, err := slow.Hash("right-password")
	require.NoError(t, err)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = v.Verify(context.Background(), alice, stored, "right-password")
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "request %d", i)
	}
	assert.EqualValues(t, 1, v.Checks())
}

func TestNewRefusesInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		desc string
		o    Options
	}{
		{desc: "negative cache size", o: Options{CacheSize: -1}},
		{desc: "negative pool", o: Options{PoolSize: -1}},
		{desc: "negative threshold", o: Options{LockoutThreshold: -1}},
		{desc: "maximum backoff below the first", o: Options{LockoutBackoff: time.Hour, LockoutMaxBackoff: time.Minute}},
		{desc: "refresh window as long as the maximum age", o: Options{CacheMaxAge: time.Hour, CacheRefreshWindow: time.Hour}},
		{desc: "negative refresh window", o: Options{CacheRefreshWindow: -time.Minute}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(tc.o)
			require.Error(t, err)
		})
	}
	v, err := New(Options{})
	require.NoError(t, err)
	assert.Equal(t, DefaultLockoutThreshold, v.lockout.threshold)
	assert.Equal(t, DefaultCacheTTL, v.cache.idle)
	assert.Equal(t, DefaultCacheMaxAge, v.cache.maxAge)
	assert.Equal(t, DefaultRefreshWindow, v.cache.refresh)
	long, err := New(Options{CacheTTL: 10 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, long.cache.refresh, "the refresh window covers the idle TTL")
	short, err := New(Options{CacheTTL: time.Minute, CacheMaxAge: 4 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, 2*time.Minute, short.cache.refresh, "at most half the maximum age")
	assert.GreaterOrEqual(t, cap(v.pool.running), 1)
}
