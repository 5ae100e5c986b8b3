package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// WaitForLockWaiters returns once at least n sessions on d's PostgreSQL
// database wait for a lock another transaction holds, and fails the test if
// ctx ends first. With it a test forces an interleaving without hooks in the
// code under test: hold one transaction open, start a second that must wait
// for it, and let the first go on only when the second waits.
//
// On SQLite it returns at once: a transaction waiting for the write lock
// sleeps in the busy handler, which nothing can observe. SQLite runs one
// write transaction at a time, so the outcome the test asserts is the same
// whichever of the two begins first.
func WaitForLockWaiters(ctx context.Context, t testing.TB, d *db.DB, n int) {
	t.Helper()
	if d.Driver() != db.DriverPostgres {
		return
	}
	// The poll reads a statistics view and never waits for a lock, so it
	// runs to completion even when ctx ends meanwhile: ctx bounds the wait
	// between polls, and the failure below always reports the count of a
	// finished poll rather than an error of a cancelled one.
	poll := d.Gorm().WithContext(context.WithoutCancel(ctx))
	for {
		var waiting int
		err := poll.Raw(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting).Error
		if err != nil {
			t.Fatalf("dbtest: count sessions waiting for a lock: %v", err)
		}
		if waiting >= n {
			return
		}
		if err := ctx.Err(); err != nil {
			t.Fatalf("dbtest: %d of %d sessions wait for a lock when the test ended: %v", waiting, n, err)
		}
		select {
		case <-ctx.Done(): // reported after one more poll
		case <-time.After(5 * time.Millisecond): // poll interval, not a deadline
		}
	}
}
