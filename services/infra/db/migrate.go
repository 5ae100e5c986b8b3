package db

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Migration is one versioned schema change of a migration set.
type Migration struct {
	// Version orders the migrations of a set; positive, strictly increasing.
	Version int
	// Name says what the migration does; recorded next to the version.
	Name string
	// Up applies the change inside the migration's transaction.
	Up func(tx *gorm.DB) error
}

// appliedMigration is a row of schema_migrations.
type appliedMigration struct {
	Set       string    `gorm:"column:set;primaryKey"`
	Version   int       `gorm:"column:version;primaryKey"`
	Name      string    `gorm:"column:name"`
	AppliedAt time.Time `gorm:"column:applied_at"`
}

func (appliedMigration) TableName() string { return "schema_migrations" }

// createMigrationsTable is plain SQL valid on both backends; "set" is a
// keyword and therefore quoted.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	"set" VARCHAR(255) NOT NULL,
	version INTEGER NOT NULL,
	name VARCHAR(255) NOT NULL,
	applied_at TIMESTAMP NOT NULL,
	PRIMARY KEY ("set", version)
)`

// Migrate applies the migrations of set that g's database has not recorded
// yet, in version order, each in its own transaction together with its row in
// schema_migrations. Running it again is a no-op. Several processes may
// migrate one database at once: on PostgreSQL each transaction first takes a
// transaction-scoped advisory lock for (schema, set); on SQLite the
// transaction itself holds the write lock (BEGIN IMMEDIATE).
//
// It fails, changing nothing, when the list is malformed, when a recorded
// version has another name than the code's (someone edited history), or when
// the database holds versions newer than the code knows (an older binary on a
// newer schema).
func Migrate(ctx context.Context, g *gorm.DB, set string, migrations []Migration) error {
	if err := checkMigrations(set, migrations); err != nil {
		return fmt.Errorf("migrate %s: %w", set, err)
	}
	g = g.WithContext(ctx)
	if err := g.Transaction(func(tx *gorm.DB) error {
		// The table is shared by every set, so this lock must not be the
		// per-set one: two sets migrating at once (e.g. "barrier" and a
		// service's own set on first start) would both run CREATE TABLE IF
		// NOT EXISTS, and on PostgreSQL the loser fails with a unique
		// violation on pg_type instead of finding the table.
		if err := LockTx(tx, "passthru/migrate-table/", ""); err != nil {
			return err
		}
		return tx.Exec(createMigrationsTable).Error
	}); err != nil {
		return fmt.Errorf("migrate %s: create schema_migrations: %w", set, err)
	}
	if err := checkApplied(g, set, migrations); err != nil {
		return fmt.Errorf("migrate %s: %w", set, err)
	}
	for _, m := range migrations {
		if err := g.Transaction(func(tx *gorm.DB) error { return applyMigration(tx, set, m) }); err != nil {
			return fmt.Errorf("migrate %s: version %d (%s): %w", set, m.Version, m.Name, err)
		}
	}
	return nil
}

func checkMigrations(set string, migrations []Migration) error {
	if err := checkName(set); err != nil {
		return fmt.Errorf("set name: %w", err)
	}
	last := 0
	for i, m := range migrations {
		if m.Version <= last {
			return fmt.Errorf("%w: migration %d has version %d, want greater than %d", ErrInvalid, i, m.Version, last)
		}
		last = m.Version
		if err := checkName(m.Name); err != nil {
			return fmt.Errorf("migration %d name: %w", m.Version, err)
		}
		if m.Up == nil {
			return fmt.Errorf("%w: migration %d has no Up function", ErrInvalid, m.Version)
		}
	}
	return nil
}

// checkApplied compares what the database recorded with the code's list.
func checkApplied(g *gorm.DB, set string, migrations []Migration) error {
	var applied []appliedMigration
	if err := g.Where(`"set" = ?`, set).Order("version").Find(&applied).Error; err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	known := make(map[int]string, len(migrations))
	for _, m := range migrations {
		known[m.Version] = m.Name
	}
	for _, a := range applied {
		name, ok := known[a.Version]
		if !ok {
			return fmt.Errorf("database has version %d (%s), unknown to this program: is it older than the database?", a.Version, a.Name)
		}
		if name != a.Name {
			return fmt.Errorf("version %d is recorded as %q but the code names it %q", a.Version, a.Name, name)
		}
	}
	return nil
}

// applyMigration runs one migration unless it is already recorded; the check
// is repeated under the lock because another process may have applied it
// since checkApplied.
func applyMigration(tx *gorm.DB, set string, m Migration) error {
	if err := lockMigrations(tx, set); err != nil {
		return err
	}
	var n int64
	if err := tx.Model(&appliedMigration{}).Where(`"set" = ? AND version = ?`, set, m.Version).Count(&n).Error; err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if n > 0 {
		return nil
	}
	if err := m.Up(tx); err != nil {
		return err
	}
	row := appliedMigration{Set: set, Version: m.Version, Name: m.Name, AppliedAt: time.Now().UTC()}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("record migration: %w", err)
	}
	return nil
}

// lockMigrations serialises migrations of one set in one schema on
// PostgreSQL. The lock is released with the transaction, so a crashed
// migrator cannot leave it held. SQLite needs nothing: its transactions
// begin IMMEDIATE and already exclude other writers.
func lockMigrations(tx *gorm.DB, set string) error {
	return LockTx(tx, "passthru/migrate/", "/"+set)
}

// LockTx takes a PostgreSQL transaction-scoped advisory lock keyed by
// prefix + current schema + suffix, held until tx ends, so that
// transactions of several replicas that must not interleave (each tenant
// schema and each service namespace has its own key) run one after the
// other; a no-op on SQLite, whose IMMEDIATE transactions already exclude
// other writers.
func LockTx(tx *gorm.DB, prefix, suffix string) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(? || coalesce(current_schema(), '') || ?, 0))", prefix, suffix).Error
	if err != nil {
		return fmt.Errorf("advisory lock %s%s: %w", prefix, suffix, err)
	}
	return nil
}
