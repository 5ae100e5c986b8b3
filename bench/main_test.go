package bench

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// sqliteStatements counts every SQL statement SQLite starts in this test
// binary (with the sqlite_trace build tag; see countSQLiteStatements). It is
// process-wide because the driver hook is: benchmarks run one at a time and
// read the difference across their loop.
var sqliteStatements atomic.Int64

func TestMain(m *testing.M) {
	if err := countSQLiteStatements(&sqliteStatements); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// reportStatements publishes the SQLite statements started since start as
// queries/op. Without the sqlite_trace tag nothing is counted, so nothing is
// reported (rather than a false 0): the gate then fails on the missing unit.
func reportStatements(b *testing.B, start int64) {
	b.Helper()
	if !statementsCounted {
		b.Log("queries/op not reported: build with -tags sqlite_trace (make bench does)")
		return
	}
	b.ReportMetric(float64(sqliteStatements.Load()-start)/float64(b.N), "queries/op")
}
