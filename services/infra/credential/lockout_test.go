package credential

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retryAfter returns the RetryError's wait when err is one wrapping want.
func retryAfter(t *testing.T, err, want error) time.Duration {
	t.Helper()
	var re *RetryError
	require.ErrorAs(t, err, &re)
	require.ErrorIs(t, err, want)
	return re.After
}

func TestLockout(t *testing.T) {
	clk := newClock()
	v := newVerifier(t, clk, func(o *Options) {
		o.LockoutThreshold = 3
		o.LockoutBackoff = time.Minute
		o.LockoutMaxBackoff = 4 * time.Minute
		o.LockoutWindow = 10 * time.Minute
	})
	ctx := t.Context()
	stored := hashOf(t, "right-password")
	wrong := func() error { return v.Verify(ctx, alice, stored, "wrong-password") }
	right := func() error { return v.Verify(ctx, alice, stored, "right-password") }
	failThrice := func(t *testing.T) {
		t.Helper()
		for range 3 {
			require.ErrorIs(t, wrong(), ErrMismatch)
		}
	}

	t.Run("threshold failures lock, even the right secret waits, without hashing", func(t *testing.T) {
		failThrice(t)
		var err error
		assert.Zero(t, spent(v, func() { err = right() }))
		assert.Equal(t, time.Minute, retryAfter(t, err, ErrLocked))
		clk.Advance(20 * time.Second)
		assert.Zero(t, spent(v, func() { err = wrong() }))
		assert.Equal(t, 40*time.Second, retryAfter(t, err, ErrLocked), "Retry-After counts down")
	})
	t.Run("a cached credential waits too", func(t *testing.T) {
		// Otherwise a lock would not stop guessing while the owner is active:
		// a cache hit would confirm the guess without any cost.
		other := Account{Realm: "local", Name: "carol"}
		require.NoError(t, v.Verify(ctx, other, stored, "right-password"))
		for range 3 {
			require.ErrorIs(t, v.Verify(ctx, other, stored, "wrong-password"), ErrMismatch)
		}
		retryAfter(t, v.Verify(ctx, other, stored, "right-password"), ErrLocked)
	})
	t.Run("after the lock the right secret works and forgets the failures", func(t *testing.T) {
		clk.Advance(40 * time.Second)
		require.NoError(t, right())
		for range 2 {
			require.ErrorIs(t, wrong(), ErrMismatch)
		}
		require.NoError(t, right(), "two failures after a success do not lock")
	})
	t.Run("each further lock doubles, up to the maximum", func(t *testing.T) {
		for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
			failThrice(t)
			assert.Equal(t, want, retryAfter(t, right(), ErrLocked))
			clk.Advance(want)
		}
	})
	t.Run("a quiet window forgets the lock count", func(t *testing.T) {
		clk.Advance(10 * time.Minute)
		failThrice(t)
		assert.Equal(t, time.Minute, retryAfter(t, right(), ErrLocked))
		clk.Advance(time.Minute)
	})
	t.Run("failures are per account", func(t *testing.T) {
		failThrice(t)
		require.NoError(t, v.Verify(ctx, Account{Realm: "local", Name: "bob"}, stored, "right-password"))
		require.NoError(t, v.Verify(ctx, Account{Realm: "other", Name: "alice"}, stored, "right-password"))
	})
	t.Run("unknown accounts lock like known ones", func(t *testing.T) {
		ghost := Account{Realm: "local", Name: "ghost"}
		for range 3 {
			require.ErrorIs(t, v.Verify(ctx, ghost, "", "whatever"), ErrMismatch)
		}
		retryAfter(t, v.Verify(ctx, ghost, "", "whatever"), ErrLocked)
	})
}

// TestLockoutSurvivesAFlood: failures for many distinct names fill the
// bounded table, and the lock of the account under attack stays.
func TestLockoutSurvivesAFlood(t *testing.T) {
	clk := newClock()
	v := newVerifier(t, clk, func(o *Options) { o.LockoutThreshold = 3; o.LockoutSize = 10 })
	ctx := t.Context()
	stored := hashOf(t, "right-password")
	for range 3 {
		require.ErrorIs(t, v.Verify(ctx, alice, stored, "wrong-password"), ErrMismatch)
	}
	retryAfter(t, v.Verify(ctx, alice, stored, "right-password"), ErrLocked)
	for i := range 200 {
		require.ErrorIs(t, v.Verify(ctx, Account{Realm: "local", Name: fmt.Sprint("flood-", i)}, "", "x"), ErrMismatch)
		require.LessOrEqual(t, v.lockout.len(), 10, "the table stays bounded")
	}
	retryAfter(t, v.Verify(ctx, alice, stored, "right-password"), ErrLocked)

	t.Run("a table of locks drops the oldest lock", func(t *testing.T) {
		v := newVerifier(t, clk, func(o *Options) { o.LockoutThreshold = 1; o.LockoutSize = 2 })
		acct := func(i int) Account { return Account{Realm: "r", Name: fmt.Sprint(i)} }
		for i := range 3 {
			clk.Advance(time.Second)
			require.ErrorIs(t, v.Verify(ctx, acct(i), stored, "wrong-password"), ErrMismatch)
		}
		require.NoError(t, v.Verify(ctx, acct(0), stored, "right-password"), "the oldest lock made room")
		for i := 1; i < 3; i++ {
			err := v.Verify(ctx, acct(i), stored, "right-password")
			assert.True(t, errors.Is(err, ErrLocked), "account %d still locked: %v", i, err)
		}
	})
}
