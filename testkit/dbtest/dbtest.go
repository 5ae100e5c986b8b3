// Package dbtest gives each test its own empty database on SQLite (a
// temporary directory) or PostgreSQL (a fresh database on the server named by
// PASSTHRU_TEST_PG_DSN, or in a testcontainers PostgreSQL container), and
// runs a test body on every backend selected by PASSTHRU_TEST_DB.
//
// PASSTHRU_TEST_DB unset runs PostgreSQL only when it is there already: a
// DSN, or a Docker engine with the image PASSTHRU_TEST_PG_IMAGE (default
// postgres:15-alpine) present locally; otherwise SQLite alone, with a note
// saying why and how. PASSTHRU_TEST_DB=postgres or all tries one pull of a
// missing image and fails the tests, plainly, when PostgreSQL cannot be had.
// Without a registry, `make images` builds passthru-local/postgres:15.
//
// Without a DSN, each test process starts one container on first use
// (StartContainer; initdb and two server starts take seconds), and every
// test gets its own database in it. A whole run shares one instead when
// something starts it first and sets the DSN: ci/test.sh does so with
// cmd/pgcontainer.
//
// testcontainers' reaper (ryuk) is an image it would pull; it stays off, and
// dbtest sets TESTCONTAINERS_RYUK_DISABLED=true when the variable is unset
// (testcontainers-go reads its configuration from the environment only, once
// per process) and refuses any other value. The containers end themselves
// instead: a container's standard input is its owner process's attach stream
// and its first process stops PostgreSQL when that stream ends, so it is
// stopped and removed moments after its owner ends, however the owner ended;
// a start also removes the containers of this machine whose owner process is
// gone. Terminate ends a container at once.
package dbtest

import (
	"context"
	"errors"
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
	"(a role allowed to CREATE DATABASE) or start a Docker engine reachable by testcontainers " +
	"with the image " + EnvPGImage + " (default " + DefaultPGImage + "; without a registry: `make images`, then " +
	EnvPGImage + "=" + LocalPGImage + ")"

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

// postgresAvailable returns nil when PostgreSQL can be had: a DSN is set,
// or a Docker engine answers and has the image (after one pull attempt when
// pull is set). Docker is only asked when no DSN is set, because asking
// costs time.
func postgresAvailable(lookup func(string) (string, bool), eng engine, pull bool) error {
	if dsn, _ := lookup(EnvPGDSN); dsn != "" {
		return nil
	}
	if err := eng.reachable(); err != nil {
		return err
	}
	return eng.image(pgImage(lookup), pull)
}

// whyNot phrases err from postgresAvailable for a developer: the cause and
// what to do about it.
func whyNot(err error) string {
	if errors.Is(err, ErrNoDocker) {
		return "no " + EnvPGDSN + " and no Docker engine; to run it, " + howToProvidePostgres
	}
	return "no " + EnvPGDSN + ", and " + err.Error() + "; or set " + EnvPGDSN + " to a server whose role may CREATE DATABASE"
}

// selectBackends decides the backends from the environment. Unset, PostgreSQL
// runs only when it is there already: a DSN, or Docker with the image
// present locally (nothing is pulled behind the developer's back). Asked for
// explicitly, one pull of a missing image is tried and failure is an error.
func selectBackends(lookup func(string) (string, bool), eng engine) (selection, error) {
	mode, _ := lookup(EnvDB)
	mode = strings.TrimSpace(mode)
	switch mode {
	case "":
		if err := postgresAvailable(lookup, eng, false); err != nil {
			return selection{backends: []Backend{SQLite}, note: "PostgreSQL was not run: " + whyNot(err)}, nil
		}
		return selection{backends: []Backend{SQLite, Postgres}}, nil
	case string(SQLite):
		return selection{
			backends: []Backend{SQLite},
			note:     "PostgreSQL was not run: " + EnvDB + "=sqlite",
		}, nil
	case string(Postgres), "all":
		if err := postgresAvailable(lookup, eng, true); err != nil {
			return selection{}, fmt.Errorf("%s=%s asks for PostgreSQL, but none is available: %s", EnvDB, mode, whyNot(err))
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
	return backends(t, os.LookupEnv, defaultEngine, &noteOnce)
}

func backends(t testing.TB, lookup func(string) (string, bool), eng engine, once *sync.Once) []Backend {
	t.Helper()
	sel, err := selectBackends(lookup, eng)
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
	sel, err := selectBackends(os.LookupEnv, defaultEngine)
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
