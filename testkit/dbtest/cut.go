package dbtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// CutPostgres makes the PostgreSQL database that dsn (one of Options'
// DSNs) names unreachable to its services without touching the shared
// server: new connections are refused (ALLOW_CONNECTIONS false) and the
// open ones are ended, as a server shutting down ends them. The returned
// function lets connections in again; the test's cleanup calls it too, so
// the database can be dropped.
//
// To a client this looks like a stopped server (its connections end with
// FATAL 57P01, new ones fail), which is what a test of the services' answer
// to an outage needs, at the cost of a statement rather than a private
// server per test.
func CutPostgres(t testing.TB, dsn string) (restore func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := databaseOf(dsn)
	if err != nil {
		t.Fatalf("dbtest: cut: %v", err)
	}
	quoted := pgx.Identifier{name}.Sanitize()
	admin := mustWithDatabase(t, dsn, "postgres") // the statements cannot run from the database they cut
	if err := adminExec(ctx, admin, "ALTER DATABASE "+quoted+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatalf("dbtest: cut %s: refuse connections: %v", name, err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, admin, "ALTER DATABASE "+quoted+" WITH ALLOW_CONNECTIONS true"); err != nil {
			t.Errorf("dbtest: restore %s: %v", name, err)
		}
	}
	t.Cleanup(restore)
	// Only the test role's own sessions: an autovacuum worker belongs to the
	// superuser and may not be ended by the test role.
	if err := adminExec(ctx, admin,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "+quoteLiteral(name)+" AND usename = current_user"); err != nil {
		t.Fatalf("dbtest: cut %s: end connections: %v", name, err)
	}
	return restore
}

// databaseOf returns the database a DSN names.
func databaseOf(dsn string) (string, error) {
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("malformed DSN")
	}
	if config.Database == "" {
		return "", fmt.Errorf("the DSN names no database")
	}
	return config.Database, nil
}

func mustWithDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	out, err := withDatabase(dsn, name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return out
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
