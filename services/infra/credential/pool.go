package credential

import "context"

// Pool bounds the uncached checks: at most size run at once and at most
// queue more wait for a slot. A check that finds both full is refused at
// once (ErrBusy) rather than queued without bound, so a flood of unknown or
// wrong credentials costs the service at most size CPUs and a bounded wait,
// and the requests whose credentials are cached, which never enter the
// pool, keep being served.
type Pool struct {
	admitted chan struct{} // capacity size+queue: every holder of a Ticket
	running  chan struct{} // capacity size: the tickets that got a slot
}

// NewPool returns a pool of size slots (at least one) and queue waiting places.
func NewPool(size, queue int) *Pool {
	size = max(size, 1)
	return &Pool{admitted: make(chan struct{}, size+max(queue, 0)), running: make(chan struct{}, size)}
}

// Ticket is a place in the pool: first in the queue, then, after Wait, in a
// slot. Release it exactly once.
type Ticket struct {
	p       *Pool
	running bool
}

// Reserve takes a place without waiting, or returns ErrBusy when the slots
// and the queue are all taken.
func (p *Pool) Reserve() (*Ticket, error) {
	select {
	case p.admitted <- struct{}{}:
		return &Ticket{p: p}, nil
	default:
		return nil, ErrBusy
	}
}

// Wait waits for a slot, or for ctx to end (its error is returned).
func (t *Ticket) Wait(ctx context.Context) error {
	select {
	case t.p.running <- struct{}{}:
		t.running = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives the place (and the slot, if Wait got one) back.
func (t *Ticket) Release() {
	if t.running {
		<-t.p.running
		t.running = false
	}
	<-t.p.admitted
}
