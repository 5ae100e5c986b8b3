package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// waitForLockWaiters runs WaitForLockWaiters against a recorder and reports
// whether it returned (rather than failed the test) and the failure.
func waitForLockWaiters(ctx context.Context, d *db.DB, n int) (returned bool, fatal string) {
	rec := &fatalRecorder{}
	inGoroutine(func() {
		WaitForLockWaiters(ctx, rec, d, n)
		returned = true
	})
	return returned, rec.fatal
}

func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// TestWaitForLockWaitersSeesABlockedSession holds a row lock in one
// transaction and updates the row from another connection: the helper
// returns once the update waits, while it still waits, and counts it as one
// waiter, not two.
func TestWaitForLockWaitersSeesABlockedSession(t *testing.T) {
	if !hasPostgres(t) {
		t.Skip("PostgreSQL not selected in this run: " + PostgresSkippedNote())
	}
	d := Open(t, Postgres)
	g := d.Gorm().WithContext(t.Context())
	require.NoError(t, g.Exec("CREATE TABLE counters (id integer PRIMARY KEY, n integer NOT NULL)").Error)
	require.NoError(t, g.Exec("INSERT INTO counters (id, n) VALUES (1, 0)").Error)

	// Nobody waits: the helper polls until ctx ends, then fails the test.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	returned, fatal := waitForLockWaiters(ctx, d, 1)
	assert.False(t, returned, "nobody waits yet")
	assert.Contains(t, fatal, "0 of 1 sessions wait for a lock when the test ended: context deadline exceeded")

	holder := g.Begin()
	require.NoError(t, holder.Error)
	defer holder.Rollback()
	require.NoError(t, holder.Exec("SELECT n FROM counters WHERE id = 1 FOR UPDATE").Error)
	// The helper runs alongside the update and returns once the update
	// blocks on the row.
	type result struct {
		returned bool
		fatal    string
	}
	waited := make(chan result, 1)
	go func() {
		returned, fatal := waitForLockWaiters(t.Context(), d, 1)
		waited <- result{returned, fatal}
	}()
	updated := make(chan error, 1)
	go func() { updated <- g.Exec("UPDATE counters SET n = n + 1 WHERE id = 1").Error }()
	require.Equal(t, result{returned: true}, <-waited)
	select {
	case err := <-updated:
		t.Fatalf("the update finished while the row was locked (err %v): the helper returned before anyone waited", err)
	default: // still blocked, as the helper said
	}
	returned, fatal = waitForLockWaiters(cancelled(t), d, 2)
	assert.False(t, returned, "one session waits, two were asked for")
	assert.Contains(t, fatal, "1 of 2 sessions wait for a lock when the test ended: context canceled")

	require.NoError(t, holder.Commit().Error)
	require.NoError(t, <-updated)
	var n int
	require.NoError(t, g.Raw("SELECT n FROM counters WHERE id = 1").Scan(&n).Error)
	assert.Equal(t, 1, n, "the waiting update ran once the lock was released")
}

func TestWaitForLockWaitersFailsWhenItCannotCount(t *testing.T) {
	if !hasPostgres(t) {
		t.Skip("PostgreSQL not selected in this run: " + PostgresSkippedNote())
	}
	d := Open(t, Postgres)
	require.NoError(t, d.Close())
	returned, fatal := waitForLockWaiters(t.Context(), d, 1)
	assert.False(t, returned)
	assert.Contains(t, fatal, "dbtest: count sessions waiting for a lock: ")
	assert.Contains(t, fatal, "database is closed")
}

// On SQLite nothing can observe a waiter, so the helper returns at once,
// whatever it is asked for and even when ctx has ended.
func TestWaitForLockWaitersReturnsOnSQLite(t *testing.T) {
	d := Open(t, SQLite)
	returned, fatal := waitForLockWaiters(cancelled(t), d, 3)
	assert.True(t, returned)
	assert.Empty(t, fatal)
}
