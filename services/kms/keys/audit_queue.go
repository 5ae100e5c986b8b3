package keys

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/kms"
)

// auditQueue group-commits audit events. A request enqueues its event and
// waits until the batch holding it is stored, so nothing is acknowledged
// without its event, and a failed write fails every request of its batch.
//
// Each tenant has its own pending list and its own writer, which stores the
// events that queued up while its previous batch was being written in one
// INSERT: concurrent requests of a tenant share a round trip while a lone
// request pays exactly one statement and no wait (there is no timer
// collecting a batch). Tenants never wait for each other: each has its own
// database, and a slow or locked one must hold up only its own requests,
// so the bound on pending events is per tenant too.
//
// A tenant's writer runs only while it has events pending and its entry is
// removed when it stops; an idle tenant, or an idle queue, holds nothing, so
// a Service that is never closed leaks nothing.
type auditQueue struct {
	store    kms.AuditLog
	maxQueue int // pending events per tenant beyond which enqueue waits for room
	maxBatch int // events written per writer round

	mu      sync.Mutex
	stopped *sync.Cond // signalled when a tenant's writer stops
	tenants map[uuid.UUID]*tenantAudit
	waiting int // appends waiting for room, for tests to observe
	closed  bool
}

// tenantAudit is one tenant's queue. It exists exactly while the tenant's
// writer runs.
type tenantAudit struct {
	room    *sync.Cond // on auditQueue.mu; signalled when pending shrinks
	pending []*auditWait
}

// auditWait is one queued event and where its outcome is sent.
type auditWait struct {
	ctx  context.Context
	e    *kms.AuditEvent
	done chan error
}

// errAuditClosed refuses events after Close: the service is stopping, and
// an operation whose event cannot be recorded must not be acknowledged.
var errAuditClosed = kms.New(kms.NotReady, "the key service is shutting down")

func newAuditQueue(store kms.AuditLog, maxQueue, maxBatch int) *auditQueue {
	q := &auditQueue{store: store, maxQueue: max(maxQueue, 1), maxBatch: max(maxBatch, 1), tenants: map[uuid.UUID]*tenantAudit{}}
	q.stopped = sync.NewCond(&q.mu)
	return q
}

// append stores e and returns once it is stored or failed to be. ctx is
// kept for the store call (its values, not its cancellation: the caller
// detaches it, since the operation being recorded has already happened).
// When e's tenant has maxQueue events pending, append waits for room.
func (q *auditQueue) append(ctx context.Context, e *kms.AuditEvent) error {
	w := &auditWait{ctx: ctx, e: e, done: make(chan error, 1)}
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return errAuditClosed
		}
		// Looked up on every pass: the writer that was running when this
		// append started waiting may have drained the tenant and gone.
		t := q.tenants[e.TenantID]
		if t == nil {
			t = &tenantAudit{room: sync.NewCond(&q.mu)}
			q.tenants[e.TenantID] = t
			go q.write(e.TenantID, t)
		}
		if len(t.pending) < q.maxQueue {
			t.pending = append(t.pending, w)
			break
		}
		q.waiting++
		t.room.Wait()
		q.waiting--
	}
	q.mu.Unlock()
	return <-w.done
}

// write stores the tenant's pending batches until none is left, then
// removes the tenant's entry and exits.
func (q *auditQueue) write(tenant uuid.UUID, t *tenantAudit) {
	for {
		q.mu.Lock()
		if len(t.pending) == 0 {
			delete(q.tenants, tenant)
			q.stopped.Broadcast()
			q.mu.Unlock()
			return
		}
		n := min(len(t.pending), q.maxBatch)
		batch := t.pending[:n:n]
		t.pending = t.pending[n:]
		if len(t.pending) == 0 {
			t.pending = nil // let the drained backing array go
		}
		t.room.Broadcast()
		q.mu.Unlock()
		q.writeBatch(tenant, batch)
	}
}

// writeBatch stores one batch of the tenant's events in one statement and
// tells each of its requests the outcome.
func (q *auditQueue) writeBatch(tenant uuid.UUID, ws []*auditWait) {
	events := make([]*kms.AuditEvent, len(ws))
	for i, w := range ws {
		events[i] = w.e
	}
	// The first request's context carries the values (trace, request id)
	// the store's logs are attributed to.
	err := q.store.AppendAudit(ws[0].ctx, tenant, events...)
	for _, w := range ws {
		w.done <- err
	}
}

// close refuses new events, waits until every tenant's queued events are
// stored, and returns. It may be called more than once.
func (q *auditQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, t := range q.tenants {
		t.room.Broadcast() // appends waiting for room give up
	}
	for len(q.tenants) > 0 {
		q.stopped.Wait()
	}
}
