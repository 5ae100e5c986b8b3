// Package dbtest gives each test its own empty database on SQLite (a
// temporary directory) or PostgreSQL (a fresh database on the server named by
// PASSTHRU_TEST_PG_DSN, or in a testcontainers PostgreSQL when a Docker engine
// is reachable), and runs a test body on every backend selected by
// PASSTHRU_TEST_DB.
package dbtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// Backend names a database backend under test.
type Backend string

// The backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Environment variables read by this package.
const (
	// EnvDB selects the backends: sqlite, postgres or all. Unset: sqlite,
	// plus postgres when it is available.
	EnvDB = "PASSTHRU_TEST_DB"
	// EnvPGDSN points at a running PostgreSQL whose role may CREATE DATABASE.
	EnvPGDSN = "PASSTHRU_TEST_PG_DSN"
)

// howToProvidePostgres ends every message about missing PostgreSQL.
const howToProvidePostgres = "set " + EnvPGDSN + "=postgres://USER:PASSWORD@127.0.0.1:5432/DB?sslmode=disable " +
	"(a role allowed to CREATE DATABASE) or start a Docker engine reachable by testcontainers"

// noteOnce makes Backends log the "PostgreSQL was not run" note once per test
// process rather than once per test. It is package state because the fact
// it reports is a property of the process environment, not of one test.
var noteOnce sync.Once

// selection is what the environment asks for.
type selection struct {
	backends []Backend
	// note is non-empty when PostgreSQL will not run; it says why and how to
	// make it run.
	note string
}

// selectBackends decides the backends from the environment. docker is only
// consulted when PostgreSQL is wanted and no DSN is set, because probing a
// Docker engine costs time.
func selectBackends(lookup func(string) (string, bool), docker func() bool) (selection, error) {
	mode, _ := lookup(EnvDB)
	mode = strings.TrimSpace(mode)
	available := func() bool {
		if dsn, _ := lookup(EnvPGDSN); dsn != "" {
			return true
		}
		return docker()
	}
	switch mode {
	case "":
		if available() {
			return selection{backends: []Backend{SQLite, Postgres}}, nil
		}
		return selection{
			backends: []Backend{SQLite},
			note:     "PostgreSQL was not run: no " + EnvPGDSN + " and no Docker engine; to run it, " + howToProvidePostgres,
		}, nil
	case string(SQLite):
		return selection{
			backends: []Backend{SQLite},
			note:     "PostgreSQL was not run: " + EnvDB + "=sqlite",
		}, nil
	case string(Postgres), "all":
		if !available() {
			return selection{}, fmt.Errorf("%s=%s asks for PostgreSQL, but none is available: %s", EnvDB, mode, howToProvidePostgres)
		}
		if mode == "all" {
			return selection{backends: []Backend{SQLite, Postgres}}, nil
		}
		return selection{backends: []Backend{Postgres}}, nil
	default:
		return selection{}, fmt.Errorf("%s=%q: want sqlite, postgres or all", EnvDB, mode)
	}
}

// Backends returns the backends this run tests, from PASSTHRU_TEST_DB. It
// fails t (never skips) when PostgreSQL is requested and cannot be had.
func Backends(t testing.TB) []Backend {
	t.Helper()
	return backends(t, os.LookupEnv, dockerReachable, &noteOnce)
}

func backends(t testing.TB, lookup func(string) (string, bool), docker func() bool, once *sync.Once) []Backend {
	t.Helper()
	sel, err := selectBackends(lookup, docker)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if sel.note != "" {
		once.Do(func() { t.Log("dbtest: " + sel.note) })
	}
	return sel.backends
}

// PostgresSkippedNote returns "" when this environment runs the PostgreSQL
// tests, and otherwise a one-line note starting "PostgreSQL was not run"
// saying why and how to provide one. `make test` prints it after the tests,
// since go test hides the logs of passing tests. When PostgreSQL is requested
// but unavailable the tests themselves fail; the note then repeats why.
func PostgresSkippedNote() string {
	sel, err := selectBackends(os.LookupEnv, dockerReachable)
	if err != nil {
		return "PostgreSQL was not run: " + err.Error()
	}
	return sel.note
}

// Run runs fn as one subtest per selected backend, named "db=sqlite" and
// "db=postgres", so -run filters can pick a backend.
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run("db="+string(b), func(t *testing.T) { fn(t, b) })
	}
}

// Namespace is the database namespace of Options: tests of one package need
// no particular service's name. A test that starts a service (or two on one
// database) sets the service's own.
const Namespace = "test"

// Options returns options for a fresh, empty database of backend b, removed
// when the test ends: a t.TempDir for SQLite, a new database on the test
// PostgreSQL server (dropped in t.Cleanup) for PostgreSQL.
func Options(t testing.TB, b Backend) db.Options {
	t.Helper()
	switch b {
	case SQLite:
		return db.Options{Driver: db.DriverSQLite, Namespace: Namespace, Dir: t.TempDir(), Logger: testLogger(t)}
	case Postgres:
		return db.Options{Driver: db.DriverPostgres, Namespace: Namespace, DSN: freshDatabase(t, defaultServer), Logger: testLogger(t)}
	default:
		t.Fatalf("dbtest: unknown backend %q (want %q or %q)", b, SQLite, Postgres)
		return db.Options{}
	}
}

// Open opens a fresh database of backend b, closed when the test ends.
func Open(t testing.TB, b Backend) *db.DB {
	t.Helper()
	opts := Options(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, opts)
	if err != nil {
		t.Fatalf("dbtest: open %s database: %v", b, err)
	}
	// Registered after Options' cleanup, so it runs first: pools close
	// before the PostgreSQL database is dropped.
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("dbtest: close %s database: %v", b, err)
		}
	})
	return d
}

// testLogger sends the database's warnings to the test's output, where they
// show up when the test fails or runs with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
