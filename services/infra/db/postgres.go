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
	config *pgx.ConnConfig
	system *gorm.DB
	logger *slog.Logger
}

func openPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*gorm.DB, backend, error) {
	if dsn == "" {
		return nil, nil, errors.New("a DSN is required")
	}
	config, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx errors can echo the DSN, password included: keep only a
		// generic message.
		return nil, nil, errors.New("parse DSN: malformed PostgreSQL connection string")
	}
	b := &postgresBackend{config: config, logger: logger}
	g, err := b.open(ctx, config, pgSystemMaxOpenConns, pgSystemMaxOpenConns, 0)
	if err != nil {
		return nil, nil, err
	}
	b.system = g
	return g, b, nil
}

func (b *postgresBackend) open(ctx context.Context, config *pgx.ConnConfig, maxOpen, maxIdle int, idleTime time.Duration) (*gorm.DB, error) {
	sqlDB := stdlib.OpenDB(*config)
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxIdle)
	sqlDB.SetConnMaxIdleTime(idleTime)
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gormConfig(b.logger))
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
	schema := schemaName(tenant)
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
		Raw("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", schemaName(tenant)).
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
	config.RuntimeParams["search_path"] = quoteIdent(schemaName(tenant))
	return b.open(ctx, config, pgTenantMaxOpenConns, pgTenantMaxIdleConns, pgTenantMaxIdleTime)
}

func (b *postgresBackend) dropTenant(ctx context.Context, tenant uuid.UUID) error {
	return b.system.WithContext(ctx).
		Exec("DROP SCHEMA IF EXISTS " + quoteIdent(schemaName(tenant)) + " CASCADE").Error
}

func (b *postgresBackend) close() error { return nil }
