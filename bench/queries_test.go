package bench

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// queryCounter counts the SQL statements gorm runs on one database handle,
// so a benchmark can report queries/op: a machine-independent number that
// shows whether a cache works.
type queryCounter struct{ n atomic.Int64 }

// countQueries registers the counter after every gorm operation kind on g.
// Callbacks live in g's shared configuration, so sessions derived from g
// (transactions, WithContext) are counted too.
func countQueries(b *testing.B, g *gorm.DB) *queryCounter {
	b.Helper()
	c := &queryCounter{}
	count := func(*gorm.DB) { c.n.Add(1) }
	cb := g.Callback()
	const name = "bench:count_queries"
	require.NoError(b, cb.Create().Register(name, count))
	require.NoError(b, cb.Query().Register(name, count))
	require.NoError(b, cb.Update().Register(name, count))
	require.NoError(b, cb.Delete().Register(name, count))
	require.NoError(b, cb.Row().Register(name, count))
	require.NoError(b, cb.Raw().Register(name, count))
	return c
}

// report publishes the queries counted since start as queries/op. Call it
// right after the b.Loop loop, with start taken right before it.
func (c *queryCounter) report(b *testing.B, start int64) {
	b.ReportMetric(float64(c.n.Load()-start)/float64(b.N), "queries/op")
}
