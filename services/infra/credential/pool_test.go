package credential

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fill takes every place of p and returns the tickets.
func fill(t *testing.T, p *Pool) []*Ticket {
	t.Helper()
	var held []*Ticket
	for {
		tk, err := p.Reserve()
		if err != nil {
			require.ErrorIs(t, err, ErrBusy)
			return held
		}
		held = append(held, tk)
	}
}

func TestPool(t *testing.T) {
	p := NewPool(1, 1)
	first, err := p.Reserve()
	require.NoError(t, err)
	require.NoError(t, first.Wait(t.Context()))
	second, err := p.Reserve()
	require.NoError(t, err, "one place in the queue")
	_, err = p.Reserve()
	require.ErrorIs(t, err, ErrBusy, "slot and queue taken")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, second.Wait(ctx), context.Canceled, "a waiter leaves when its context ends")

	got := make(chan error, 1)
	go func() { got <- second.Wait(t.Context()) }()
	first.Release()
	require.NoError(t, <-got, "the released slot goes to the waiter")
	second.Release()
	assert.Len(t, fill(t, p), 2, "every place is free again")
}

// TestFullPoolRefusesUncachedOnly: with every place of the pool taken, an
// uncached check is refused as busy without hashing, and a cached
// credential is still answered, since it never enters the pool.
func TestFullPoolRefusesUncachedOnly(t *testing.T) {
	v := newVerifier(t, newClock(), func(o *Options) { o.PoolSize = 2; o.PoolQueue = 3 })
	ctx := t.Context()
	stored := hashOf(t, "right-password")
	require.NoError(t, v.Verify(ctx, alice, stored, "right-password"))

	held := fill(t, v.Pool())
	assert.Len(t, held, 5)
	var err error
	assert.Zero(t, spent(v, func() { err = v.Verify(ctx, Account{Realm: "local", Name: "bob"}, stored, "right-password") }))
	assert.Equal(t, time.Second, retryAfter(t, err, ErrBusy))
	assert.Zero(t, spent(v, func() { err = v.Verify(ctx, alice, stored, "wrong-password") }))
	retryAfter(t, err, ErrBusy)
	assert.Zero(t, spent(v, func() { err = v.Verify(ctx, alice, stored, "right-password") }))
	require.NoError(t, err, "the cached credential is answered")
	for range 10 {
		retryAfter(t, v.Verify(ctx, alice, stored, "wrong-password"), ErrBusy)
	}
	require.NoError(t, v.Verify(ctx, alice, stored, "right-password"), "refusals for busy do not count as failures")

	for _, tk := range held {
		tk.Release()
	}
	require.NoError(t, v.Verify(ctx, Account{Realm: "local", Name: "bob"}, stored, "right-password"))
}

// TestVerifyLeavesWhenItsContextEnds: a check waiting for a slot gives up
// with its context's error, which is not a failure of the account.
func TestVerifyLeavesWhenItsContextEnds(t *testing.T) {
	v := newVerifier(t, newClock(), func(o *Options) { o.PoolSize = 1; o.PoolQueue = 1; o.LockoutThreshold = 1 })
	stored := hashOf(t, "right-password")
	slot, err := v.Pool().Reserve()
	require.NoError(t, err)
	require.NoError(t, slot.Wait(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, v.Verify(ctx, alice, stored, "wrong-password"), context.Canceled)
	slot.Release()
	require.NoError(t, v.Verify(t.Context(), alice, stored, "right-password"), "no failure was recorded")
}
