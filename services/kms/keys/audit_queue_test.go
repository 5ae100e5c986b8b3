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

// heldLog is a store whose first AppendAudit waits until released, so
// that the test can queue events behind it; fail decides the error of each
// later call (by call number, from 1) instead of storing.
type heldLog struct {
	kms.AuditLog
	entered, release chan struct{}
	fail             func(call int) error

	mu    sync.Mutex
	sizes []int // events per call, in call order
}

func newHeldLog(store kms.AuditLog) *heldLog {
	return &heldLog{AuditLog: store, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldLog) AppendAudit(ctx context.Context, tenant uuid.UUID, events ...*kms.AuditEvent) error {
	h.mu.Lock()
	h.sizes = append(h.sizes, len(events))
	call := len(h.sizes)
	h.mu.Unlock()
	if call == 1 {
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

func (h *heldLog) calls() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
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
// held there), then appends rest concurrently and waits until all of them
// are queued. It returns the channel each append's result arrives on, in
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
		return len(q.pending) == len(rest)
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

// TestAuditQueueGroupCommits: events queued while a batch is written go
// out together in the next round, one INSERT per tenant, and every request
// learns that its own event is stored.
func TestAuditQueueGroupCommits(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store)
		q := newAuditQueue(h, 100, kms.MaxAuditBatch)
		first := event(tenants[0])
		var rest []*kms.AuditEvent
		for i := range 8 {
			rest = append(rest, event(tenants[i%2]))
		}
		results := queueBehind(t, q, h, first, rest)
		close(h.release)
		for _, c := range results {
			require.NoError(t, <-c)
		}
		assert.Equal(t, []int{1, 4, 4}, h.calls(), "9 requests, 3 INSERTs: the held one, then one per tenant")
		want := map[uuid.UUID][]uuid.UUID{tenants[0]: {first.ID}}
		for _, e := range rest {
			want[e.TenantID] = append(want[e.TenantID], e.ID)
		}
		for _, tn := range tenants {
			assert.ElementsMatch(t, want[tn], storedIDs(t, store, tn), "one event per request, in its tenant")
		}
	})
}

// TestAuditQueueFailedBatchFailsItsRequests: when a batch cannot be
// written, every request in it gets the error, and the others do not.
func TestAuditQueueFailedBatchFailsItsRequests(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store)
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

// TestAuditQueueCloseDrains: Close returns once every queued event is
// stored, and later events are refused.
func TestAuditQueueCloseDrains(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store)
		q := newAuditQueue(h, 100, kms.MaxAuditBatch)
		first := event(tenants[0])
		rest := []*kms.AuditEvent{event(tenants[0]), event(tenants[1])}
		results := queueBehind(t, q, h, first, rest)
		closed := make(chan struct{})
		go func() { q.close(); close(closed) }()
		require.Eventually(t, func() bool {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.closed
		}, 10*time.Second, time.Millisecond)
		assert.Equal(t, kms.NotReady, kms.CodeOf(q.append(t.Context(), event(tenants[0]))), "refused once closing")
		close(h.release)
		<-closed
		// Stored by the time Close returned, before any request is asked.
		assert.ElementsMatch(t, []uuid.UUID{first.ID, rest[0].ID}, storedIDs(t, store, tenants[0]))
		assert.Equal(t, []uuid.UUID{rest[1].ID}, storedIDs(t, store, tenants[1]))
		for _, c := range results {
			require.NoError(t, <-c)
		}
		q.close() // again: a no-op
	})
}

// TestAuditQueueBounds: an append to a full queue waits for room (here
// none comes while the writer is held, and Close then refuses it), and a
// round writes at most maxBatch events.
func TestAuditQueueBounds(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		store, tenants := queueEnv(t, b)
		h := newHeldLog(store)
		q := newAuditQueue(h, 4, 2)
		var rest []*kms.AuditEvent
		for range 4 {
			rest = append(rest, event(tenants[0]))
		}
		results := queueBehind(t, q, h, event(tenants[0]), rest)
		overflow := make(chan error, 1)
		go func() { overflow <- q.append(t.Context(), event(tenants[0])) }()
		closed := make(chan struct{})
		go func() { q.close(); close(closed) }()
		assert.Equal(t, kms.NotReady, kms.CodeOf(<-overflow), "no room before Close, refused by it")
		close(h.release)
		<-closed
		for _, c := range results {
			require.NoError(t, <-c)
		}
		assert.Equal(t, []int{1, 2, 2}, h.calls(), "the held event, then rounds of at most maxBatch")
		assert.Len(t, storedIDs(t, store, tenants[0]), 5)
	})
}
