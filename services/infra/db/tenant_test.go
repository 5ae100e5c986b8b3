package db_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// secret is a row type both tenants store in a table of the same name.
type secret struct {
	ID    uint `gorm:"primaryKey"`
	Owner string
}

var tenantMigrations = []db.Migration{{Version: 1, Name: "create secrets", Up: func(tx *gorm.DB) error {
	return tx.AutoMigrate(&secret{})
}}}

func owners(t *testing.T, g *gorm.DB) []string {
	t.Helper()
	var rows []secret
	require.NoError(t, g.Order("id").Find(&rows).Error)
	var out []string
	for _, r := range rows {
		out = append(out, r.Owner)
	}
	return out
}

func openTenant(t *testing.T, d *db.DB, tenant uuid.UUID) *gorm.DB {
	t.Helper()
	require.NoError(t, d.CreateTenant(t.Context(), tenant))
	g, err := d.Tenant(t.Context(), tenant)
	require.NoError(t, err)
	require.NoError(t, db.Migrate(t.Context(), g, "test-tenant", tenantMigrations))
	return g
}

func TestTenantIsolation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d := dbtest.Open(t, b)
		a, bID := factory.TenantID(), factory.TenantID()
		ga, gb := openTenant(t, d, a), openTenant(t, d, bID)

		require.NoError(t, ga.Create(&secret{Owner: "a"}).Error)
		require.NoError(t, ga.Create(&secret{Owner: "a"}).Error)
		require.NoError(t, gb.Create(&secret{Owner: "b"}).Error)

		tests := []struct {
			desc string
			run  func(t *testing.T)
		}{
			{desc: "A sees only its own rows", run: func(t *testing.T) {
				assert.Equal(t, []string{"a", "a"}, owners(t, ga))
			}},
			{desc: "B sees only its own rows", run: func(t *testing.T) {
				assert.Equal(t, []string{"b"}, owners(t, gb))
			}},
			{desc: "A's update of every row leaves B untouched", run: func(t *testing.T) {
				res := ga.Session(&gorm.Session{AllowGlobalUpdate: true}).Model(&secret{}).Update("owner", "a2")
				require.NoError(t, res.Error)
				assert.Equal(t, int64(2), res.RowsAffected)
				assert.Equal(t, []string{"b"}, owners(t, gb))
			}},
			{desc: "A's delete of every row leaves B untouched", run: func(t *testing.T) {
				res := ga.Session(&gorm.Session{AllowGlobalUpdate: true}).Delete(&secret{})
				require.NoError(t, res.Error)
				assert.Equal(t, []string{"b"}, owners(t, gb))
				require.NoError(t, ga.Create(&secret{Owner: "a"}).Error)
			}},
			{desc: "the system database has no tenant tables", run: func(t *testing.T) {
				assert.False(t, d.Gorm().Migrator().HasTable(&secret{}))
			}},
			{desc: "each tenant has its own migration record", run: func(t *testing.T) {
				assert.Len(t, appliedRows(t, ga, "test-tenant"), 1)
				assert.Len(t, appliedRows(t, gb, "test-tenant"), 1)
			}},
			{desc: "Tenant returns the cached handle, also to concurrent callers", run: func(t *testing.T) {
				var wg sync.WaitGroup
				got := make([]*gorm.DB, 8)
				errs := make([]error, 8)
				for i := range got {
					wg.Go(func() { got[i], errs[i] = d.Tenant(ctx, a) })
				}
				wg.Wait()
				for i := range got {
					require.NoError(t, errs[i])
					assert.Same(t, ga, got[i])
				}
			}},
			{desc: "PostgreSQL tenant connections start with the tenant schema as search_path", run: func(t *testing.T) {
				var path string
				require.NoError(t, ga.Raw("SHOW search_path").Scan(&path).Error)
				assert.Equal(t, `"`+dbtest.Namespace+`_t_`+hex(a)+`"`, path)
				require.NoError(t, d.Gorm().Raw("SHOW search_path").Scan(&path).Error)
				assert.Equal(t, `"`+dbtest.Namespace+`"`, path, "the system pool sees only its namespace's schema")
			}},
			{desc: "CreateTenant again keeps the data", run: func(t *testing.T) {
				require.NoError(t, d.CreateTenant(ctx, a))
				assert.Equal(t, []string{"a"}, owners(t, ga))
			}},
			{desc: "DropTenant deletes A's data and only A's", run: func(t *testing.T) {
				require.NoError(t, d.DropTenant(ctx, a))
				_, err := d.Tenant(ctx, a)
				require.ErrorIs(t, err, db.ErrUnknownTenant)
				require.Error(t, ga.Find(&[]secret{}).Error, "the dropped handle is closed")
				assert.Equal(t, []string{"b"}, owners(t, gb))
				assertTenantStorageGone(t, d, b, a)

				// Recreating A yields an empty database: the data is gone for real.
				require.NoError(t, d.CreateTenant(ctx, a))
				ga2, err := d.Tenant(ctx, a)
				require.NoError(t, err)
				assert.False(t, ga2.Migrator().HasTable(&secret{}), "a recreated tenant starts empty")
			}},
			{desc: "DropTenant of a missing tenant is a no-op", run: func(t *testing.T) {
				require.NoError(t, d.DropTenant(ctx, factory.TenantID()))
			}},
		}
		for _, tc := range tests {
			if b == dbtest.SQLite && strings.HasPrefix(tc.desc, "PostgreSQL") {
				continue // SQLite has no search_path: its isolation is one file per tenant
			}
			t.Run(tc.desc, tc.run)
		}
	})
}

// assertTenantStorageGone checks the schema or file is really deleted.
func assertTenantStorageGone(t *testing.T, d *db.DB, b dbtest.Backend, tenant uuid.UUID) {
	t.Helper()
	switch b {
	case dbtest.Postgres:
		var n int64
		require.NoError(t, d.Gorm().Raw("SELECT count(*) FROM pg_namespace WHERE nspname = ?", dbtest.Namespace+"_t_"+hex(tenant)).Scan(&n).Error)
		assert.Zero(t, n, "schema must be dropped")
	case dbtest.SQLite:
		var file string
		require.NoError(t, d.Gorm().Raw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file).Error)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			assert.NoFileExists(t, filepath.Join(filepath.Dir(file), "tenants", tenant.String()+".db"+suffix))
		}
	}
}

// hex is the tenant id as PostgreSQL schema names spell it.
func hex(id uuid.UUID) string { return strings.ReplaceAll(id.String(), "-", "") }

func TestTenantErrors(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		tests := []struct {
			desc    string
			run     func(t *testing.T, d *db.DB) error
			wantIs  error
			wantMsg string
		}{
			{desc: "never created", run: func(t *testing.T, d *db.DB) error {
				_, err := d.Tenant(t.Context(), factory.TenantID())
				return err
			}, wantIs: db.ErrUnknownTenant},
			{desc: "nil tenant id on Tenant", run: func(t *testing.T, d *db.DB) error {
				_, err := d.Tenant(t.Context(), uuid.Nil)
				return err
			}, wantIs: db.ErrInvalid},
			{desc: "nil tenant id on CreateTenant", run: func(t *testing.T, d *db.DB) error {
				return d.CreateTenant(t.Context(), uuid.Nil)
			}, wantIs: db.ErrInvalid},
			{desc: "nil tenant id on DropTenant", run: func(t *testing.T, d *db.DB) error {
				return d.DropTenant(t.Context(), uuid.Nil)
			}, wantIs: db.ErrInvalid},
			{desc: "Tenant after Close", run: func(t *testing.T, d *db.DB) error {
				require.NoError(t, d.Close())
				_, err := d.Tenant(t.Context(), factory.TenantID())
				return err
			}, wantMsg: "closed"},
			{desc: "CreateTenant after Close", run: func(t *testing.T, d *db.DB) error {
				require.NoError(t, d.Close())
				return d.CreateTenant(t.Context(), factory.TenantID())
			}, wantMsg: "closed"},
			{desc: "DropTenant after Close", run: func(t *testing.T, d *db.DB) error {
				require.NoError(t, d.Close())
				return d.DropTenant(t.Context(), factory.TenantID())
			}, wantMsg: "closed"},
			{desc: "Ping after Close", run: func(t *testing.T, d *db.DB) error {
				require.NoError(t, d.Close())
				return d.Ping(t.Context())
			}, wantMsg: "ping database"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				t.Parallel()
				err := tc.run(t, dbtest.Open(t, b))
				require.Error(t, err)
				if tc.wantIs != nil {
					assert.ErrorIs(t, err, tc.wantIs)
				}
				assert.Contains(t, err.Error(), tc.wantMsg)
			})
		}
	})
}

func TestCloseClosesTenantHandles(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d, err := db.Open(t.Context(), dbtest.Options(t, b))
		require.NoError(t, err)
		g := openTenant(t, d, factory.TenantID())
		require.NoError(t, d.Close())
		assert.Error(t, g.Find(&[]secret{}).Error, "tenant handles are closed with the DB")
	})
}

func TestSQLiteTenantDirectoryUnusable(t *testing.T) {
	opts := dbtest.Options(t, dbtest.SQLite)
	d, err := db.Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	// A file where the tenants directory belongs: creating a tenant must
	// fail with the path in the message, not half-succeed.
	require.NoError(t, os.WriteFile(filepath.Join(opts.Dir, "tenants"), nil, 0o600))
	tenant := factory.TenantID()
	err = d.CreateTenant(t.Context(), tenant)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "create tenant "+tenant.String())
	assert.Contains(t, err.Error(), "tenants")
	// A broken data directory is an operator's problem, reported as such,
	// not disguised as an unknown tenant.
	_, err = d.Tenant(t.Context(), tenant)
	require.Error(t, err)
	assert.NotErrorIs(t, err, db.ErrUnknownTenant)
	assert.Contains(t, err.Error(), "look up tenant "+tenant.String())
}
