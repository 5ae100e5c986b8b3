package credential

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fakeclock "github.com/passthru-dev/passthru/testkit/clock"
)

// Lifetimes of the refresh tests: a credential used once a minute is busy.
const (
	testIdle    = 5 * time.Minute
	testMaxAge  = 15 * time.Minute
	testRefresh = 5 * time.Minute
)

func newRefreshVerifier(t *testing.T, clk *fakeclock.Fake) *Verifier {
	t.Helper()
	v, err := New(Options{
		Hasher: fast, Now: clk.Now, PoolSize: 1,
		CacheTTL: testIdle, CacheMaxAge: testMaxAge, CacheRefreshWindow: testRefresh,
	})
	require.NoError(t, err)
	return v
}

// holdPool takes the pool's only slot until the returned func is called:
// a request that needed a PBKDF2 check meanwhile could not get it.
func holdPool(t *testing.T, v *Verifier) func() {
	t.Helper()
	tk, err := v.pool.Reserve()
	require.NoError(t, err)
	require.NoError(t, tk.Wait(t.Context()))
	return tk.Release
}

// cancelled is a context whose wait for a pool slot fails at once.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// fillPool takes every slot and queue place: the next Reserve is refused.
func fillPool(t *testing.T, v *Verifier) func() {
	t.Helper()
	var held []*Ticket
	for {
		tk, err := v.pool.Reserve()
		if errors.Is(err, ErrBusy) {
			break
		}
		require.NoError(t, err)
		held = append(held, tk)
	}
	return func() {
		for _, tk := range held {
			tk.Release()
		}
	}
}

// TestBusyCredentialNeverExpires: a credential used every minute stays
// cached across ten maximum ages. No request hashes: each is served while
// the test holds the pool's only slot, with a context that ends any wait for
// it. The only PBKDF2 checks are the first and the background refreshes,
// one per maximum age less the refresh window.
func TestBusyCredentialNeverExpires(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	v := newRefreshVerifier(t, clk)
	stored := hashOf(t, "right-password")
	require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password"))

	const periods = 10
	for range periods * int(testMaxAge/time.Minute) {
		clk.Advance(time.Minute)
		release := holdPool(t, v)
		err := v.Verify(cancelled(t), alice, stored, "right-password")
		release()
		require.NoError(t, err, "at %v the request had to wait for a check", clk.Now())
		v.waitBackground()
	}
	refreshes := int64(periods * testMaxAge / (testMaxAge - testRefresh))
	assert.Equal(t, 1+refreshes, v.Checks(), "the first check and one background refresh per renewal")

	t.Run("an idle credential expires", func(t *testing.T) {
		clk.Advance(testIdle)
		assert.EqualValues(t, 1, spent(v, func() { require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password")) }))
	})
}

// TestMaxAgeWithoutHits: a credential used only rarely (less often than the
// refresh window) is not refreshed, and past its maximum age costs the
// request one PBKDF2 again.
func TestMaxAgeWithoutHits(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	v, err := New(Options{Hasher: fast, Now: clk.Now, CacheTTL: time.Hour, CacheMaxAge: 15 * time.Minute, CacheRefreshWindow: time.Minute})
	require.NoError(t, err)
	stored := hashOf(t, "right-password")
	require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password"))
	clk.Advance(13 * time.Minute)
	assert.Zero(t, spent(v, func() { require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password")) }), "before the refresh window")
	v.waitBackground()
	clk.Advance(2 * time.Minute)
	assert.EqualValues(t, 1, spent(v, func() { require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password")) }), "at the maximum age")
}

// TestRefreshRetriedWhenPoolFull: a refresh refused by a full pool leaves
// the entry to the next hit, which asks again.
func TestRefreshRetriedWhenPoolFull(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// The idle TTL is long here: only the maximum age matters.
	v, err := New(Options{Hasher: fast, Now: clk.Now, PoolSize: 1, CacheTTL: time.Hour, CacheMaxAge: testMaxAge, CacheRefreshWindow: testRefresh})
	require.NoError(t, err)
	stored := hashOf(t, "right-password")
	require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password"))

	clk.Advance(testMaxAge - testRefresh)
	release := fillPool(t, v)
	require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password"))
	v.waitBackground()
	release()
	assert.EqualValues(t, 1, v.Checks(), "the refresh found the pool full")

	clk.Advance(time.Minute)
	require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password"))
	v.waitBackground()
	assert.EqualValues(t, 2, v.Checks(), "the next hit refreshed")

	// Past the first maximum age, before the renewed entry's refresh window.
	clk.Advance(testMaxAge - testRefresh - time.Minute)
	assert.Zero(t, spent(v, func() { require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password")) }),
		"renewed: alive past the first maximum age")
}
