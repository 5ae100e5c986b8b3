package barrier

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// testDB is a fresh, empty system database on one backend. Until the lead
// switches this package to testkit/dbtest, it opens gorm directly.
type testDB struct {
	backend string
	g       *gorm.DB
	dir     string // sqlite only: directory holding the database files
}

// forEachBackend runs fn as subtests "db=sqlite" and, when
// PASSTHRU_TEST_PG_DSN is set, "db=postgres". PASSTHRU_TEST_DB=postgres|all
// without a DSN fails rather than silently testing less.
func forEachBackend(t *testing.T, fn func(t *testing.T, db *testDB)) {
	t.Helper()
	dsn := os.Getenv("PASSTHRU_TEST_PG_DSN")
	want := os.Getenv("PASSTHRU_TEST_DB")
	if dsn == "" && (want == "postgres" || want == "all") {
		t.Fatalf("PASSTHRU_TEST_DB=%s requires PASSTHRU_TEST_PG_DSN (e.g. postgres://passthru:passthru@127.0.0.1:5432/passthru?sslmode=disable)", want)
	}
	if want != "postgres" {
		t.Run("db=sqlite", func(t *testing.T) { fn(t, newSQLite(t)) })
	}
	if dsn != "" && want != "sqlite" {
		t.Run("db=postgres", func(t *testing.T) { fn(t, newPostgres(t, dsn)) })
	}
}

func gormConfig() *gorm.Config {
	return &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)}
}

func newSQLite(t testing.TB) *testDB {
	t.Helper()
	dir := t.TempDir()
	dsn := "file:" + filepath.Join(dir, "system.db") + "?_txlock=immediate&_busy_timeout=5000&_journal_mode=WAL&_foreign_keys=on"
	g, err := gorm.Open(sqlite.Open(dsn), gormConfig())
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := g.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return &testDB{backend: "sqlite", g: g, dir: dir}
}

func newPostgres(t testing.TB, dsn string) *testDB {
	t.Helper()
	admin, err := gorm.Open(postgres.Open(dsn), gormConfig())
	require.NoError(t, err)
	adminSQL, err := admin.DB()
	require.NoError(t, err)
	t.Cleanup(func() { _ = adminSQL.Close() })

	raw := make([]byte, 8)
	_, err = rand.Read(raw)
	require.NoError(t, err)
	name := "test_" + hex.EncodeToString(raw)
	require.NoError(t, admin.Exec("CREATE DATABASE "+name).Error)
	t.Cleanup(func() {
		require.NoError(t, admin.Exec("DROP DATABASE IF EXISTS "+name+" WITH (FORCE)").Error)
	})

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Path = "/" + name
	g, err := gorm.Open(postgres.Open(u.String()), gormConfig())
	require.NoError(t, err)
	t.Cleanup(func() {
		if sqlDB, err := g.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return &testDB{backend: "postgres", g: g}
}
