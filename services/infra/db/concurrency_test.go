package db_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

type counter struct {
	ID    int `gorm:"primaryKey"`
	Value int
}

// incrementConcurrently runs writers x rounds read-then-write transactions
// on one counter row and returns the errors seen.
func incrementConcurrently(t *testing.T, g *gorm.DB, writers, rounds int) []error {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range writers {
		wg.Go(func() {
			for range rounds {
				err := g.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
					var c counter
					if err := tx.First(&c, 1).Error; err != nil {
						return err
					}
					return tx.Model(&counter{}).Where("id = ?", 1).Update("value", c.Value+1).Error
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errs
}

func TestSQLiteConcurrentWriters(t *testing.T) {
	const writers, rounds = 8, 20
	tests := []struct {
		desc   string
		handle func(t *testing.T) *gorm.DB
	}{
		{desc: "system database", handle: func(t *testing.T) *gorm.DB { return dbtest.Open(t, dbtest.SQLite).Gorm() }},
		{desc: "tenant database", handle: func(t *testing.T) *gorm.DB {
			d := dbtest.Open(t, dbtest.SQLite)
			tenant := factory.TenantID()
			require.NoError(t, d.CreateTenant(t.Context(), tenant))
			g, err := d.Tenant(t.Context(), tenant)
			require.NoError(t, err)
			return g
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			g := tc.handle(t)
			require.NoError(t, g.AutoMigrate(&counter{}))
			require.NoError(t, g.Create(&counter{ID: 1}).Error)

			errs := incrementConcurrently(t, g, writers, rounds)
			require.Empty(t, errs, "BEGIN IMMEDIATE must serialise writers without SQLITE_BUSY")

			var c counter
			require.NoError(t, g.First(&c, 1).Error)
			assert.Equal(t, writers*rounds, c.Value, "no increment may be lost")
		})
	}
}

// TestSQLiteDeferredTransactionsFail is the control experiment: the same
// workload on a connection without _txlock=immediate (everything else
// equal) hits SQLITE_BUSY, which is why Open sets it.
func TestSQLiteDeferredTransactionsFail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deferred.db")
	g, err := gorm.Open(sqlite.Open(path+"?_journal_mode=WAL&_busy_timeout=5000&_foreign_keys=on"), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	sqlDB, err := g.DB()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sqlDB.Close() })
	sqlDB.SetMaxOpenConns(4)
	require.NoError(t, g.AutoMigrate(&counter{}))
	require.NoError(t, g.Create(&counter{ID: 1}).Error)

	// Two transactions both read, then the first writes and commits: the
	// second's snapshot is now stale, and its write fails at once with
	// SQLITE_BUSY whatever the busy timeout. Stepped by hand so the
	// interleaving is certain.
	tx1 := g.Begin()
	tx2 := g.Begin()
	var c1, c2 counter
	require.NoError(t, tx1.First(&c1, 1).Error)
	require.NoError(t, tx2.First(&c2, 1).Error)
	require.NoError(t, tx1.Model(&counter{}).Where("id = ?", 1).Update("value", c1.Value+1).Error)
	require.NoError(t, tx1.Commit().Error)
	err = tx2.Model(&counter{}).Where("id = ?", 1).Update("value", c2.Value+1).Error
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database is locked")
	require.NoError(t, tx2.Rollback().Error)
}
