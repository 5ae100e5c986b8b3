package db_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// openNS opens opts under namespace ns, closed when the test ends.
func openNS(t *testing.T, opts db.Options, ns string) *db.DB {
	t.Helper()
	opts.Namespace = ns
	d, err := db.Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	return d
}

// noteTable is a table both services create under the same name.
func noteTable(tx *gorm.DB) error {
	return tx.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, owner VARCHAR(32) NOT NULL)").Error
}

func notes(t *testing.T, g *gorm.DB) []string {
	t.Helper()
	var out []string
	require.NoError(t, g.Raw("SELECT owner FROM notes ORDER BY id").Scan(&out).Error)
	return out
}

// TestNamespacesShareOnePostgresDatabase puts two services on one
// PostgreSQL database: both record migrations, both create a system table
// of the same name and the same tenant id. Dropping the tenant in one
// leaves the other's tenant (and everything else) untouched.
func TestNamespacesShareOnePostgresDatabase(t *testing.T) {
	runPostgres(t, testNamespacesShareOnePostgresDatabase)
}

func testNamespacesShareOnePostgresDatabase(t *testing.T) {
	ctx := t.Context()
	opts := dbtest.Options(t, dbtest.Postgres)
	kms, idp := openNS(t, opts, "kms"), openNS(t, opts, "identity")
	tenant := factory.TenantID()
	tenantNotes := map[*db.DB]*gorm.DB{}
	for _, d := range []*db.DB{kms, idp} {
		migs := []db.Migration{{Version: 1, Name: "notes", Up: noteTable}}
		require.NoError(t, db.Migrate(ctx, d.Gorm(), "svc-system", migs), "the same set name in both services")
		require.NoError(t, d.CreateTenant(ctx, tenant))
		g, err := d.Tenant(ctx, tenant)
		require.NoError(t, err)
		require.NoError(t, db.Migrate(ctx, g, "svc-tenant", migs))
		tenantNotes[d] = g
	}
	require.NoError(t, kms.Gorm().Exec("INSERT INTO notes (id, owner) VALUES (1, 'kms')").Error)
	require.NoError(t, idp.Gorm().Exec("INSERT INTO notes (id, owner) VALUES (1, 'identity')").Error)
	require.NoError(t, tenantNotes[kms].Exec("INSERT INTO notes (id, owner) VALUES (1, 'kms tenant')").Error)
	require.NoError(t, tenantNotes[idp].Exec("INSERT INTO notes (id, owner) VALUES (1, 'identity tenant')").Error)

	require.NoError(t, kms.DropTenant(ctx, tenant))

	_, err := kms.Tenant(ctx, tenant)
	require.ErrorIs(t, err, db.ErrUnknownTenant)
	assert.Equal(t, []string{"identity tenant"}, notes(t, tenantNotes[idp]), "the other service's tenant survives")
	reopened, err := idp.Tenant(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, []string{"identity tenant"}, notes(t, reopened))
	assert.Equal(t, []string{"kms"}, notes(t, kms.Gorm()))
	assert.Equal(t, []string{"identity"}, notes(t, idp.Gorm()))

	var schemas []string
	require.NoError(t, kms.Gorm().Raw(`SELECT nspname FROM pg_namespace
		WHERE nspname IN ('kms', 'identity') OR nspname LIKE '%\_t\_%' ORDER BY nspname`).Scan(&schemas).Error)
	assert.Equal(t, []string{"identity", "identity_t_" + hex(tenant), "kms"}, schemas)
	var public int64
	require.NoError(t, kms.Gorm().Raw("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&public).Error)
	assert.Zero(t, public, "nothing lands in the public schema")
}

// TestPostgresRefusesTheLayoutBeforeNamespaces: a database whose Passthru
// tables still sit in "public" is not silently left behind by a service
// that would start a second, empty barrier in its own schema.
func TestPostgresRefusesTheLayoutBeforeNamespaces(t *testing.T) {
	runPostgres(t, testPostgresRefusesTheLayoutBeforeNamespaces)
}

func testPostgresRefusesTheLayoutBeforeNamespaces(t *testing.T) {
	opts := dbtest.Options(t, dbtest.Postgres)
	setup := openNS(t, opts, "setup")
	require.NoError(t, setup.Gorm().Exec(`CREATE TABLE public.schema_migrations (
		"set" VARCHAR(255) NOT NULL, version INTEGER NOT NULL, name VARCHAR(255) NOT NULL,
		applied_at TIMESTAMP NOT NULL, PRIMARY KEY ("set", version))`).Error)

	t.Run("a foreign schema_migrations without a barrier is none of ours", func(t *testing.T) {
		d := openNS(t, opts, "kms")
		require.NoError(t, db.Migrate(t.Context(), d.Gorm(), "kms-system", nil))
	})
	require.NoError(t, setup.Gorm().Exec(`INSERT INTO public.schema_migrations VALUES ('barrier', 1, 'create barrier tables', now())`).Error)
	t.Run("a new namespace beside the old layout is refused", func(t *testing.T) {
		opts.Namespace = "identity"
		d, err := db.Open(t.Context(), opts)
		require.ErrorIs(t, err, db.ErrForeignDatabase)
		assert.Nil(t, d)
		assert.Contains(t, err.Error(), "ALTER TABLE public.<table> SET SCHEMA identity")
		assert.Contains(t, err.Error(), "RENAME TO identity_t_<hex>")
	})
	t.Run("a namespace that already has its schema_migrations keeps working", func(t *testing.T) {
		openNS(t, opts, "kms")
	})
}

// TestSQLiteDirectoryBelongsToOneNamespace: pointing a service at another
// service's SQLite directory is refused before anything is written there.
func TestSQLiteDirectoryBelongsToOneNamespace(t *testing.T) {
	dir := t.TempDir()
	opts := db.Options{Driver: db.DriverSQLite, Dir: dir}
	d := openNS(t, opts, "kms")
	require.NoError(t, d.Close())

	opts.Namespace = "identity"
	_, err := db.Open(t.Context(), opts)
	require.ErrorIs(t, err, db.ErrForeignDatabase)
	assert.Contains(t, err.Error(), dir+` holds service "kms"'s database, not "identity"'s`)
	openNS(t, opts, "kms")
}

// TestSQLiteAdoptsADirectoryFromBeforeNamespaces: a data directory made
// before namespaces were recorded is claimed by the service whose
// migrations it holds, and refused to any other.
func TestSQLiteAdoptsADirectoryFromBeforeNamespaces(t *testing.T) {
	tests := []struct {
		desc    string
		sets    []string // recorded in the old schema_migrations; nil: no such table
		ns      string
		wantErr string
	}{
		{desc: "the owner's own directory is adopted", sets: []string{"barrier", "kms-system", "authn-realm-users"}, ns: "kms"},
		{desc: "another service's directory is refused", sets: []string{"barrier", "kms-system"}, ns: "identity",
			wantErr: `no migrations of service "identity" (it has ["barrier" "kms-system"])`},
		{desc: "a barrier alone names no owner", sets: []string{"barrier"}, ns: "kms", wantErr: `no migrations of service "kms"`},
		{desc: "tables without a migration record are refused", sets: nil, ns: "kms", wantErr: "is it another service's data directory?"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			legacySQLite(t, dir, tc.sets)
			d, err := db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, Namespace: tc.ns, Dir: dir})
			if tc.wantErr != "" {
				require.ErrorIs(t, err, db.ErrForeignDatabase)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, d.Close())
			_, err = db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, Namespace: "other", Dir: dir})
			require.ErrorIs(t, err, db.ErrForeignDatabase, "once adopted, the directory is recorded as the owner's")
		})
	}
}

// legacySQLite writes dir/system.db as a release before namespaces left it:
// a table of its own and, unless sets is nil, schema_migrations rows.
func legacySQLite(t *testing.T, dir string, sets []string) {
	t.Helper()
	g, err := gorm.Open(sqlite.Open(filepath.Join(dir, "system.db")), &gorm.Config{})
	require.NoError(t, err)
	require.NoError(t, g.Exec("CREATE TABLE barrier_meta (id INTEGER PRIMARY KEY)").Error)
	if sets != nil {
		require.NoError(t, g.Exec(`CREATE TABLE schema_migrations ("set" VARCHAR(255) NOT NULL, version INTEGER NOT NULL,
			name VARCHAR(255) NOT NULL, applied_at TIMESTAMP NOT NULL, PRIMARY KEY ("set", version))`).Error)
		for _, s := range sets {
			require.NoError(t, g.Exec(`INSERT INTO schema_migrations VALUES (?, 1, 'v1', CURRENT_TIMESTAMP)`, s).Error)
		}
	}
	sqlDB, err := g.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())
}

// runPostgres runs fn as subtest "db=postgres" when this run tests
// PostgreSQL (as dbtest.Run does): the test is about sharing one PostgreSQL
// database, which SQLite's directory per service never does.
func runPostgres(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, b := range dbtest.Backends(t) {
		if b == dbtest.Postgres {
			t.Run("db="+string(b), fn)
		}
	}
}
