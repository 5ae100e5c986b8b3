package bench

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

// cost is what one endpoint benchmark's loop costs the process: the SQL
// statements SQLite ran and the CPU time (user and system) of the whole
// test binary, the in-process server and its client both. CPU time is far
// steadier than wall time on a shared machine, though still a time: the
// gate compares it only A/B within one run, never against the stored file.
type cost struct {
	statements int64
	cpu        time.Duration
}

// startCost reads the counters at the start of a benchmark's loop.
func startCost(b *testing.B) cost {
	b.Helper()
	return cost{statements: sqliteStatements.Load(), cpu: processCPU(b)}
}

// report publishes queries/op and cpu-ms/op since c was read.
func (c cost) report(b *testing.B) {
	b.Helper()
	b.ReportMetric(float64(processCPU(b)-c.cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	reportStatements(b, c.statements)
}

// processCPU is the user plus system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
