package dbtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCutPostgresEndsAndRefusesConnections: a cut database ends the
// sessions open on it (as a stopping server does, 57P01) and refuses new
// ones; restore lets them in again, and calling it twice is harmless.
func TestCutPostgresEndsAndRefusesConnections(t *testing.T) {
	if !hasPostgres(t) {
		t.Skip("PostgreSQL not selected in this run: " + PostgresSkippedNote())
	}
	dsn := Options(t, Postgres).DSN
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	open, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer func() { _ = open.Close(context.Background()) }()
	require.NoError(t, open.Ping(ctx))

	restore := CutPostgres(t, dsn)

	_, err = open.Exec(ctx, "SELECT 1")
	require.Error(t, err, "the session open before the cut is ended")
	assert.True(t, open.IsClosed() || isAdminShutdown(err), "want the session ended by the server, got %v", err)

	_, err = pgx.Connect(ctx, dsn)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want a server refusal of a new session, got %v", err)
	assert.Equal(t, "55000", pgErr.Code, "object not in prerequisite state: the database does not accept connections")

	restore()
	restore()
	again, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err, "connections are let in again after restore")
	require.NoError(t, again.Ping(ctx))
	require.NoError(t, again.Close(ctx))
}

func isAdminShutdown(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57P01"
}

// TestCutPostgresRefusesADSNWithoutADatabase: the DSN must name the
// database to cut; the failure says what is wrong without echoing it.
func TestCutPostgresRefusesADSNWithoutADatabase(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{dsn: "postgres://user:secret@127.0.0.1:5432/", want: "names no database"},
		{dsn: "postgres://user:secret@[::1", want: "malformed DSN"},
	} {
		rec := &fatalRecorder{TB: t}
		inGoroutine(func() { CutPostgres(rec, tc.dsn) })
		assert.Contains(t, rec.fatal, tc.want)
		assert.NotContains(t, rec.fatal, "secret")
		assert.Empty(t, rec.cleanups, "nothing was cut, nothing to restore")
	}
}

func TestQuoteLiteralDoublesQuotes(t *testing.T) {
	assert.Equal(t, `'test_1'`, quoteLiteral("test_1"))
	assert.Equal(t, `'it''s'`, quoteLiteral("it's"))
}

// TestServerLogTail: error messages carry the end of the server's log, or
// say why there is none.
func TestServerLogTail(t *testing.T) {
	c := &Cluster{logFile: filepath.Join(t.TempDir(), "missing.log")}
	assert.Contains(t, c.serverLog(), "(no log: ")
	long := strings.Repeat("x", 5000) + "the last line"
	require.NoError(t, os.WriteFile(c.logFile, []byte(long), 0o600))
	got := c.serverLog()
	assert.Len(t, got, 4000)
	assert.True(t, strings.HasSuffix(got, "the last line"))
}
