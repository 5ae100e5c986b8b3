package keys

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// heldLog is a store whose first AppendAudit for tenant held waits until
// released, so that the test can queue events behind it; fail decides the
// error of each later call (by call number, from 1, over all tenants)
// instead of storing.
type heldLog struct {
	kms.AuditLog
	held             uuid.UUID
	entered, release chan struct{}
	fail             func(call int) error

	mu    sync.Mutex
	n     int                 // calls so far
	held1 bool                // the held call has started
	sizes map[uuid.UUID][]int // events per call, by tenant in call order
}

func newHeldLog(store kms.AuditLog, held uuid.UUID) *heldLog {
	return &heldLog{AuditLog: store, held: held, entered: make(chan struct{}), release: make(chan struct{}), sizes: map[uuid.UUID][]int{}}
}

func (h *heldLog) AppendAudit(ctx context.Context, tenant uuid.UUID, events ...*kms.AuditEvent) error {
	h.mu.Lock()
	h.n++
	call := h.n
	h.sizes[tenant] = append(h.sizes[tenant], len(events))
	hold := tenant == h.held && !h.held1
	if hold {
		h.held1 = true
	}
	h.mu.Unlock()
	if hold {
		close(h.entered)
		<-h.release
	}
	if h.fail != nil {
		if err := h.fail(call); err != nil {
			return err
		}
	}
	return h.AuditLog.AppendAudit(ctx, tenant, events...)
}

// calls returns the events per call of tenant, in call order.
func (h *heldLog) calls(tenant uuid.UUID) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes[tenant]...)
}

// queueEnv is a store on a fresh database of b with two tenants.
func queueEnv(t *testing.T, b dbtest.Backend) (*sqlstore.Store, [2]uuid.UUID) {
	t.Helper()
	store, err := sqlstore.New(t.Context(), dbtest.Open(t, b))
	require.NoError(t, err)
	var tenants [2]uuid.UUID
	for i := range tenants {
		tn := &kms.Tenant{ID: factory.TenantID(), Name: factory.Name("tenant"), CreatedAt: time.Now().UTC()}
		require.NoError(t, store.CreateTenant(t.Context(), tn))
		tenants[i] = tn.ID
	}
	return store, tenants
}

func event(tenant uuid.UUID) *kms.AuditEvent {
	return &kms.AuditEvent{
		ID: ids.NewEntity(), Time: time.Now().UTC().Truncate(time.Microsecond), Principal: "alice", TenantID: tenant,
		Operation: "encrypt", Outcome: kms.OutcomeSuccess,
	}
}

// queueBehind appends first, waits until its batch is being written (and
// held there), then appends rest (of first's tenant) concurrently and waits
// until all of them are queued. It returns the channel each append's result arrives on, in
// order (first, then rest).
func queueBehind(t *testing.T, q *auditQueue, h *heldLog, first *kms.AuditEvent, rest []*kms.AuditEvent) []chan error {
	t.Helper()
	results := make([]chan error, 0, 1+len(rest))
	send := func(e *kms.AuditEvent) {
		c := make(chan error, 1)
		results = append(results, c)
		go func() { c <- q.append(t.Context(), e) }()
	}
	send(first)
	<-h.entered
	for _, e := range rest {
		send(e)
	}
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		t := q.tenants[first.TenantID]
		return t != nil && len(t.pending) == len(rest)
	}, 10*time.Second, time.Millisecond, "every event queued behind the held batch")
	return results
}

func storedIDs(t *testing.T, store kms.AuditLog, tenant uuid.UUID) []uuid.UUID {
	t.Helper()
	events, _, err := store.AuditEvents(t.Context(), tenant, nil, kms.Page{Size: 1000})
	require.NoError(t, err)
	out := make([]uuid.UUID, 0, len(events))
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

// result returns the error sent on c once it arrives, polling up to a
// bounded deadline so that a test of something that must not block fails
// instead of hanging.
func result(t *testing.T, c <-chan error, msg string) error {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		select {
		case err = <-c:
			return true
		default:
			return false
		}
	}, 10*time.Second, time.Millisecond, msg)
	return err
}

// appendAsync appends e in a goroutine and returns where its result arrives.
func appendAsync(t *testing.T, q *auditQueue, e *kms.AuditEvent) <-chan error {
	c := make(chan error, 1)
	go func() { c <- q.append(t.Context(), e) }()
	return c
}

// waitingFor polls until n appends wait for room.
func waitingFor(t *testing.T, q *auditQueue, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.waiting == n
	}, 10*time.Second, time.Millisecond, "%d appends waiting for room", n)
}

// TestAuditQueueGroupCommits: events queued while a batch is written go
// out together in the next round, in one INSERT, and every request learns
// that its own event is stored.
func TestAuditQueueGroupCommits(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store, tenants[0])
		q := newAuditQueue(h, 100, kms.MaxAuditBatch)
		first := event(tenants[0])
		var rest []*kms.AuditEvent
		for range 8 {
			rest = append(rest, event(tenants[0]))
		}
		results := queueBehind(t, q, h, first, rest)
		close(h.release)
		for _, c := range results {
			require.NoError(t, <-c)
		}
		assert.Equal(t, []int{1, 8}, h.calls(tenants[0]), "9 requests, 2 INSERTs: the held one, then the rest together")
		want := []uuid.UUID{first.ID}
		for _, e := range rest {
			want = append(want, e.ID)
		}
		assert.ElementsMatch(t, want, storedIDs(t, store, tenants[0]), "one event per request")
		q.mu.Lock()
		assert.Empty(t, q.tenants, "a drained tenant holds nothing")
		q.mu.Unlock()
	})
}

// TestAuditQueueTenantsDoNotWaitForEachOther: while one tenant's write is
// held (as by a locked database), another tenant's events are written and
// acknowledged, and the other tenant's bound is its own.
func TestAuditQueueTenantsDoNotWaitForEachOther(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		a, other := tenants[0], tenants[1]
		h := newHeldLog(store, a)
		q := newAuditQueue(h, 2, kms.MaxAuditBatch)
		held := queueBehind(t, q, h, event(a), []*kms.AuditEvent{event(a), event(a)})
		var ids []uuid.UUID
		for range 3 {
			e := event(other)
			ids = append(ids, e.ID)
			require.NoError(t, result(t, appendAsync(t, q, e), "the other tenant's event is acknowledged"))
		}
		assert.ElementsMatch(t, ids, storedIDs(t, store, other), "and stored")
		assert.Empty(t, storedIDs(t, store, a), "while the held tenant has written nothing")
		close(h.release)
		for _, c := range held {
			require.NoError(t, <-c)
		}
		assert.Len(t, storedIDs(t, store, a), 3)
	})
}

// TestAuditQueueFailedBatchFailsItsRequests: when a batch cannot be
// written, every request in it gets the error, and the others do not.
func TestAuditQueueFailedBatchFailsItsRequests(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store, tenants[0])
		broken := errors.New("disk full")
		h.fail = func(call int) error {
			if call == 2 {
				return broken
			}
			return nil
		}
		q := newAuditQueue(h, 100, kms.MaxAuditBatch)
		rest := []*kms.AuditEvent{event(tenants[0]), event(tenants[0]), event(tenants[0])}
		results := queueBehind(t, q, h, event(tenants[0]), rest)
		close(h.release)
		require.NoError(t, <-results[0], "the first batch was stored")
		for _, c := range results[1:] {
			require.ErrorIs(t, <-c, broken, "every request of the failed batch fails")
		}
		assert.Len(t, storedIDs(t, store, tenants[0]), 1)

		// An unregistered tenant's event fails alone with not_found.
		err := newAuditQueue(store, 100, kms.MaxAuditBatch).append(t.Context(), event(factory.TenantID()))
		assert.Equal(t, kms.NotFound, kms.CodeOf(err))
	})
}

// TestAuditQueueCloseDrains: Close returns once every tenant's queued
// events are stored; an append waiting for room, and any later one, is
// refused.
func TestAuditQueueCloseDrains(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store, tenants[0])
		q := newAuditQueue(h, 2, kms.MaxAuditBatch)
		first := event(tenants[0])
		rest := []*kms.AuditEvent{event(tenants[0]), event(tenants[0])}
		results := queueBehind(t, q, h, first, rest)
		overflow := appendAsync(t, q, event(tenants[0]))
		waitingFor(t, q, 1)
		closed := make(chan struct{})
		go func() { q.close(); close(closed) }()
		assert.Equal(t, kms.NotReady, kms.CodeOf(<-overflow), "the append waiting for room is refused")
		assert.Equal(t, kms.NotReady, kms.CodeOf(q.append(t.Context(), event(tenants[1]))), "refused once closing")
		close(h.release)
		<-closed
		// Stored by the time Close returned, before any request is asked.
		assert.ElementsMatch(t, []uuid.UUID{first.ID, rest[0].ID, rest[1].ID}, storedIDs(t, store, tenants[0]))
		assert.Empty(t, storedIDs(t, store, tenants[1]))
		for _, c := range results {
			require.NoError(t, <-c)
		}
		q.close() // again: a no-op
	})
}

// TestAuditQueueBounds: an append to a tenant with maxQueue events pending
// waits for room, and gets in once the writer makes some; a round writes
// at most maxBatch events.
func TestAuditQueueBounds(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store, tenants[0])
		q := newAuditQueue(h, 4, 2)
		var rest []*kms.AuditEvent
		for range 4 {
			rest = append(rest, event(tenants[0]))
		}
		results := queueBehind(t, q, h, event(tenants[0]), rest)
		overflow := appendAsync(t, q, event(tenants[0]))
		waitingFor(t, q, 1)
		close(h.release)
		require.NoError(t, <-overflow, "stored once there was room")
		for _, c := range results {
			require.NoError(t, <-c)
		}
		// Taking a batch is what makes room, so the overflow event is
		// behind the other four, which go in rounds of two: the sizes do
		// not depend on when it gets in.
		assert.Equal(t, []int{1, 2, 2, 1}, h.calls(tenants[0]), "the held event, then rounds of at most maxBatch")
		assert.Len(t, storedIDs(t, store, tenants[0]), 6)
		q.close()
	})
}
