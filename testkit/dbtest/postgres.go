package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/passthru-dev/passthru/services/infra/ids"
)

// adminTimeout bounds CREATE and DROP DATABASE.
const adminTimeout = 30 * time.Second

// freshDatabase creates an empty database for the test and returns its DSN.
// The name carries a UUIDv7, so parallel tests and concurrent test processes
// sharing one server never collide, and leftovers of a killed run sort by
// age.
func freshDatabase(t testing.TB, server pgServer) string {
	t.Helper()
	base, err := server.dsn()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	id := ids.NewEntity()
	name := "test_" + strings.ReplaceAll(id.String(), "-", "")
	quoted := pgx.Identifier{name}.Sanitize()
	// The cleanup is registered before CREATE DATABASE runs, so that even a
	// create that fails half-way (or a test that dies right after) leaves
	// nothing behind; DROP ... IF EXISTS copes with the database not existing.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		// WITH (FORCE) ends connections a test forgot to close.
		if err := dropDatabase(ctx, base, quoted); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	// template0 never has connections, so concurrent CREATE DATABASE cannot
	// fail with "source database is being accessed by other users".
	if err := adminExec(ctx, base, "CREATE DATABASE "+quoted+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return dsn
}

// pgServer says where the test PostgreSQL server comes from; a struct of
// functions so tests can replace the environment and the container.
type pgServer struct {
	lookup    func(string) (string, bool)
	container func(image string) (string, error)
}

var defaultServer = pgServer{lookup: os.LookupEnv, container: processContainerDSN}

// dsn returns the DSN of the test server: PASSTHRU_TEST_PG_DSN, else this
// process's PostgreSQL container.
func (s pgServer) dsn() (string, error) {
	if dsn, _ := s.lookup(EnvPGDSN); dsn != "" {
		return dsn, nil
	}
	dsn, err := s.container(pgImage(s.lookup))
	if err != nil {
		return "", fmt.Errorf("PostgreSQL is not available: %w", err)
	}
	return dsn, nil
}

// processContainer is the PostgreSQL container of this test process,
// started on first use. It is package state because it serves every test
// of the process (each test gets its own database in it) and lives as long
// as the process: a test binary has no hook at its end, so the container's
// watchdog ends it when the process is gone (see StartContainer).
var processContainer struct {
	once sync.Once
	c    *Container
	err  error
}

// containerStartTimeout bounds starting the container: initdb and two
// server starts take seconds; the bound only matters when Docker hangs.
const containerStartTimeout = 3 * time.Minute

// processContainerDSN starts the process's container on first use (with
// image; later calls get the same server whatever they pass) and returns
// its DSN.
func processContainerDSN(image string) (string, error) {
	processContainer.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
		defer cancel()
		processContainer.c, processContainer.err = StartContainer(ctx, ContainerConfig{Image: image})
	})
	if processContainer.err != nil {
		return "", processContainer.err
	}
	return processContainer.c.DSN(), nil
}

// dropRetries bounds how often a drop refused by a transient session is
// tried again.
const dropRetries = 20

// dropDatabase drops the test database. An autovacuum worker that happens to
// be working in it belongs to the superuser, and a non-superuser test role
// may not terminate it (SQLSTATE 42501); the worker is gone within moments,
// so such a refusal, or "being accessed by other users" (55006), is retried a
// bounded number of times before it counts as a failure.
func dropDatabase(ctx context.Context, dsn, quoted string) error {
	var err error
	for attempt := 0; attempt < dropRetries; attempt++ {
		err = adminExec(ctx, dsn, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)")
		if !transientDropError(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w (after %d attempts)", err, dropRetries)
}

// transientDropError: a session the test role may not end is still in the
// database (42501), or the database is still being accessed (55006).
func transientDropError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "55006")
}

// adminExec runs one statement on its own connection to the server DSN.
// CREATE/DROP DATABASE cannot run inside a transaction block, hence a plain
// connection rather than a pool.
func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvPGDSN, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return err
	}
	return nil
}

// withDatabase returns dsn with its database replaced by name, for both the
// URL and the keyword/value forms. name must be a plain identifier (as made
// by freshDatabase): it is not quoted.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url errors echo the input, password included: say less.
			return "", fmt.Errorf("%s is not a valid URL", EnvPGDSN)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form a later keyword overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}
