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
	// Namespace names the service that owns the database ("kms",
	// "identity"; see ValidateNamespace). Several services may share one
	// PostgreSQL database, so everything a service creates lives under its
	// namespace: its system tables (barrier, schema_migrations, its own
	// registry) in the PostgreSQL schema <namespace>, its tenants in
	// schemas <namespace>_t_<hex>. A SQLite directory records the namespace
	// that created it and refuses any other. Required.
	Namespace string
	// DSN is the PostgreSQL connection string (keyword/value or URL form).
	DSN string
	// Dir is the SQLite directory holding system.db and tenants/<tenant-id>.db.
	// "" means an ephemeral temporary directory removed by Close.
	Dir string
	// Logger receives gorm's warnings and errors (never SQL parameters).
	// nil discards them.
	Logger *slog.Logger
	// OnQuery, when set, is called once for every SQL statement run on any
	// handle of the database (system and tenants), so tests and benchmarks
	// can count queries per request.
	OnQuery func()
}

// DB is an open system database plus the per-tenant handles opened so far.
// It is safe for concurrent use.
type DB struct {
	driver  Driver
	system  *gorm.DB
	backend backend

	// mu guards tenants and closed. It is never held while a tenant pool
	// connects or a tenant's storage is dropped, so a slow PostgreSQL
	// connect for one tenant does not stall lookups of the others; cached
	// lookups take only the read lock.
	mu      sync.RWMutex
	tenants map[uuid.UUID]*tenantEntry
	closed  bool
}

// tenantEntry is one tenant's slot in the cache. An entry in the map is in
// one of three states: opening (done open, g nil), ready (done closed, g
// set) or dropping (a DropTenant marker, done open until the storage is
// gone). A failed open removes its entry before closing done, so it is
// never found in the map.
type tenantEntry struct {
	done     chan struct{} // closed once the entry has settled
	g        *gorm.DB      // the open handle once ready; written under mu
	err      error         // why opening failed; written before done is closed
	dropping bool          // a DropTenant marker; set at creation, never changed
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
	if err := ValidateNamespace(opts.Namespace); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	d := &DB{driver: opts.Driver, tenants: make(map[uuid.UUID]*tenantEntry)}
	var err error
	switch opts.Driver {
	case DriverSQLite:
		d.system, d.backend, err = openSQLite(ctx, opts.Dir, opts.Namespace, logger, opts.OnQuery)
	case DriverPostgres:
		d.system, d.backend, err = openPostgres(ctx, opts.DSN, opts.Namespace, logger, opts.OnQuery)
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
// again is a no-op. Tenant pools still connecting and tenants still being
// dropped are waited for first, so nothing touches the storage (or
// recreates an ephemeral directory) after Close returns.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	// From here on no new entry is added: Tenant, CreateTenant and
	// DropTenant all check closed under the lock first.
	d.closed = true
	var pending []*tenantEntry
	for _, e := range d.tenants {
		if e.g == nil {
			pending = append(pending, e)
		}
	}
	d.mu.Unlock()
	for _, e := range pending {
		<-e.done // an opener seeing closed discards its pool; a drop finishes
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for id, e := range d.tenants {
		if e.g != nil {
			if err := closeGorm(e.g); err != nil {
				errs = append(errs, fmt.Errorf("close tenant %s: %w", id, err))
			}
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
	// The read lock keeps Close and DropTenant (which need the write lock
	// to start) out while the storage is created, without stopping cached
	// lookups. A drop of this very tenant in progress is waited for, so
	// creation never interleaves with the removal of the same files.
	for {
		d.mu.RLock()
		if d.closed {
			d.mu.RUnlock()
			return errClosed
		}
		e := d.tenants[tenant]
		if e == nil || !e.dropping {
			err := d.backend.createTenant(ctx, tenant)
			d.mu.RUnlock()
			if err != nil {
				return fmt.Errorf("create tenant %s: %w", tenant, err)
			}
			return nil
		}
		d.mu.RUnlock()
		if err := waitEntry(ctx, tenant, e); err != nil {
			return fmt.Errorf("create tenant %s: %w", tenant, err)
		}
	}
}

// Tenant returns the tenant's database handle, opening it on first use and
// caching it afterwards. A tenant never created (or dropped) yields an error
// wrapping ErrUnknownTenant. The handle stays valid until DropTenant or Close.
//
// A cached handle costs one read lock. The first call for a tenant claims
// its cache slot and connects without holding the lock, so lookups of other
// tenants go on meanwhile; concurrent first calls for the same tenant wait
// for that one connect (singleflight), so exactly one pool is ever kept.
func (d *DB) Tenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	if err := checkTenantID(tenant); err != nil {
		return nil, err
	}
	for {
		d.mu.RLock()
		closed, e := d.closed, d.tenants[tenant]
		var g *gorm.DB
		if e != nil {
			g = e.g
		}
		d.mu.RUnlock()
		switch {
		case closed:
			return nil, errClosed
		case g != nil:
			return g, nil
		case e == nil:
			var lead bool
			e, lead = d.claim(tenant)
			if lead {
				return d.open(ctx, tenant, e)
			}
			if e == nil {
				return nil, errClosed
			}
		}
		if err := waitEntry(ctx, tenant, e); err != nil {
			return nil, err
		}
		// e.err is final once done is closed. A failed open is shared
		// with its waiters, except when it failed only because the
		// opener's own context ended: then a live caller tries again.
		if e.err != nil && !(isContextErr(e.err) && ctx.Err() == nil) {
			return nil, e.err
		}
		// Ready, dropped, or failed for someone else's context: look again.
	}
}

// claim returns the tenant's entry, adding an opening one (lead = true,
// the caller must then call open) if there is none. nil means closed.
func (d *DB) claim(tenant uuid.UUID) (e *tenantEntry, lead bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, false
	}
	if e := d.tenants[tenant]; e != nil {
		return e, false
	}
	e = &tenantEntry{done: make(chan struct{})}
	d.tenants[tenant] = e
	return e, true
}

// open connects the claimed entry e outside the lock and publishes the
// result. If Close ran meanwhile the new pool is closed, never leaked.
func (d *DB) open(ctx context.Context, tenant uuid.UUID, e *tenantEntry) (*gorm.DB, error) {
	g, err := d.connect(ctx, tenant)
	var discard *gorm.DB
	d.mu.Lock()
	if err == nil && (d.closed || d.tenants[tenant] != e) {
		discard, g, err = g, nil, errClosed
	}
	if err != nil {
		if d.tenants[tenant] == e {
			delete(d.tenants, tenant)
		}
		e.err = err
	} else {
		e.g = g
	}
	close(e.done)
	d.mu.Unlock()
	if discard != nil {
		_ = closeGorm(discard) // nobody has seen it; a close error changes nothing
	}
	return g, err
}

// connect checks that the tenant exists and opens a new pool on it.
func (d *DB) connect(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
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
	return g, nil
}

// waitEntry waits for e to settle or ctx to end.
func waitEntry(ctx context.Context, tenant uuid.UUID, e *tenantEntry) error {
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tenant %s: %w", tenant, ctx.Err())
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// DropTenant closes the tenant's handle and deletes its schema or file with
// all its data. Dropping a tenant that does not exist is not an error, so a
// deletion interrupted half-way can simply be retried.
//
// A pool still connecting for the tenant is waited for (then closed), and
// while the storage is removed a marker in the cache makes Tenant and
// CreateTenant for this tenant wait, so none of them can reopen or recreate
// it half-way; other tenants are not held up.
func (d *DB) DropTenant(ctx context.Context, tenant uuid.UUID) error {
	if err := checkTenantID(tenant); err != nil {
		return err
	}
	var (
		marker = &tenantEntry{done: make(chan struct{}), dropping: true}
		old    *gorm.DB
	)
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return errClosed
		}
		e := d.tenants[tenant]
		if e == nil || e.g != nil {
			if e != nil {
				old = e.g
			}
			d.tenants[tenant] = marker // evicts the cached handle
			d.mu.Unlock()
			break
		}
		d.mu.Unlock()
		// Opening, or another drop in progress: let it settle first.
		if err := waitEntry(ctx, tenant, e); err != nil {
			return fmt.Errorf("drop tenant: %w", err)
		}
	}
	err := d.drop(ctx, tenant, old)
	d.mu.Lock()
	if d.tenants[tenant] == marker {
		delete(d.tenants, tenant)
	}
	close(marker.done)
	d.mu.Unlock()
	return err
}

func (d *DB) drop(ctx context.Context, tenant uuid.UUID, old *gorm.DB) error {
	if old != nil {
		if err := closeGorm(old); err != nil {
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

// schemaName is the PostgreSQL schema of a tenant of namespace ns. It is
// built only from the (validated) namespace and the hex digits of the UUID,
// so it is a safe identifier even before quoting, and two services' schemas
// for the same tenant id never meet.
func schemaName(ns string, tenant uuid.UUID) string {
	return ns + "_t_" + fmt.Sprintf("%x", tenant[:])
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
