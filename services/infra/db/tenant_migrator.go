package db

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// TenantMigrator hands out tenant database handles migrated with one
// migration set, running the migrations once per tenant and process: Migrate
// is idempotent but costs a few queries, too many for every request.
//
// Concurrent first calls for a tenant migrate it once: one caller migrates
// while the others wait for it (or for their context). A failed migration is
// not remembered, so the next call tries again. Tenants do not wait for each
// other. A TenantMigrator is safe for concurrent use.
type TenantMigrator struct {
	db         *DB
	set        string
	migrations []Migration

	mu      sync.Mutex // guards tenants
	tenants map[uuid.UUID]*tenantMigration
}

// tenantMigration is the migration state of one tenant. sem holds one token:
// whoever takes it may migrate; done, read and written only while holding
// the token, says the migration succeeded.
type tenantMigration struct {
	sem  chan struct{}
	done bool
}

// NewTenantMigrator returns a TenantMigrator that migrates d's tenant
// databases with the migration set named set.
func NewTenantMigrator(d *DB, set string, migrations []Migration) *TenantMigrator {
	return &TenantMigrator{db: d, set: set, migrations: migrations, tenants: map[uuid.UUID]*tenantMigration{}}
}

// Tenant returns the tenant's database handle, bound to ctx, after running
// the migrations if this process has not yet run them for the tenant. An
// unregistered tenant is ErrUnknownTenant (errors.Is).
func (m *TenantMigrator) Tenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	g, err := m.db.Tenant(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("open tenant database %s: %w", tenant, err)
	}
	e := m.entry(tenant)
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the migration of tenant %s: %w", tenant, ctx.Err())
	}
	defer func() { <-e.sem }()
	if !e.done {
		if err := Migrate(ctx, g, m.set, m.migrations); err != nil {
			return nil, fmt.Errorf("migrate tenant database %s: %w", tenant, err)
		}
		e.done = true
	}
	return g.WithContext(ctx), nil
}

// Forget makes the next Tenant call for tenant migrate again; call it when
// the tenant's database is dropped, since a tenant created again with the same
// id starts from an empty database.
func (m *TenantMigrator) Forget(tenant uuid.UUID) {
	m.mu.Lock()
	delete(m.tenants, tenant)
	m.mu.Unlock()
}

func (m *TenantMigrator) entry(tenant uuid.UUID) *tenantMigration {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.tenants[tenant]
	if !ok {
		e = &tenantMigration{sem: make(chan struct{}, 1)}
		m.tenants[tenant] = e
	}
	return e
}
