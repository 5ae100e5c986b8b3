package load

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func databaseExists(t *testing.T, dsn, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	return n == 1
}

func TestPostgresDatabaseLifecycle(t *testing.T) {
	dsn := os.Getenv(EnvPGDSN)
	if dsn == "" {
		t.Skipf("%s is not set: the harness creates its PostgreSQL database from it", EnvPGDSN)
	}
	pg, err := CreatePostgresDatabase(t.Context(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Drop() })
	assert.True(t, strings.HasPrefix(pg.Name, "load_"))
	assert.True(t, databaseExists(t, dsn, pg.Name))

	st, err := os.Stat(pg.DSNFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the DSN carries a password")
	raw, err := os.ReadFile(pg.DSNFile)
	require.NoError(t, err)
	conn, err := pgx.Connect(t.Context(), strings.TrimSpace(string(raw)))
	require.NoError(t, err, "the file's DSN reaches the new database")
	var current string
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&current))
	assert.Equal(t, pg.Name, current)
	// Left open on purpose: Drop ends the sessions still in the database,
	// as it must when the services are killed rather than stopped.

	require.NoError(t, pg.Drop())
	assert.False(t, databaseExists(t, dsn, pg.Name))
	_, err = os.Stat(pg.DSNFile)
	assert.True(t, os.IsNotExist(err), "the DSN file goes with the database")
	_ = conn.Close(context.Background())
}

func TestCreatePostgresDatabaseUnreachable(t *testing.T) {
	_, err := CreatePostgresDatabase(t.Context(), "postgres://u:p@127.0.0.1:1/x?connect_timeout=2")
	assert.ErrorContains(t, err, "connect to PostgreSQL")
}
