package db_test

import (
	"errors"
	"fmt"
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

// TestTenantConcurrentFirstUse starts many first lookups of several tenants
// at once: every caller of one tenant must get the same handle (one pool per
// tenant, never a second one racing in), and the handles must work and stay
// apart.
func TestTenantConcurrentFirstUse(t *testing.T) {
	const tenants, callersPerTenant = 4, 16
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		ids := make([]uuid.UUID, tenants)
		for i := range ids {
			ids[i] = factory.TenantID()
			require.NoError(t, d.CreateTenant(t.Context(), ids[i]))
		}

		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			handles = map[uuid.UUID]map[*gorm.DB]int{}
			errs    []error
			start   = make(chan struct{})
		)
		for _, id := range ids {
			handles[id] = map[*gorm.DB]int{}
			for range callersPerTenant {
				wg.Go(func() {
					<-start // release all callers together for the widest race
					g, err := d.Tenant(t.Context(), id)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					handles[id][g]++
				})
			}
		}
		close(start)
		wg.Wait()
		require.Empty(t, errs)

		seen := map[*gorm.DB]uuid.UUID{}
		for i, id := range ids {
			require.Len(t, handles[id], 1, "tenant %d: exactly one handle for all callers", i)
			for g, n := range handles[id] {
				assert.Equal(t, callersPerTenant, n)
				_, dup := seen[g]
				assert.False(t, dup, "tenants never share a handle")
				seen[g] = id
				cached, err := d.Tenant(t.Context(), id)
				require.NoError(t, err)
				assert.Same(t, g, cached, "later lookups hit the same cached handle")
				require.NoError(t, db.Migrate(t.Context(), g, "test-tenant", tenantMigrations))
				require.NoError(t, g.Create(&secret{Owner: id.String()}).Error)
			}
		}
		for g, id := range seen {
			assert.Equal(t, []string{id.String()}, owners(t, g), "each handle sees only its tenant's rows")
		}
	})
}

// TestTenantLookupsDuringDropAndCreate runs cached lookups of stable
// tenants beside lookups of a tenant being dropped and re-created over and
// over: the stable tenants keep their one handle throughout, the churned
// tenant yields either a handle or ErrUnknownTenant (never another error),
// and at the end DropTenant has closed and evicted what it cached.
func TestTenantLookupsDuringDropAndCreate(t *testing.T) {
	const stable, lookers, rounds, cycles = 3, 4, 50, 10
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		want := map[uuid.UUID]*gorm.DB{}
		for range stable {
			id := factory.TenantID()
			want[id] = openTenant(t, d, id)
		}
		churn := factory.TenantID()
		require.NoError(t, d.CreateTenant(t.Context(), churn))

		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		record := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}
		for range lookers {
			wg.Go(func() {
				for range rounds {
					for id, g := range want {
						got, err := d.Tenant(t.Context(), id)
						switch {
						case err != nil:
							record(err)
						case got != g:
							record(fmt.Errorf("tenant %s: a different handle than the cached one", id))
						}
					}
					if _, err := d.Tenant(t.Context(), churn); err != nil && !errors.Is(err, db.ErrUnknownTenant) {
						record(err)
					}
				}
			})
		}
		wg.Go(func() {
			for range cycles {
				if err := d.DropTenant(t.Context(), churn); err != nil {
					record(err)
				}
				if err := d.CreateTenant(t.Context(), churn); err != nil {
					record(err)
				}
			}
		})
		wg.Wait()
		require.Empty(t, errs, "stable tenants always get their cached handle; the churned one only ErrUnknownTenant")

		g, err := d.Tenant(t.Context(), churn)
		require.NoError(t, err, "re-created tenant opens again")
		require.NoError(t, db.Migrate(t.Context(), g, "test-tenant", tenantMigrations))
		require.NoError(t, d.DropTenant(t.Context(), churn))
		assert.Error(t, g.Find(&[]secret{}).Error, "DropTenant closes the cached handle")
		_, err = d.Tenant(t.Context(), churn)
		assert.ErrorIs(t, err, db.ErrUnknownTenant, "and evicts it")
		for id, g := range want {
			got, err := d.Tenant(t.Context(), id)
			require.NoError(t, err)
			assert.Same(t, g, got)
		}
	})
}

// BenchmarkTenantCachedHit measures the hot path every tenant-scoped
// request takes: a lookup of an already open handle, from many goroutines.
// The backend does not matter for a cache hit, so SQLite is used.
func BenchmarkTenantCachedHit(b *testing.B) {
	d := dbtest.Open(b, dbtest.SQLite)
	ids := make([]uuid.UUID, 8)
	for i := range ids {
		ids[i] = factory.TenantID()
		require.NoError(b, d.CreateTenant(b.Context(), ids[i]))
		_, err := d.Tenant(b.Context(), ids[i])
		require.NoError(b, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := d.Tenant(b.Context(), ids[i%len(ids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
