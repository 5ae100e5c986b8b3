package load

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func msN(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = msN(i + 1) // 1..100 ms
	}
	cases := []struct {
		desc   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{desc: "empty", sorted: nil, p: 99, want: 0},
		{desc: "one value is every percentile", sorted: []time.Duration{msN(7)}, p: 99, want: msN(7)},
		{desc: "p50 of 1..100 is 50 (nearest rank)", sorted: hundred, p: 50, want: msN(50)},
		{desc: "p90 of 1..100", sorted: hundred, p: 90, want: msN(90)},
		{desc: "p99 of 1..100 is the second largest", sorted: hundred, p: 99, want: msN(99)},
		{desc: "p100 is the max", sorted: hundred, p: 100, want: msN(100)},
		{desc: "p99 of 10 values is the largest", sorted: hundred[:10], p: 99, want: msN(10)},
		{desc: "p50 of 4 values rounds the rank up", sorted: hundred[:4], p: 50, want: msN(2)},
		{desc: "p0 is the smallest", sorted: hundred, p: 0, want: msN(1)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, Percentile(tc.sorted, tc.p))
		})
	}
}

func TestSummarizeSortsAndCounts(t *testing.T) {
	lat := []time.Duration{msN(30), msN(10), msN(20), msN(40)}
	s := Summarize(lat, 1, 2*time.Second)
	assert.Equal(t, Summary{Requests: 4, Errors: 1, Elapsed: 2 * time.Second, P50: msN(20), P90: msN(40), P99: msN(40), Max: msN(40)}, s)
	assert.InDelta(t, 2.0, s.Throughput(), 1e-9)
	assert.Zero(t, Summary{}.Throughput(), "no elapsed time: no division by zero")
	assert.Equal(t, Summary{Errors: 2, Elapsed: time.Second}, Summarize(nil, 2, time.Second))
}

func TestWindows(t *testing.T) {
	recs := []soakRecord{
		{at: msN(100), latency: msN(5)},
		{at: msN(900), latency: msN(7)},
		{at: msN(1500), latency: msN(300), failed: true}, // a cache expired here
		{at: msN(2100), latency: msN(6)},                 // the tail past the last window's end joins it
	}
	got := windows(recs, 2*time.Second, 2)
	assert.Len(t, got, 2)
	assert.Equal(t, time.Duration(0), got[0].Start)
	assert.Equal(t, 2, got[0].Requests)
	assert.Equal(t, msN(7), got[0].Max)
	assert.Equal(t, time.Second, got[1].Start)
	assert.Equal(t, 2, got[1].Requests)
	assert.Equal(t, 1, got[1].Errors)
	assert.Equal(t, msN(300), got[1].P99)
}
