package db_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// countingMigrations is a one-migration set creating the secrets table whose
// Up counts its runs and fails while fail is set.
func countingMigrations(runs *atomic.Int64, fail *atomic.Bool) []db.Migration {
	return []db.Migration{{Version: 1, Name: "create secrets", Up: func(tx *gorm.DB) error {
		runs.Add(1)
		if fail.Load() {
			return errMigrationFailed
		}
		return tx.AutoMigrate(&secret{})
	}}}
}

var errMigrationFailed = errors.New("migration failed on purpose")

// migratorFixture is a database whose statements are counted and a
// TenantMigrator with a counting migration set that fails while fail is set.
type migratorFixture struct {
	d             *db.DB
	m             *db.TenantMigrator
	queries, runs atomic.Int64
	fail          atomic.Bool
}

func newMigratorFixture(t *testing.T, b dbtest.Backend) *migratorFixture {
	t.Helper()
	f := &migratorFixture{}
	opts := dbtest.Options(t, b)
	opts.OnQuery = func() { f.queries.Add(1) }
	d, err := db.Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	f.d = d
	f.m = db.NewTenantMigrator(d, "test-tenant", countingMigrations(&f.runs, &f.fail))
	return f
}

// newTenant registers a tenant in f's database.
func (f *migratorFixture) newTenant(t *testing.T) uuid.UUID {
	t.Helper()
	tenant := factory.TenantID()
	require.NoError(t, f.d.CreateTenant(t.Context(), tenant))
	return tenant
}

// TestTenantMigratorConcurrentFirstCalls: many first calls for one tenant
// all get a migrated handle, the migration runs once, and later calls run no
// statement at all, even when the migration record is gone (the process
// remembers, it does not ask the database again).
func TestTenantMigratorConcurrentFirstCalls(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		f := newMigratorFixture(t, b)
		m, queries, runs := f.m, &f.queries, &f.runs
		tenant := f.newTenant(t)

		const callers = 16
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, err := m.Tenant(ctx, tenant)
				if err == nil {
					// A caller that did not migrate must have waited for
					// the one that did: the table is there.
					err = g.Create(&secret{Owner: "caller"}).Error
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "caller %d", i)
		}
		assert.Equal(t, int64(1), runs.Load(), "one migration for concurrent first calls")

		g, err := m.Tenant(ctx, tenant)
		require.NoError(t, err)
		require.NoError(t, g.Exec("DELETE FROM schema_migrations").Error)
		before := queries.Load()
		for range 5 {
			_, err := m.Tenant(ctx, tenant)
			require.NoError(t, err)
		}
		assert.Equal(t, before, queries.Load(), "a migrated tenant costs no statement")
		assert.Equal(t, int64(1), runs.Load(), "no second migration in this process")
	})
}

// TestTenantMigratorRetriesAFailedMigration: a failure is returned with its
// cause and not remembered; the next call migrates.
func TestTenantMigratorRetriesAFailedMigration(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		f := newMigratorFixture(t, b)
		m, runs, fail := f.m, &f.runs, &f.fail
		tenant := f.newTenant(t)

		fail.Store(true)
		_, err := m.Tenant(ctx, tenant)
		require.ErrorIs(t, err, errMigrationFailed)
		assert.Contains(t, err.Error(), "migrate tenant database "+tenant.String())
		_, err = m.Tenant(ctx, tenant)
		require.ErrorIs(t, err, errMigrationFailed, "still failing: tried again")
		assert.Equal(t, int64(2), runs.Load())

		fail.Store(false)
		g, err := m.Tenant(ctx, tenant)
		require.NoError(t, err)
		require.NoError(t, g.Create(&secret{Owner: "after retry"}).Error)
		assert.Equal(t, int64(3), runs.Load())
		assert.Equal(t, []string{"after retry"}, owners(t, g))
	})
}

// TestTenantMigratorForget: a tenant dropped and created again with the same
// id starts empty, so after Forget it is migrated again; tenants are
// migrated independently; an unknown tenant is refused before migrating.
func TestTenantMigratorForget(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		f := newMigratorFixture(t, b)
		d, m, runs := f.d, f.m, &f.runs

		_, err := m.Tenant(ctx, uuid.New())
		require.ErrorIs(t, err, db.ErrUnknownTenant)
		assert.Equal(t, int64(0), runs.Load())

		a, other := f.newTenant(t), f.newTenant(t)
		_, err = m.Tenant(ctx, a)
		require.NoError(t, err)
		_, err = m.Tenant(ctx, other)
		require.NoError(t, err)
		assert.Equal(t, int64(2), runs.Load(), "each tenant is migrated")

		m.Forget(a)
		require.NoError(t, d.DropTenant(ctx, a))
		require.NoError(t, d.CreateTenant(ctx, a))
		g, err := m.Tenant(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, int64(3), runs.Load(), "migrated again after Forget")
		require.NoError(t, g.Create(&secret{Owner: "a"}).Error)
	})
}
