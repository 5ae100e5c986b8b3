package dbtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// TestClusterStopsAndStartsOnTheSamePort: the private cluster accepts
// connections once started, refuses them (connection refused, nothing
// listening) after Stop, accepts them again on the same port after Start
// with the data kept, and is gone, directory included, after cleanup.
func TestClusterStopsAndStartsOnTheSamePort(t *testing.T) {
	var dir string
	t.Run("cluster", func(t *testing.T) {
		c := StartCluster(t)
		dir = c.dir
		require.NotZero(t, c.Port())
		require.NotEqual(t, 5432, c.Port(), "the private cluster must not take the shared server's port")

		opts := c.Options(t, "kms")
		assert.Equal(t, db.DriverPostgres, opts.Driver)
		assert.Equal(t, "kms", opts.Namespace)
		require.NoError(t, ping(opts.DSN), "a fresh database on the started cluster")
		require.NoError(t, exec1(opts.DSN, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"))

		c.Stop(t)
		err := ping(opts.DSN)
		require.Error(t, err, "the stopped cluster still accepts connections")
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "want connection refused from a stopped cluster, got %v", err)
		c.Stop(t) // stopping a stopped cluster is a no-op

		c.Start(t)
		require.NoError(t, ping(opts.DSN), "the restarted cluster on port %d", c.Port())
		var v int
		require.NoError(t, queryInt(opts.DSN, "SELECT v FROM kept", &v))
		assert.Equal(t, 42, v, "the data survives a stop and start")

		// A service can open it as it would the shared server.
		d, err := db.Open(context.Background(), opts)
		require.NoError(t, err)
		require.NoError(t, d.Ping(context.Background()))
		require.NoError(t, d.Close())
	})
	require.NotEmpty(t, dir)
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "the cluster directory %s is removed after the test, stat: %v", dir, err)
}

// TestPostgresBinDirPicksTheHighestVersion: with several versions installed
// the highest wins (numerically: 16 over 9.6), and a directory without the
// binaries is no version at all.
func TestPostgresBinDirPicksTheHighestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "16", "13"} {
		bin := filepath.Join(root, v, "bin")
		require.NoError(t, os.MkdirAll(bin, 0o755))
		for _, name := range []string{"initdb", "pg_ctl"} {
			require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "17", "bin"), 0o755)) // no binaries
	require.NoError(t, os.MkdirAll(filepath.Join(root, "common"), 0o755))
	got, err := postgresBinDir(root)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "16", "bin"), got)

	_, err = postgresBinDir(filepath.Join(root, "17"))
	assert.Error(t, err)
	_, err = postgresBinDir(filepath.Join(root, "missing"))
	assert.Error(t, err)
}

func TestDatabaseNamesTheDatabaseOfADSN(t *testing.T) {
	assert.Equal(t, "test_abc", Database(db.Options{DSN: "postgres://postgres@127.0.0.1:5433/test_abc?sslmode=disable"}))
	assert.Equal(t, "test_abc", Database(db.Options{DSN: "postgres://postgres@127.0.0.1:5433/test_abc"}))
}

func connect(dsn string) (*pgx.Conn, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return conn, ctx, cancel, nil
}

func ping(dsn string) error {
	conn, ctx, cancel, err := connect(dsn)
	if err != nil {
		return err
	}
	defer cancel()
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.Ping(ctx)
}

func exec1(dsn, sql string) error {
	conn, ctx, cancel, err := connect(dsn)
	if err != nil {
		return err
	}
	defer cancel()
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

func queryInt(dsn, sql string, v *int) error {
	conn, ctx, cancel, err := connect(dsn)
	if err != nil {
		return err
	}
	defer cancel()
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.QueryRow(ctx, sql).Scan(v)
}
