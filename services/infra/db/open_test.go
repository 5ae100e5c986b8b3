package db_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

func TestOpenErrors(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, []byte("x"), 0o600))
	tests := []struct {
		desc    string
		opts    db.Options
		wantErr string
		notIn   string
	}{
		{desc: "unknown driver", opts: db.Options{Driver: "mysql", Namespace: "test"}, wantErr: `unknown driver "mysql"`},
		{desc: "empty driver", opts: db.Options{Namespace: "test"}, wantErr: "unknown driver"},
		{desc: "no namespace", opts: db.Options{Driver: db.DriverSQLite, Dir: t.TempDir()}, wantErr: "a namespace (the owning service's name"},
		{desc: "namespace with a digit", opts: db.Options{Driver: db.DriverSQLite, Namespace: "kms2", Dir: t.TempDir()}, wantErr: "lowercase letters a-z only"},
		{desc: "namespace with an underscore", opts: db.Options{Driver: db.DriverPostgres, Namespace: "kms_t", DSN: "postgres://u:p@127.0.0.1:1/x"}, wantErr: "lowercase letters a-z only"},
		{desc: "upper-case namespace", opts: db.Options{Driver: db.DriverSQLite, Namespace: "KMS", Dir: t.TempDir()}, wantErr: "lowercase letters a-z only"},
		{desc: "one-letter namespace", opts: db.Options{Driver: db.DriverSQLite, Namespace: "k", Dir: t.TempDir()}, wantErr: "2 to 16 letters"},
		{desc: "long namespace", opts: db.Options{Driver: db.DriverSQLite, Namespace: "abcdefghijklmnopq", Dir: t.TempDir()}, wantErr: "2 to 16 letters"},
		{desc: "public namespace", opts: db.Options{Driver: db.DriverPostgres, Namespace: "public", DSN: "postgres://u:p@127.0.0.1:1/x"}, wantErr: "PostgreSQL's default schema"},
		{desc: "postgres without DSN", opts: db.Options{Driver: db.DriverPostgres, Namespace: "test"}, wantErr: "DSN is required"},
		{
			desc:    "malformed postgres DSN does not echo the password",
			opts:    db.Options{Driver: db.DriverPostgres, Namespace: "test", DSN: "postgres://u:s3cretpw@127.0.0.1:notaport/x"},
			wantErr: "malformed PostgreSQL connection string",
			notIn:   "s3cretpw",
		},
		{
			desc:    "unreachable postgres",
			opts:    db.Options{Driver: db.DriverPostgres, Namespace: "test", DSN: "postgres://u:p@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"},
			wantErr: "connect",
		},
		{desc: "sqlite dir with a question mark", opts: db.Options{Driver: db.DriverSQLite, Namespace: "test", Dir: t.TempDir() + "/a?b"}, wantErr: "must not contain '?'"},
		{desc: "sqlite dir is a file", opts: db.Options{Driver: db.DriverSQLite, Namespace: "test", Dir: notADir}, wantErr: "create directory"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			d, err := db.Open(t.Context(), tc.opts)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tc.wantErr)
			if tc.notIn != "" {
				assert.NotContains(t, err.Error(), tc.notIn)
			}
		})
	}
}

func TestOpenSQLiteSettings(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLite)
	require.Equal(t, db.DriverSQLite, d.Driver())
	require.NoError(t, d.Ping(t.Context()))
	tests := []struct {
		desc   string
		pragma string
		want   string
	}{
		{desc: "WAL journal lets readers run beside the writer", pragma: "journal_mode", want: "wal"},
		{desc: "foreign keys are enforced", pragma: "foreign_keys", want: "1"},
		{desc: "writers wait for the lock", pragma: "busy_timeout", want: "5000"},
		{desc: "synchronous NORMAL is safe under WAL", pragma: "synchronous", want: "1"},
		{desc: "deleted content is zeroed", pragma: "secure_delete", want: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var got string
			require.NoError(t, d.Gorm().Raw("PRAGMA "+tc.pragma).Scan(&got).Error)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		g := dbtest.Open(t, b).Gorm()
		require.NoError(t, g.Exec("CREATE TABLE parents (id INTEGER PRIMARY KEY)").Error)
		require.NoError(t, g.Exec("CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents(id))").Error)
		err := g.Exec("INSERT INTO children (id, parent_id) VALUES (1, 42)").Error
		require.Error(t, err, "a child without parent must be refused")
	})
}

func TestEphemeralSQLite(t *testing.T) {
	d, err := db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, Namespace: "test"})
	require.NoError(t, err)
	tenant := factory.TenantID()
	require.NoError(t, d.CreateTenant(t.Context(), tenant))
	var file string
	require.NoError(t, d.Gorm().Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file).Error)
	dir := filepath.Dir(file)
	require.FileExists(t, filepath.Join(dir, "system.db"))
	require.FileExists(t, filepath.Join(dir, "tenants", tenant.String()+".db"))
	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "database directory must be private")

	require.NoError(t, d.Close())
	assert.NoDirExists(t, dir, "Close must remove the ephemeral directory")
	require.NoError(t, d.Close(), "a second Close is a no-op")
}

func TestLoggerNeverLogsParameters(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		var buf bytes.Buffer
		opts := dbtest.Options(t, b)
		opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		d, err := db.Open(t.Context(), opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = d.Close() })
		g := d.Gorm()
		require.NoError(t, g.Exec("CREATE TABLE secrets (name VARCHAR(64) PRIMARY KEY)").Error)
		const secret = "hunter2-top-secret"
		require.NoError(t, g.Exec("INSERT INTO secrets (name) VALUES (?)", secret).Error)
		require.Error(t, g.Exec("INSERT INTO secrets (name) VALUES (?)", secret).Error, "duplicate must fail")
		// PostgreSQL echoes a badly typed parameter in its error message
		// (SQLite stores the text as is: type affinity, no error).
		require.NoError(t, g.Exec("CREATE TABLE numbers (n INTEGER)").Error)
		err = g.Exec("INSERT INTO numbers (n) VALUES (?)", "nan-"+secret).Error
		if b == dbtest.Postgres {
			require.Error(t, err, "PostgreSQL refuses text in an integer column")
			assert.Contains(t, buf.String(), "SQLSTATE 22P02")
		}
		g.Logger.Warn(t.Context(), "something about %s", secret)
		g.Logger.Error(t.Context(), "failure about %s", secret)
		g.Logger.Info(t.Context(), "chatter about %s", secret)
		assert.Same(t, g.Logger, g.Logger.LogMode(4), "LogMode keeps the slog routing")

		out := buf.String()
		assert.Contains(t, out, "sql statement failed")
		assert.Contains(t, out, "INSERT INTO secrets")
		assert.Contains(t, out, "gorm: something about")
		assert.Contains(t, out, "gorm: failure about")
		assert.NotContains(t, out, "chatter", "info messages are dropped")
		assert.NotContains(t, out, secret, "parameters must never reach the logs")
	})
}

// TestSQLiteFilesArePrivate opens a data directory that already exists with
// a loose mode (made by hand or by a tool): the database files, which hold
// password hashes and wrapped keys, must still be readable by the owner only,
// WAL and shared-memory files included (SQLite gives them the database file's
// mode).
func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	d, err := db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, Namespace: "test", Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	tenant := factory.TenantID()
	require.NoError(t, d.CreateTenant(t.Context(), tenant))
	tg, err := d.Tenant(t.Context(), tenant)
	require.NoError(t, err)
	for _, g := range []*gorm.DB{d.Gorm(), tg} {
		require.NoError(t, g.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY)").Error) // creates -wal and -shm
	}
	tests := []struct {
		desc string
		path string
	}{
		{desc: "system database", path: filepath.Join(dir, "system.db")},
		{desc: "system WAL", path: filepath.Join(dir, "system.db-wal")},
		{desc: "system shared memory", path: filepath.Join(dir, "system.db-shm")},
		{desc: "tenant database", path: filepath.Join(dir, "tenants", tenant.String()+".db")},
		{desc: "tenant WAL", path: filepath.Join(dir, "tenants", tenant.String()+".db-wal")},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			info, err := os.Stat(tc.path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		})
	}
}

// SQLite statements are prepared once and reused (parsing and planning cost
// as much as a small query), and model queries name their columns, so a
// cached statement stays right across a schema change such as a tenant
// migration makes.
func TestSQLitePreparedStatements(t *testing.T) {
	d := dbtest.Open(t, dbtest.SQLite)
	g := d.Gorm()
	prepared, ok := g.ConnPool.(*gorm.PreparedStmtDB)
	require.True(t, ok, "SQLite handles cache prepared statements; the pool is a %T", g.ConnPool)
	type widget struct {
		ID   int64
		Name string
	}
	require.NoError(t, g.Exec("CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").Error)
	require.NoError(t, g.Create(&widget{ID: 1, Name: "w"}).Error)
	var before widget
	require.NoError(t, g.Take(&before, 1).Error)
	assert.Equal(t, widget{ID: 1, Name: "w"}, before)
	keys := prepared.Stmts.Keys()
	require.True(t, slices.ContainsFunc(keys, func(k string) bool {
		return strings.Contains(k, "SELECT `widgets`.`id`,`widgets`.`name` FROM `widgets`")
	}),
		"the model query is cached and names its columns: %q", keys)

	// A column added in front of the model's: a statement that selected
	// "*" when first prepared would now read the wrong columns.
	require.NoError(t, g.Exec("ALTER TABLE widgets RENAME TO widgets_old").Error)
	require.NoError(t, g.Exec("CREATE TABLE widgets (extra TEXT NOT NULL DEFAULT 'x', id INTEGER PRIMARY KEY, name TEXT NOT NULL)").Error)
	require.NoError(t, g.Exec("INSERT INTO widgets (id, name) SELECT id, name FROM widgets_old").Error)
	var after widget
	require.NoError(t, g.Take(&after, 1).Error)
	assert.Equal(t, widget{ID: 1, Name: "w"}, after)
}
