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
// One writer stores the events that queued up while the previous batch was
// being written, one INSERT per tenant, so concurrent requests share a
// round trip while a lone request pays exactly one statement and no wait:
// there is no timer collecting a batch.
//
// The writer goroutine runs only while events are pending; an idle queue
// holds none, so a Service that is never closed leaks nothing.
type auditQueue struct {
	store    kms.AuditLog
	maxQueue int // pending events beyond which enqueue waits for room
	maxBatch int // events written per writer round

	mu      sync.Mutex
	cond    *sync.Cond // signalled when pending shrinks or the writer stops
	pending []*auditWait
	running bool // a writer goroutine is draining pending
	closed  bool
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
	q := &auditQueue{store: store, maxQueue: maxQueue, maxBatch: maxBatch}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// append stores e and returns once it is stored or failed to be. ctx is
// kept for the store call (its values, not its cancellation: the caller
// detaches it, since the operation being recorded has already happened).
// A full queue makes append wait for room.
func (q *auditQueue) append(ctx context.Context, e *kms.AuditEvent) error {
	w := &auditWait{ctx: ctx, e: e, done: make(chan error, 1)}
	q.mu.Lock()
	for !q.closed && len(q.pending) >= q.maxQueue {
		q.cond.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return errAuditClosed
	}
	q.pending = append(q.pending, w)
	if !q.running {
		q.running = true
		go q.write()
	}
	q.mu.Unlock()
	return <-w.done
}

// write stores pending batches until none is left, then exits.
func (q *auditQueue) write() {
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			q.cond.Broadcast()
			q.mu.Unlock()
			return
		}
		n := min(len(q.pending), q.maxBatch)
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		if len(q.pending) == 0 {
			q.pending = nil // let the drained backing array go
		}
		q.cond.Broadcast()
		q.mu.Unlock()
		q.writeBatch(batch)
	}
}

// writeBatch writes one batch, one statement per tenant (each tenant has its
// own database), tenants in parallel so that a slow tenant database does
// not hold up the others' requests longer than one round.
func (q *auditQueue) writeBatch(batch []*auditWait) {
	byTenant := make(map[uuid.UUID][]*auditWait, 1)
	for _, w := range batch {
		byTenant[w.e.TenantID] = append(byTenant[w.e.TenantID], w)
	}
	if len(byTenant) == 1 {
		for tenant, ws := range byTenant {
			q.storeTenant(tenant, ws)
		}
		return
	}
	var wg sync.WaitGroup
	for tenant, ws := range byTenant {
		wg.Go(func() { q.storeTenant(tenant, ws) })
	}
	wg.Wait()
}

func (q *auditQueue) storeTenant(tenant uuid.UUID, ws []*auditWait) {
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

// close refuses new events, waits for every queued one to be stored, and
// returns. It may be called more than once.
func (q *auditQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast() // appends waiting for room give up
	for q.running {
		q.cond.Wait()
	}
}
