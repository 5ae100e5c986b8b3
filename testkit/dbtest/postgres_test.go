package dbtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// hasPostgres reports whether this run selected PostgreSQL. Backends fails
// the test when PostgreSQL was requested and is unavailable, so a false here
// means PostgreSQL was not asked for.
func hasPostgres(t *testing.T) bool {
	for _, b := range Backends(t) {
		if b == Postgres {
			return true
		}
	}
	return false
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	base, err := defaultServer.dsn()
	require.NoError(t, err)
	conn, err := pgx.Connect(t.Context(), base)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	return exists
}

func TestPostgresFreshDatabasePerTest(t *testing.T) {
	if !hasPostgres(t) {
		t.Skip("PostgreSQL not selected in this run: " + PostgresSkippedNote())
	}
	tests := []struct {
		desc string
	}{
		{desc: "first test gets its own database"},
		{desc: "second test gets another one"},
	}
	var names []string
	for _, tc := range tests {
		var (
			name string
			open *db.DB
		)
		t.Run(tc.desc, func(t *testing.T) {
			opts := Options(t, Postgres)
			require.Equal(t, db.DriverPostgres, opts.Driver)
			cfg, err := pgx.ParseConfig(opts.DSN)
			require.NoError(t, err)
			name = cfg.Database
			require.True(t, strings.HasPrefix(name, "test_"), "name %q", name)
			require.Len(t, name, len("test_")+32)
			require.True(t, databaseExists(t, name))

			d, err := db.Open(t.Context(), opts)
			require.NoError(t, err)
			open = d
			var tables int64
			require.NoError(t, d.Gorm().Raw("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables).Error)
			assert.Zero(t, tables, "the database must start empty")
			// Left open until the cleanup has run: DROP ... WITH (FORCE)
			// must cope with connections a test forgot to close.
		})
		if open != nil {
			require.NoError(t, open.Close())
		}
		require.NotEmpty(t, name)
		assert.False(t, databaseExists(t, name), "database %s must be dropped when its test ends", name)
		names = append(names, name)
	}
	assert.NotEqual(t, names[0], names[1])
}

func TestPgServerDSN(t *testing.T) {
	tests := []struct {
		desc      string
		vars      map[string]string
		container func(t *testing.T) func(string) (string, error)
		want      string
		wantErr   []string
	}{
		{
			desc: "DSN from the environment wins; no container is started",
			vars: map[string]string{EnvPGDSN: "postgres://env"},
			container: func(t *testing.T) func(string) (string, error) {
				return func(string) (string, error) { t.Error("container started although a DSN is set"); return "", nil }
			},
			want: "postgres://env",
		},
		{
			desc: "container of the default image",
			container: func(t *testing.T) func(string) (string, error) {
				return func(image string) (string, error) {
					assert.Equal(t, DefaultPGImage, image)
					return "postgres://ctr", nil
				}
			},
			want: "postgres://ctr",
		},
		{
			desc: "container of PASSTHRU_TEST_PG_IMAGE",
			vars: map[string]string{EnvPGImage: LocalPGImage},
			container: func(t *testing.T) func(string) (string, error) {
				return func(image string) (string, error) {
					assert.Equal(t, LocalPGImage, image)
					return "postgres://local", nil
				}
			},
			want: "postgres://local",
		},
		{
			desc: "container start failure is reported with its cause",
			container: func(*testing.T) func(string) (string, error) {
				return func(image string) (string, error) { return "", &ImageMissingError{Image: image} }
			},
			wantErr: []string{"PostgreSQL is not available: Docker is reachable but the PostgreSQL image postgres:15-alpine is not present locally", "`make images`"},
		},
		{
			desc: "no Docker",
			container: func(*testing.T) func(string) (string, error) {
				return func(string) (string, error) { return "", ErrNoDocker }
			},
			wantErr: []string{"PostgreSQL is not available: no Docker engine is reachable"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := pgServer{lookup: env(tc.vars), container: tc.container(t)}
			got, err := s.dsn()
			if len(tc.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFreshDatabaseFailures(t *testing.T) {
	tests := []struct {
		desc        string
		server      pgServer
		wantFatal   string
		wantCleanup bool
	}{
		{
			desc:      "no PostgreSQL at all fails with how-to",
			server:    pgServer{lookup: env(nil), container: func(string) (string, error) { return "", ErrNoDocker }},
			wantFatal: "PostgreSQL is not available: no Docker engine is reachable",
		},
		{
			desc:        "unreachable server fails, and the drop is still attempted",
			server:      pgServer{lookup: env(map[string]string{EnvPGDSN: "postgres://u:p@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})},
			wantFatal:   "create database test_",
			wantCleanup: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			rec := &fatalRecorder{}
			inGoroutine(func() { freshDatabase(rec, tc.server) })
			assert.Contains(t, rec.fatal, tc.wantFatal)
			if !tc.wantCleanup {
				assert.Empty(t, rec.cleanups)
				return
			}
			require.Len(t, rec.cleanups, 1, "the drop is registered before CREATE DATABASE runs")
			rec.runCleanups()
			require.Len(t, rec.errors, 1)
			assert.Contains(t, rec.errors[0], "drop database test_")
		})
	}
}

func TestTransientDropError(t *testing.T) {
	cases := []struct {
		desc string
		err  error
		want bool
	}{
		{desc: "no error", err: nil, want: false},
		{desc: "an autovacuum worker the role may not terminate", err: &pgconn.PgError{Code: "42501"}, want: true},
		{desc: "still being accessed", err: fmt.Errorf("drop: %w", &pgconn.PgError{Code: "55006"}), want: true},
		{desc: "syntax error is final", err: &pgconn.PgError{Code: "42601"}, want: false},
		{desc: "not a server error", err: errors.New("connect: refused"), want: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, transientDropError(tc.err))
		})
	}
}

// A drop the server refuses for good (here a malformed name) is returned at
// once with the server's error, not retried like a transient refusal.
func TestDropDatabaseReturnsAFinalError(t *testing.T) {
	if !hasPostgres(t) {
		t.Skip("PostgreSQL not selected in this run: " + PostgresSkippedNote())
	}
	base, err := defaultServer.dsn()
	require.NoError(t, err)
	err = dropDatabase(t.Context(), base, `"test_x" no such syntax`)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42601", pgErr.Code, "syntax error")
	assert.NotContains(t, err.Error(), "attempts", "a final error is not retried")
}
