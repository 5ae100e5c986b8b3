package introspect

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

// parallelism bounds the calls one exchange sends at once (batch chunks, or
// single RFC 7662 calls when it cannot batch): enough to not queue behind a
// slow call, few enough to not flood Identity after a burst.
const parallelism = 8

// credential is an introspection client. Tokens are batched per client:
// one call can carry only tokens the same client may introspect.
type credential struct {
	id, secret string
}

// flight is one token's pending or sent check, shared by every check of
// the token that joins it.
type flight struct {
	key    [32]byte
	raw    string
	tenant string    // the token's tenant_id claim
	jti    string    // the token's jti claim
	exp    time.Time // the token's expiry; zero without one

	// sent is set (under Checker.mu) when the flight's call is sent.
	sent time.Time
	// parent is the span of the check that made the flight (only when
	// traced): the call that answers it continues that trace.
	parent trace.SpanContext

	// The answer, written before done is closed.
	done   chan struct{}
	active bool
	err    error // wraps authn.ErrUnavailable
}

// queue is the work of one introspection client: the tokens waiting for
// the next call, while one runs.
type queue struct {
	cred    credential
	pending []*flight
	byKey   map[[32]byte]*flight // pending, by token hash
}

// join returns the flight that answers this check: a waiting one of the
// same token, a sent one when the check may share it, or a new one queued
// for the client's next call.
func (c *Checker) join(ctx context.Context, cred credential, key [32]byte, raw string, claims *authn.Claims, now time.Time, strict bool) *flight {
	c.mu.Lock()
	q := c.queues[cred]
	if q != nil {
		if f := q.byKey[key]; f != nil {
			c.mu.Unlock()
			c.queued()
			return f
		}
	}
	// A sent call may have been answered before this check began: only a
	// non-strict check shares it, and only while its answer is within the
	// staleness bound.
	if f := c.inflight[key]; f != nil && !strict && now.Sub(f.sent) < c.interval {
		c.mu.Unlock()
		c.queued()
		return f
	}
	f := &flight{key: key, raw: raw, tenant: claims.TenantID, jti: claims.ID, done: make(chan struct{})}
	if c.traced {
		f.parent = trace.SpanContextFromContext(ctx)
	}
	if claims.ExpiresAt != nil {
		f.exp = claims.ExpiresAt.Time
	}
	start := q == nil
	if start {
		q = &queue{cred: cred, byKey: map[[32]byte]*flight{}}
		c.queues[cred] = q
	}
	q.pending = append(q.pending, f)
	q.byKey[key] = f
	c.mu.Unlock()
	if start {
		go c.drain(q)
	}
	c.queued()
	return f
}

func (c *Checker) queued() {
	if c.testHookQueued != nil {
		c.testHookQueued()
	}
}

// drain sends the client's waiting tokens, all of them in each exchange,
// until none are left. Tokens arriving during an exchange wait for the
// next: that is the whole batching policy, with no timer.
func (c *Checker) drain(q *queue) {
	for {
		c.mu.Lock()
		round := q.pending
		if len(round) == 0 {
			delete(c.queues, q.cred)
			c.mu.Unlock()
			return
		}
		q.pending = nil
		clear(q.byKey)
		sent := c.now()
		for _, f := range round {
			f.sent = sent
			c.inflight[f.key] = f
		}
		c.mu.Unlock()

		c.exchange(q.cred, round)

		c.mu.Lock()
		for _, f := range round {
			if c.inflight[f.key] == f {
				delete(c.inflight, f.key)
			}
		}
		c.mu.Unlock()
		for _, f := range round {
			switch {
			case f.err != nil:
			case f.active:
				// Every-request checks never use a remembered "active".
				if c.mode != ModeEveryRequest {
					c.cache.putActive(f.key, f.sent, f.exp)
				}
			default:
				c.cache.putInactive(f.key, f.exp)
			}
			close(f.done)
		}
	}
}

// exchange asks Identity about round, setting each flight's answer. It runs
// on its own context: the checks waiting for it may give up, the others
// still get their answer. Traced, its calls belong to the trace of the
// round's first check (one call answers checks of many traces; the first
// is the one that waited longest).
func (c *Checker) exchange(cred credential, round []*flight) {
	base := context.Background()
	if p := round[0].parent; p.IsValid() {
		base = trace.ContextWithSpanContext(base, p)
	}
	ctx, cancel := context.WithTimeout(base, c.timeout)
	defer cancel()
	endpoint, batch, err := c.endpoints.get(ctx)
	if err != nil {
		c.log.ErrorContext(ctx, "introspection endpoint discovery failed", "error", err)
		for _, f := range round {
			f.err = errUnavailableWith(err)
		}
		return
	}
	if batch == "" || len(round) == 1 || c.noBatch.Load() {
		c.singles(ctx, endpoint, cred, round)
		return
	}
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for chunk := range slices.Chunk(round, c.maxBatch) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := c.batchCall(ctx, batch, cred, chunk)
			if errors.Is(err, errBatchUnsupported) {
				if c.noBatch.CompareAndSwap(false, true) {
					c.log.WarnContext(ctx, "the batch introspection endpoint is not available: checking one token per call from now on",
						"endpoint", batch, "error", err)
				}
				c.singles(ctx, endpoint, cred, chunk)
			}
		})
	}
	wg.Wait()
}

// singles asks about each flight in its own RFC 7662 call.
func (c *Checker) singles(ctx context.Context, endpoint string, cred credential, fs []*flight) {
	if len(fs) == 1 {
		c.singleCall(ctx, endpoint, cred, fs[0])
		return
	}
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for _, f := range fs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.singleCall(ctx, endpoint, cred, f)
		})
	}
	wg.Wait()
}
