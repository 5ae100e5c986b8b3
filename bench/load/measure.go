package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// maxErrorSamples is how many error messages a phase keeps for the report.
const maxErrorSamples = 3

// phaseResult is the raw outcome of one phase.
type phaseResult struct {
	latencies []time.Duration // of every request, failed ones included
	errors    int
	samples   []string // the first few error messages
	elapsed   time.Duration
}

// errorLog counts errors and keeps the first few messages.
type errorLog struct {
	mu      sync.Mutex
	n       int
	samples []string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.samples) < maxErrorSamples {
		e.samples = append(e.samples, err.Error())
	}
}

// runCount sends n requests over conns concurrent workers, as fast as the
// server answers.
func runCount(ctx context.Context, do func(context.Context, int) error, n, conns int) phaseResult {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var errs errorLog
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conns, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				err := do(ctx, i)
				lat[i] = time.Since(t)
				if err != nil {
					errs.add(err)
				}
			}
		})
	}
	wg.Wait()
	return phaseResult{latencies: lat, errors: errs.n, samples: errs.samples, elapsed: time.Since(start)}
}

// runFor sends requests over conns concurrent workers until d has passed.
func runFor(ctx context.Context, do func(context.Context, int) error, d time.Duration, conns int) phaseResult {
	var next atomic.Int64
	var errs errorLog
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				t := time.Now()
				err := do(ctx, i)
				mine = append(mine, time.Since(t))
				if err != nil {
					errs.add(err)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		errs.add(ctx.Err())
	}
	return phaseResult{latencies: all, errors: errs.n, samples: errs.samples, elapsed: time.Since(start)}
}

// soakRecord is one request of a soak run.
type soakRecord struct {
	scenario int
	at       time.Duration // since the soak began
	latency  time.Duration
	failed   bool
}

// runSoak sends requests at a steady rate for d, cycling through the
// scenarios, over at most conns concurrent workers. A tick that comes
// while every worker is still busy is dropped (time.Ticker drops ticks for
// a slow receiver): the rate is an upper bound, never caught up in a burst.
func runSoak(ctx context.Context, scs []*Scenario, rate float64, d time.Duration, conns int) ([]soakRecord, *errorLog, time.Duration) {
	ticks := make(chan int)
	start := time.Now()
	go func() {
		defer close(ticks)
		interval := time.Duration(float64(time.Second) / rate)
		t := time.NewTicker(interval)
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.Sub(start) >= d {
					return
				}
				select {
				case ticks <- k:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var errs errorLog
	var mu sync.Mutex
	var recs []soakRecord
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for k := range ticks {
				sc := k % len(scs)
				t := time.Now()
				err := scs[sc].Do(ctx, k/len(scs))
				r := soakRecord{scenario: sc, at: t.Sub(start), latency: time.Since(t), failed: err != nil}
				if err != nil {
					errs.add(fmt.Errorf("%s: %w", scs[sc].Name(), err))
				}
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return recs, &errs, time.Since(start)
}
