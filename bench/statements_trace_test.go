//go:build sqlite_trace

package bench

import (
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// statementsCounted: this build counts the statements SQLite runs.
const statementsCounted = true

// countSQLiteStatements makes every SQLite connection opened from now on in
// this test binary add one to n for each SQL statement it starts (SQLite's
// statement trace; trigger bodies, reported as "--" comments, are not
// statements of their own). It hooks the "sqlite3" driver itself, the one
// gorm opens, so it sees the system and tenant databases of a service
// started in-process, which keeps their gorm handles to itself. Call it
// from TestMain, before any connection exists.
func countSQLiteStatements(n *atomic.Int64) error {
	probe, err := sql.Open("sqlite3", ":memory:") // opens no connection
	if err != nil {
		return fmt.Errorf("count sqlite statements: %w", err)
	}
	defer probe.Close()
	drv, ok := probe.Driver().(*sqlite3.SQLiteDriver)
	if !ok {
		return fmt.Errorf("count sqlite statements: driver sqlite3 is a %T", probe.Driver())
	}
	trace := &sqlite3.TraceConfig{
		EventMask: sqlite3.TraceStmt,
		Callback: func(info sqlite3.TraceInfo) int {
			if !strings.HasPrefix(info.StmtOrTrigger, "--") {
				n.Add(1)
			}
			return 0
		},
	}
	drv.ConnectHook = func(c *sqlite3.SQLiteConn) error { return c.SetTrace(trace) }
	return nil
}
