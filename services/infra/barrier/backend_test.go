package barrier

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// testDB is a fresh, empty system database on one backend, opened through
// services/infra/db exactly as the services open theirs.
type testDB struct {
	backend dbtest.Backend
	g       *gorm.DB
	dir     string // sqlite only: directory holding the database files
}

// forEachBackend runs fn as subtests "db=sqlite" and "db=postgres" over the
// backends dbtest selects (PASSTHRU_TEST_DB; PostgreSQL requested but
// unavailable fails the test, it never skips).
func forEachBackend(t *testing.T, fn func(t *testing.T, db *testDB)) {
	t.Helper()
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) { fn(t, newTestDB(t, b)) })
}

func newSQLite(t testing.TB) *testDB {
	t.Helper()
	return newTestDB(t, dbtest.SQLite)
}

// newTestDB opens a fresh database of backend b, closed when the test ends.
// It uses dbtest.Options rather than dbtest.Open because the SQLite tests
// need the directory, to scan the raw files for leaked key material.
func newTestDB(t testing.TB, b dbtest.Backend) *testDB {
	t.Helper()
	opts := dbtest.Options(t, b)
	d, err := db.Open(t.Context(), opts)
	require.NoError(t, err)
	// Registered after Options' cleanup, so it runs first: pools close
	// before the PostgreSQL database is dropped.
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	return &testDB{backend: b, g: d.Gorm(), dir: opts.Dir}
}
