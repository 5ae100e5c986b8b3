package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Pool sizes. Each tenant handle is its own pool (its connections carry the
// tenant's search_path), so tenant pools stay small and release idle
// connections quickly: many tenants must not exhaust max_connections.
const (
	pgSystemMaxOpenConns = 10
	pgTenantMaxOpenConns = 4
	pgTenantMaxIdleConns = 2
	pgTenantMaxIdleTime  = 2 * time.Minute
)

type postgresBackend struct {
	ns      string // the owning service's namespace: schema of its system tables, prefix of its tenant schemas
	config  *pgx.ConnConfig
	system  *gorm.DB
	logger  *slog.Logger
	onQuery func()
}

func openPostgres(ctx context.Context, dsn, ns string, logger *slog.Logger, onQuery func()) (*gorm.DB, backend, error) {
	if dsn == "" {
		return nil, nil, errors.New("a DSN is required")
	}
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx errors can echo the DSN, password included: keep only a
		// generic message.
		return nil, nil, errors.New("parse DSN: malformed PostgreSQL connection string")
	}
	b := &postgresBackend{ns: ns, config: config, logger: logger, onQuery: onQuery}
	// The system pool sees only the namespace's schema, as a tenant pool
	// sees only its tenant's: another service's barrier_* or
	// schema_migrations on the same database are never found by an
	// unqualified name, and ours never land in "public".
	system := config.Copy()
	if system.RuntimeParams == nil {
		system.RuntimeParams = map[string]string{}
	}
	system.RuntimeParams["search_path"] = quoteIdent(ns)
	g, err := b.open(ctx, system, pgSystemMaxOpenConns, pgSystemMaxOpenConns, 0)
	if err != nil {
		return nil, nil, err
	}
	b.system = g
	if err := b.createSchema(ctx, ns); err != nil {
		_ = closeGorm(g)
		return nil, nil, fmt.Errorf("create schema %s: %w", ns, err)
	}
	if err := b.refuseLegacyLayout(ctx); err != nil {
		_ = closeGorm(g)
		return nil, nil, err
	}
	return g, b, nil
}

// refuseLegacyLayout stops a service from starting afresh in its namespace
// while the database still holds Passthru tables from before namespaces
// (system tables in "public", tenants in t_<hex>): it would create a second,
// empty barrier beside the real one, and with two services on the database
// nothing can tell which of the old tables and tenant schemas are whose.
// Moving them is an operator's decision, spelled out in the error.
func (b *postgresBackend) refuseLegacyLayout(ctx context.Context) error {
	g := b.system.WithContext(ctx)
	var adopted bool
	if err := g.Raw("SELECT to_regclass(?) IS NOT NULL", quoteIdent(b.ns)+".schema_migrations").Scan(&adopted).Error; err != nil {
		return fmt.Errorf("look for schema_migrations: %w", err)
	}
	if adopted {
		return nil
	}
	var legacy bool
	err := g.Raw(`SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = 'schema_migrations' AND column_name = 'set')`).Scan(&legacy).Error
	if err != nil {
		return fmt.Errorf("look for an earlier layout: %w", err)
	}
	if legacy {
		err = g.Raw(`SELECT EXISTS (SELECT 1 FROM public.schema_migrations WHERE "set" = 'barrier')`).Scan(&legacy).Error
		if err != nil {
			return fmt.Errorf("look for an earlier layout: %w", err)
		}
	}
	if !legacy {
		return nil
	}
	return fmt.Errorf("%w: this database holds Passthru tables from before each service had its own schema "+
		"(public.schema_migrations, public.barrier_*, tenant schemas t_<hex>), and schema %q is new. "+
		"If only service %q used this database, move its tables and tenants into its namespace "+
		"(ALTER TABLE public.<table> SET SCHEMA %s for each of its tables; ALTER SCHEMA t_<hex> RENAME TO %s_t_<hex> for each tenant) "+
		"and start again; if two services shared it, their barriers were mixed: start each on a fresh database",
		ErrForeignDatabase, b.ns, b.ns, b.ns, b.ns)
}

func (b *postgresBackend) open(ctx context.Context, config *pgx.ConnConfig, maxOpen, maxIdle int, idleTime time.Duration) (*gorm.DB, error) {
	sqlDB := stdlib.OpenDB(*config)
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxIdle)
	sqlDB.SetConnMaxIdleTime(idleTime)
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gormConfig(b.logger, b.onQuery))
	if err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return g, nil
}

func (b *postgresBackend) createTenant(ctx context.Context, tenant uuid.UUID) error {
	return b.createSchema(ctx, schemaName(b.ns, tenant))
}

// createSchema creates a schema if it does not exist yet.
func (b *postgresBackend) createSchema(ctx context.Context, schema string) error {
	// Two concurrent CREATE SCHEMA IF NOT EXISTS can still collide on the
	// catalog's unique index; a transaction-scoped advisory lock on the
	// schema name serialises them.
	return b.system.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "passthru/schema/"+schema).Error; err != nil {
			return err
		}
		return tx.Exec("CREATE SCHEMA IF NOT EXISTS " + quoteIdent(schema)).Error
	})
}

func (b *postgresBackend) tenantExists(ctx context.Context, tenant uuid.UUID) (bool, error) {
	var exists bool
	err := b.system.WithContext(ctx).
		Raw("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", schemaName(b.ns, tenant)).
		Scan(&exists).Error
	return exists, err
}

func (b *postgresBackend) openTenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	config := b.config.Copy()
	// search_path is a startup parameter of every connection of this pool,
	// so no connection ever runs with another tenant's path and nothing has
	// to be reset when a connection returns to the pool (unlike SET).
	// Only the tenant schema is on the path: unqualified names never fall
	// through to the system tables in "public".
	if config.RuntimeParams == nil {
		config.RuntimeParams = map[string]string{}
	}
	config.RuntimeParams["search_path"] = quoteIdent(schemaName(b.ns, tenant))
	return b.open(ctx, config, pgTenantMaxOpenConns, pgTenantMaxIdleConns, pgTenantMaxIdleTime)
}

func (b *postgresBackend) dropTenant(ctx context.Context, tenant uuid.UUID) error {
	return b.system.WithContext(ctx).
		Exec("DROP SCHEMA IF EXISTS " + quoteIdent(schemaName(b.ns, tenant)) + " CASCADE").Error
}

func (b *postgresBackend) close() error { return nil }
