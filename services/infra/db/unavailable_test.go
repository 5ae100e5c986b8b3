package db_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func TestUnavailableClassifies(t *testing.T) {
	tests := []struct {
		desc       string
		err        error
		wantReason string // "" when the error is not unavailability
	}{
		{desc: "nil", err: nil},
		{desc: "no rows", err: sql.ErrNoRows},
		{desc: "record not found", err: gorm.ErrRecordNotFound},
		{desc: "unique violation", err: &pgconn.PgError{Code: "23505"}},
		{desc: "syntax error", err: &pgconn.PgError{Code: "42601"}},
		{desc: "a plain error", err: errors.New("boom")},
		{desc: "context canceled", err: context.Canceled},
		{desc: "a read cut short by the caller's deadline", err: fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, context.DeadlineExceeded)},
		{desc: "sqlite constraint", err: sqlite3.Error{Code: sqlite3.ErrConstraint}},
		{desc: "connection failure SQLSTATE", err: &pgconn.PgError{Code: "08006"}, wantReason: "unreachable"},
		{desc: "admin shutdown", err: &pgconn.PgError{Code: "57P01"}, wantReason: "shutting down"},
		{desc: "crash shutdown", err: &pgconn.PgError{Code: "57P02"}, wantReason: "shutting down"},
		{desc: "starting up", err: &pgconn.PgError{Code: "57P03"}, wantReason: "shutting down"},
		{desc: "disk full", err: &pgconn.PgError{Code: "53100"}, wantReason: "storage full"},
		{desc: "too many connections", err: &pgconn.PgError{Code: "53300"}, wantReason: "busy"},
		{desc: "read-only transaction", err: &pgconn.PgError{Code: "25006"}, wantReason: "read-only"},
		{desc: "closed connection", err: fmt.Errorf("query: %w", pgconn.ErrConnClosed), wantReason: "unreachable"},
		{desc: "bad connection", err: driver.ErrBadConn, wantReason: "unreachable"},
		{desc: "unexpected EOF", err: fmt.Errorf("read: %w", io.ErrUnexpectedEOF), wantReason: "unreachable"},
		{desc: "sqlite full", err: sqlite3.Error{Code: sqlite3.ErrFull}, wantReason: "storage full"},
		{desc: "sqlite read-only", err: sqlite3.Error{Code: sqlite3.ErrReadonly}, wantReason: "read-only"},
		{desc: "sqlite I/O error", err: sqlite3.Error{Code: sqlite3.ErrIoErr}, wantReason: "storage failed"},
		{desc: "sqlite busy", err: sqlite3.Error{Code: sqlite3.ErrBusy}, wantReason: "busy"},
		{desc: "wrapped twice", err: fmt.Errorf("store: %w", fmt.Errorf("tx: %w", &pgconn.PgError{Code: "57P01"})), wantReason: "shutting down"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ue, ok := db.Unavailable(tc.err)
			if tc.wantReason == "" {
				assert.False(t, ok, "%v is not unavailability", tc.err)
				assert.Nil(t, ue)
				return
			}
			require.True(t, ok, "%v is unavailability", tc.err)
			assert.Equal(t, tc.wantReason, ue.Reason)
			assert.Positive(t, ue.RetryAfter)
			assert.ErrorIs(t, ue, db.ErrUnavailable)
			assert.ErrorIs(t, ue, tc.err, "the driver's error stays in the chain")
			again, ok := db.Unavailable(fmt.Errorf("outer: %w", ue))
			require.True(t, ok)
			assert.Same(t, ue, again, "an error already classified is found, not classified again")
		})
	}
}

// TestUnavailableRealErrors classifies what the drivers really return: a
// PostgreSQL that refuses connections, a connection the server ends under
// the client, and an SQLite database that cannot grow.
func TestUnavailableRealErrors(t *testing.T) {
	t.Run("postgres refuses connections", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		// Port 1 on loopback: nothing listens there.
		_, err := db.Open(ctx, db.Options{Driver: db.DriverPostgres, Namespace: "test", DSN: "postgres://u:p@127.0.0.1:1/x?connect_timeout=2"})
		require.Error(t, err)
		ue, ok := db.Unavailable(err)
		require.True(t, ok, "a refused connection is unavailability: %v", err)
		assert.Equal(t, "unreachable", ue.Reason)
	})
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		g := d.Gorm().WithContext(t.Context())
		switch b {
		case dbtest.Postgres:
			// The server ends this connection as it ends every connection
			// when it shuts down (FATAL 57P01).
			err := g.Exec("SELECT pg_terminate_backend(pg_backend_pid())").Error
			require.Error(t, err)
			ue, ok := db.Unavailable(err)
			require.True(t, ok, "a connection ended by the server is unavailability: %v", err)
			assert.Contains(t, []string{"shutting down", "unreachable"}, ue.Reason)
			require.NoError(t, g.Exec("SELECT 1").Error, "the pool replaces the ended connection")
		case dbtest.SQLite:
			// A page limit makes the database full as a full disk would.
			require.NoError(t, g.Exec("CREATE TABLE filler (v BLOB)").Error)
			var pages int64
			require.NoError(t, g.Raw("PRAGMA page_count").Scan(&pages).Error)
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				err = g.Connection(func(tx *gorm.DB) error {
					if err := tx.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)).Error; err != nil {
						return err
					}
					return tx.Exec("INSERT INTO filler (v) VALUES (randomblob(4096))").Error
				})
			}
			require.Error(t, err, "the page limit is reached")
			ue, ok := db.Unavailable(err)
			require.True(t, ok, "a full database is unavailability: %v", err)
			assert.Equal(t, "storage full", ue.Reason)
		}
	})
}
