//go:build !sqlite_trace

package bench

import "sync/atomic"

// statementsCounted: SQLite's statement trace is compiled into mattn's
// driver only with the sqlite_trace build tag (make bench sets it).
const statementsCounted = false

func countSQLiteStatements(*atomic.Int64) error { return nil }
