package changegen

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/clock"
)

// fakeDB is a tenant database's generation: it counts reads, and when
// gate is set each read waits for it to close.
type fakeDB struct {
	mu    sync.Mutex
	gen   int64
	err   error
	reads int
	gate  chan struct{}
}

func (f *fakeDB) read(ctx context.Context, _ uuid.UUID) (int64, error) {
	f.mu.Lock()
	f.reads++
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen, f.err
}

func (f *fakeDB) set(gen int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen, f.err = gen, err
}

func (f *fakeDB) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestGenerationReadsOncePerInterval(t *testing.T) {
	db := &fakeDB{gen: 7}
	clk := clock.New(start)
	tr := New(db.read, clk.Now, time.Second, 0)
	tenant := uuid.New()

	gen, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(7), gen)

	db.set(8, nil)
	clk.Advance(time.Second - time.Nanosecond)
	gen, err = tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(7), gen, "within the interval the last read answers")
	assert.Equal(t, 1, db.readCount())

	clk.Advance(time.Nanosecond)
	gen, err = tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(8), gen, "an interval after the last read started, read again")
	assert.Equal(t, 2, db.readCount())

	other := uuid.New()
	_, err = tr.Generation(t.Context(), other)
	require.NoError(t, err)
	assert.Equal(t, 3, db.readCount(), "each tenant has its own generation")
}

// TestGenerationTimeTakenBeforeRead: the interval counts from the start of
// the read, so a change committed while a slow read ran is looked for
// again an interval after that start, not after its end.
func TestGenerationTimeTakenBeforeRead(t *testing.T) {
	clk := clock.New(start)
	read := func(context.Context, uuid.UUID) (int64, error) {
		clk.Advance(time.Minute) // a slow read
		return 1, nil
	}
	tr := New(read, clk.Now, time.Minute, 0)
	tenant := uuid.New()
	_, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	tr.mu.Lock()
	readAt := tr.tenants[tenant].readAt
	tr.mu.Unlock()
	assert.Equal(t, start, readAt)
}

func TestGenerationClockBack(t *testing.T) {
	db := &fakeDB{gen: 1}
	clk := clock.New(start)
	tr := New(db.read, clk.Now, time.Hour, 0)
	tenant := uuid.New()
	_, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)

	clk.Set(start.Add(-time.Second))
	db.set(2, nil)
	gen, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(2), gen, "a clock that went back cannot tell the read's age: read again")
	assert.Equal(t, 2, db.readCount())
}

func TestGenerationErrorThenRetry(t *testing.T) {
	db := &fakeDB{gen: 3}
	clk := clock.New(start)
	tr := New(db.read, clk.Now, time.Hour, 0)
	tenant := uuid.New()
	_, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)

	gone := errors.New("tenant gone")
	db.set(0, gone)
	clk.Advance(time.Hour)
	_, err = tr.Generation(t.Context(), tenant)
	require.ErrorIs(t, err, gone)

	db.set(4, nil)
	gen, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(4), gen, "after a failed read the next call reads again")
	assert.Equal(t, 3, db.readCount())

	// The clock goes back, the read it causes fails, and the clock comes
	// back to where the last good read started: that read is no answer.
	readAt := clk.Now()
	clk.Set(readAt.Add(-time.Second))
	db.set(0, gone)
	_, err = tr.Generation(t.Context(), tenant)
	require.ErrorIs(t, err, gone)
	clk.Set(readAt)
	db.set(5, nil)
	gen, err = tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(5), gen, "a failed read leaves nothing to answer from")
}

// TestGenerationSharedRead: callers that find the generation due while a
// read runs wait for it instead of reading too.
func TestGenerationSharedRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{gen: 5, gate: make(chan struct{})}
		tr := New(db.read, clock.New(start).Now, time.Second, 0)
		tenant := uuid.New()

		const callers = 8
		gens := make([]int64, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { gens[i], errs[i] = tr.Generation(t.Context(), tenant) })
		}
		synctest.Wait() // every caller is blocked: reading or waiting for the read
		assert.Equal(t, 1, db.readCount(), "one read for all the callers")
		close(db.gate)
		wg.Wait()
		for i := range callers {
			require.NoError(t, errs[i])
			assert.Equal(t, int64(5), gens[i])
		}
		assert.Equal(t, 1, db.readCount())
	})
}

// TestGenerationCallerLeaves: the caller that started a read leaving does
// not cancel the read for the others, and a waiting caller whose context
// ends returns at once with its context's error.
func TestGenerationCallerLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{gen: 9, gate: make(chan struct{})}
		tr := New(db.read, clock.New(start).Now, time.Second, 0)
		tenant := uuid.New()

		firstCtx, cancelFirst := context.WithCancel(t.Context())
		var firstErr error
		var first sync.WaitGroup
		first.Go(func() { _, firstErr = tr.Generation(firstCtx, tenant) })
		synctest.Wait() // the first caller's read is running

		var gen int64
		var err error
		var second sync.WaitGroup
		second.Go(func() { gen, err = tr.Generation(t.Context(), tenant) })
		synctest.Wait() // the second caller waits for that read

		cancelFirst()
		first.Wait()
		require.ErrorIs(t, firstErr, context.Canceled, "a caller whose context ends stops waiting")

		close(db.gate)
		second.Wait()
		require.NoError(t, err, "the read outlives the caller that started it")
		assert.Equal(t, int64(9), gen)
		assert.Equal(t, 1, db.readCount())
	})
}

func TestForget(t *testing.T) {
	db := &fakeDB{gen: 1}
	tr := New(db.read, clock.New(start).Now, time.Hour, 0)
	tenant := uuid.New()
	_, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)

	tr.Forget(tenant)
	db.set(2, nil)
	gen, err := tr.Generation(t.Context(), tenant)
	require.NoError(t, err)
	assert.Equal(t, int64(2), gen, "a forgotten tenant is read again")
	assert.Equal(t, 2, db.readCount())
	tr.Forget(uuid.New()) // an untracked tenant: nothing to do
}

// TestForgetDuringRead: a read that started before Forget is neither
// joined by later callers nor kept for them.
func TestForgetDuringRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{gen: 1, gate: make(chan struct{})}
		tr := New(db.read, clock.New(start).Now, time.Hour, 0)
		tenant := uuid.New()
		call := func(want int64) func() {
			return func() {
				gen, err := tr.Generation(t.Context(), tenant)
				assert.NoError(t, err)
				assert.Equal(t, want, gen)
			}
		}

		var wg sync.WaitGroup
		wg.Go(call(1))
		synctest.Wait()
		tr.Forget(tenant)
		close(db.gate)
		wg.Wait()
		db.set(2, nil)
		db.gate = make(chan struct{})
		wg.Go(call(2))
		synctest.Wait()
		assert.Equal(t, 2, db.readCount(), "the read that ended after Forget was not kept")

		tr.Forget(tenant)
		wg.Go(call(2))
		synctest.Wait()
		assert.Equal(t, 3, db.readCount(), "a call after Forget does not join the read started before")
		close(db.gate)
		wg.Wait()
	})
}

// TestBound: past the bound the least recently used tenant is forgotten.
func TestBound(t *testing.T) {
	db := &fakeDB{gen: 1}
	tr := New(db.read, clock.New(start).Now, time.Hour, 2)
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	for _, tenant := range []uuid.UUID{a, b, a, c} {
		_, err := tr.Generation(t.Context(), tenant)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, db.readCount())
	assert.Len(t, tr.tenants, 2)

	_, err := tr.Generation(t.Context(), a)
	require.NoError(t, err)
	assert.Equal(t, 3, db.readCount(), "a, used after b, is still tracked")
	_, err = tr.Generation(t.Context(), b)
	require.NoError(t, err)
	assert.Equal(t, 4, db.readCount(), "b, the least recently used, was forgotten")
}

func TestNewDefaultBound(t *testing.T) {
	tr := New((&fakeDB{}).read, time.Now, time.Second, 0)
	assert.Equal(t, DefaultMaxTenants, tr.maxTenants)
}

// TestGenerationOneReadUnderContention: with the clock standing still, many
// callers arriving together cause exactly one read, also those that found
// the entry stale just before another caller's read stored its result
// (they must not start a read of their own once that read has ended).
func TestGenerationOneReadUnderContention(t *testing.T) {
	db := &fakeDB{gen: 7}
	clk := clock.New(start)
	tr := New(db.read, clk.Now, time.Second, 0)
	tenant := uuid.New()
	const rounds, callers = 300, 16
	for round := range rounds {
		tr.Forget(tenant)
		before := db.readCount()
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				gen, err := tr.Generation(t.Context(), tenant)
				assert.NoError(t, err)
				assert.Equal(t, int64(7), gen)
			})
		}
		wg.Wait()
		if got := db.readCount() - before; got != 1 {
			t.Fatalf("round %d: %d callers made %d reads, want 1", round, callers, got)
		}
	}
}

// TestForgetAllReadsEveryTenantAgain: after ForgetAll, each tenant's next
// call reads its generation again, within the interval too.
func TestForgetAllReadsEveryTenantAgain(t *testing.T) {
	db := &fakeDB{gen: 1}
	clk := clock.New(start)
	tr := New(db.read, clk.Now, time.Minute, 0)
	tenants := []uuid.UUID{uuid.New(), uuid.New()}
	for _, tn := range tenants {
		_, err := tr.Generation(t.Context(), tn)
		require.NoError(t, err)
	}
	require.Equal(t, 2, db.readCount())

	db.set(2, nil)
	tr.ForgetAll()
	for _, tn := range tenants {
		gen, err := tr.Generation(t.Context(), tn)
		require.NoError(t, err)
		assert.Equal(t, int64(2), gen)
	}
	assert.Equal(t, 4, db.readCount(), "one read per tenant after ForgetAll")
}
