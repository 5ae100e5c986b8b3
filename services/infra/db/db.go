// Package db opens Passthru's relational storage through gorm: SQLite for
// single-node and demo use, PostgreSQL for shared deployments. It owns three
// things every service needs and must not get subtly wrong: connection
// settings (SQLite write locking, pool sizes, quiet logging), versioned
// migrations, and per-tenant database handles that keep each tenant's rows
// physically apart (one SQLite file or one PostgreSQL schema per tenant).
package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Driver names a database backend.
type Driver string

// The supported backends.
const (
	DriverSQLite   Driver = "sqlite"
	DriverPostgres Driver = "postgres"
)

// ErrUnknownTenant is returned (wrapped) by Tenant for a tenant whose
// database was never created or has been dropped.
var ErrUnknownTenant = errors.New("unknown tenant")

// Options selects and configures a backend.
type Options struct {
	Driver Driver
	// DSN is the PostgreSQL connection string (keyword/value or URL form).
	DSN string
	// Dir is the SQLite directory holding system.db and tenants/<tenant-id>.db.
	// "" means an ephemeral temporary directory removed by Close.
	Dir string
	// Logger receives gorm's warnings and errors (never SQL parameters).
	// nil discards them.
	Logger *slog.Logger
}

// DB is an open system database plus the per-tenant handles opened so far.
// It is safe for concurrent use.
type DB struct {
	driver  Driver
	system  *gorm.DB
	logger  *slog.Logger
	backend backend

	mu      sync.Mutex
	tenants map[uuid.UUID]*gorm.DB
	closed  bool
}

// backend holds what differs between SQLite and PostgreSQL for tenant
// handling; DB keeps the cache and locking common to both.
type backend interface {
	// createTenant makes the tenant's storage exist (idempotent).
	createTenant(ctx context.Context, tenant uuid.UUID) error
	// tenantExists reports whether the tenant's storage exists.
	tenantExists(ctx context.Context, tenant uuid.UUID) (bool, error)
	// openTenant opens a new handle on an existing tenant's storage.
	openTenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error)
	// dropTenant removes the tenant's storage; its handle is already closed.
	dropTenant(ctx context.Context, tenant uuid.UUID) error
	// close releases backend resources after all handles are closed.
	close() error
}

// Open opens (creating if needed) the system database described by opts.
func Open(ctx context.Context, opts Options) (*DB, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &DB{driver: opts.Driver, logger: logger, tenants: make(map[uuid.UUID]*gorm.DB)}
	var err error
	switch opts.Driver {
	case DriverSQLite:
		d.system, d.backend, err = openSQLite(ctx, opts.Dir, logger)
	case DriverPostgres:
		d.system, d.backend, err = openPostgres(ctx, opts.DSN, logger)
	default:
		return nil, fmt.Errorf("open database: unknown driver %q (want %q or %q)", opts.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", opts.Driver, err)
	}
	return d, nil
}

// Gorm returns the system database: the tenant registry, barrier keys and
// other service-global tables live here.
func (d *DB) Gorm() *gorm.DB { return d.system }

// Driver reports the backend in use.
func (d *DB) Driver() Driver { return d.driver }

// Ping checks that the system database answers.
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.system.DB()
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes every tenant handle, then the system database. Calling it
// again is a no-op.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	for id, g := range d.tenants {
		if err := closeGorm(g); err != nil {
			errs = append(errs, fmt.Errorf("close tenant %s: %w", id, err))
		}
		delete(d.tenants, id)
	}
	if err := closeGorm(d.system); err != nil {
		errs = append(errs, fmt.Errorf("close system database: %w", err))
	}
	if err := d.backend.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CreateTenant creates the tenant's schema (PostgreSQL) or file (SQLite).
// It is idempotent. The tenant's tables are the caller's: run Migrate on the
// handle returned by Tenant.
func (d *DB) CreateTenant(ctx context.Context, tenant uuid.UUID) error {
	if err := checkTenantID(tenant); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	if err := d.backend.createTenant(ctx, tenant); err != nil {
		return fmt.Errorf("create tenant %s: %w", tenant, err)
	}
	return nil
}

// Tenant returns the tenant's database handle, opening it on first use and
// caching it afterwards. A tenant never created (or dropped) yields an error
// wrapping ErrUnknownTenant. The handle stays valid until DropTenant or Close.
func (d *DB) Tenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	if err := checkTenantID(tenant); err != nil {
		return nil, err
	}
	// The lock is held while a handle is opened so that two first requests
	// for one tenant do not open two pools; opening is rare (once per tenant
	// per process), so the contention does not matter.
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	if g, ok := d.tenants[tenant]; ok {
		return g, nil
	}
	exists, err := d.backend.tenantExists(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("look up tenant %s: %w", tenant, err)
	}
	if !exists {
		return nil, fmt.Errorf("tenant %s: %w", tenant, ErrUnknownTenant)
	}
	g, err := d.backend.openTenant(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("open tenant %s: %w", tenant, err)
	}
	d.tenants[tenant] = g
	return g, nil
}

// DropTenant closes the tenant's handle and deletes its schema or file with
// all its data. Dropping a tenant that does not exist is not an error, so a
// deletion interrupted half-way can simply be retried.
func (d *DB) DropTenant(ctx context.Context, tenant uuid.UUID) error {
	if err := checkTenantID(tenant); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	if g, ok := d.tenants[tenant]; ok {
		delete(d.tenants, tenant)
		if err := closeGorm(g); err != nil {
			return fmt.Errorf("drop tenant %s: close handle: %w", tenant, err)
		}
	}
	if err := d.backend.dropTenant(ctx, tenant); err != nil {
		return fmt.Errorf("drop tenant %s: %w", tenant, err)
	}
	return nil
}

var errClosed = errors.New("database is closed")

// checkTenantID refuses the nil UUID: it is the services' "system" scope,
// which lives in the system database, never in a tenant database.
func checkTenantID(tenant uuid.UUID) error {
	if tenant == uuid.Nil {
		return fmt.Errorf("%w: tenant id must not be the nil UUID", ErrInvalid)
	}
	return nil
}

func closeGorm(g *gorm.DB) error {
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// schemaName is the PostgreSQL schema of a tenant. It is built only from the
// hex digits of the UUID, so it is a safe identifier even before quoting.
func schemaName(tenant uuid.UUID) string {
	return "t_" + fmt.Sprintf("%x", tenant[:])
}

// quoteIdent quotes an identifier for PostgreSQL.
func quoteIdent(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// removeIfExists removes a file, treating "already gone" as success.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
