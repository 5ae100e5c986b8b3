package load

import (
	"slices"
	"time"
)

// Summary is what one measured phase of one endpoint produced.
type Summary struct {
	Requests int
	Errors   int
	Elapsed  time.Duration // wall time of the phase
	P50, P90 time.Duration
	P99, Max time.Duration
}

// Summarize computes the latency percentiles of the given request
// latencies (it sorts them in place).
func Summarize(latencies []time.Duration, errors int, elapsed time.Duration) Summary {
	slices.Sort(latencies)
	s := Summary{Requests: len(latencies), Errors: errors, Elapsed: elapsed}
	if len(latencies) == 0 {
		return s
	}
	s.P50 = Percentile(latencies, 50)
	s.P90 = Percentile(latencies, 90)
	s.P99 = Percentile(latencies, 99)
	s.Max = latencies[len(latencies)-1]
	return s
}

// Percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest value with at least p% of the values at or below
// it. It never interpolates, so the result is a latency that a request
// really had; with 100 values p99 is the second largest.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Nearest rank: ceil(p/100 * n), 1-based. Integer arithmetic on
	// hundredths of a percent avoids float rounding at exact ranks.
	n := len(sorted)
	hp := int(p * 100)
	rank := (hp*n + 9999) / 10000
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Throughput is requests per second over the phase.
func (s Summary) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}
