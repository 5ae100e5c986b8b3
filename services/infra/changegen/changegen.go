// Package changegen tracks each tenant's change generation: a counter kept
// in the tenant's database and raised in the transaction of every change
// that a cache must not outlive. Reading it on every request would cost a
// database round trip each time, so a Tracker re-reads it at most once per
// interval; a change made by another replica is then seen within that
// interval.
package changegen

import (
	"container/list"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"
)

// ReadFunc reads tenant's change generation from its database.
type ReadFunc func(ctx context.Context, tenant uuid.UUID) (int64, error)

// DefaultMaxTenants is the bound on tracked tenants when New is given none.
const DefaultMaxTenants = 10_000

// Tracker remembers the last generation read of each tenant and when that
// read started. It is safe for concurrent use.
//
// It tracks at most maxTenants tenants: past that, the least recently used
// one is forgotten (its next call reads again). Evicting one tenant rather
// than clearing the table keeps a burst of new tenants from making every
// busy tenant read again at once.
type Tracker struct {
	read       ReadFunc
	now        func() time.Time
	interval   time.Duration
	maxTenants int

	flight singleflight.Group // reads, by tenant and entry

	mu      sync.Mutex
	tenants map[uuid.UUID]*entry
	lru     *list.List // of *entry, most recently used first
	nextID  uint64
}

// entry is one tenant's tracked generation; its fields are guarded by
// Tracker.mu.
type entry struct {
	tenant uuid.UUID
	// id names the entry's reads in the flight group: a read started for
	// an entry that was forgotten since is neither joined by nor stored
	// for the tenant's next entry.
	id     string
	elem   *list.Element
	gen    int64
	readAt time.Time // when the last good read started; zero: none
}

// New returns a Tracker that reads generations with read, tells the time
// with now, re-reads a tenant's generation once interval has passed since
// its last read started, and tracks at most maxTenants tenants
// (DefaultMaxTenants when maxTenants <= 0).
func New(read ReadFunc, now func() time.Time, interval time.Duration, maxTenants int) *Tracker {
	if maxTenants <= 0 {
		maxTenants = DefaultMaxTenants
	}
	return &Tracker{
		read: read, now: now, interval: interval, maxTenants: maxTenants,
		tenants: map[uuid.UUID]*entry{}, lru: list.New(),
	}
}

// Generation returns tenant's change generation as last read. It reads it
// again when it was never read, when the last read started interval ago or
// more, when the clock went back since (the age of the last read is then
// unknown), or when the last read failed.
//
// Concurrent callers of one tenant share one read. The read runs without
// the cancellation of the caller that started it, so that caller leaving
// does not fail the others; a caller whose ctx ends while it waits returns
// ctx's error. The time is taken before the read, so a change committed
// while the read runs counts as not yet seen.
func (t *Tracker) Generation(ctx context.Context, tenant uuid.UUID) (int64, error) {
	t.mu.Lock()
	e := t.entryLocked(tenant)
	if gen, ok := t.freshLocked(e); ok {
		t.mu.Unlock()
		return gen, nil
	}
	t.mu.Unlock()

	ch := t.flight.DoChan(e.id, func() (any, error) {
		// A read that ended between the check above and this flight has
		// already answered: without this second look, a caller that found
		// the entry stale just before that read stored its result would
		// start another read of its own.
		t.mu.Lock()
		gen, ok := t.freshLocked(e)
		t.mu.Unlock()
		if ok {
			return gen, nil
		}
		return t.readInto(context.WithoutCancel(ctx), e)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return 0, r.Err
		}
		return r.Val.(int64), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for the change generation of tenant %s: %w", tenant, ctx.Err())
	}
}

// freshLocked returns e's generation when its last read is younger than
// the interval. A read stamped in the future means the clock went back: it
// is not trusted.
func (t *Tracker) freshLocked(e *entry) (int64, bool) {
	now := t.now()
	if e.readAt.IsZero() || now.Sub(e.readAt) >= t.interval || now.Before(e.readAt) {
		return 0, false
	}
	return e.gen, true
}

// readInto reads e's tenant's generation into e. A forgotten e is out of
// the table, so what is stored there is seen by nobody.
func (t *Tracker) readInto(ctx context.Context, e *entry) (int64, error) {
	start := t.now()
	gen, err := t.read(ctx, e.tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		// Only a clock that went back can make the last good read look
		// young again; it must not answer after this failure either.
		e.readAt = time.Time{}
		return 0, fmt.Errorf("read the change generation of tenant %s: %w", e.tenant, err)
	}
	e.gen, e.readAt = gen, start
	return gen, nil
}

// entryLocked returns tenant's entry, created (evicting the least
// recently used one past the bound) when missing, and marks it used.
func (t *Tracker) entryLocked(tenant uuid.UUID) *entry {
	if e := t.tenants[tenant]; e != nil {
		t.lru.MoveToFront(e.elem)
		return e
	}
	t.nextID++
	e := &entry{tenant: tenant, id: tenant.String() + "/" + strconv.FormatUint(t.nextID, 10)}
	e.elem = t.lru.PushFront(e)
	t.tenants[tenant] = e
	for t.lru.Len() > t.maxTenants {
		t.removeLocked(t.lru.Back().Value.(*entry))
	}
	return e
}

// Forget drops tenant: its next call reads again, and a read already
// running for it is neither joined nor kept.
func (t *Tracker) Forget(tenant uuid.UUID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.tenants[tenant]; e != nil {
		t.removeLocked(e)
	}
}

// ForgetAll drops every tenant, as Forget does each.
func (t *Tracker) ForgetAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.tenants {
		t.removeLocked(e)
	}
}

func (t *Tracker) removeLocked(e *entry) {
	t.lru.Remove(e.elem)
	delete(t.tenants, e.tenant)
}
