package db

import (
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// ErrForeignDatabase is wrapped by Open when the database belongs to another
// service's namespace (or predates namespaces and cannot be told apart).
var ErrForeignDatabase = errors.New("database belongs to another service")

// MaxNamespaceLen bounds a namespace: a tenant schema <ns>_t_<32 hex> must
// stay within PostgreSQL's 63-byte identifiers, with room to spare.
const MaxNamespaceLen = 16

// ValidateNamespace checks a service namespace: 2 to MaxNamespaceLen
// lowercase ASCII letters, and not "public" (PostgreSQL's default schema,
// where nothing of a service must land by accident). Letters only, so a
// namespace never looks like a tenant schema (those contain '_') nor like
// PostgreSQL's own pg_* schemas, and needs no quoting.
func ValidateNamespace(ns string) error {
	switch {
	case ns == "":
		return fmt.Errorf("%w: a namespace (the owning service's name, e.g. \"kms\") is required", ErrInvalid)
	case len(ns) < 2 || len(ns) > MaxNamespaceLen:
		return fmt.Errorf("%w: namespace %q must be 2 to %d letters", ErrInvalid, ns, MaxNamespaceLen)
	case strings.TrimLeft(ns, "abcdefghijklmnopqrstuvwxyz") != "":
		return fmt.Errorf("%w: namespace %q must be lowercase letters a-z only", ErrInvalid, ns)
	case ns == "public":
		return fmt.Errorf("%w: namespace %q is PostgreSQL's default schema", ErrInvalid, ns)
	}
	return nil
}

// namespaceTable records, in a SQLite system database, which service's
// namespace created it. One row, pinned by the CHECK.
const namespaceTable = "passthru_namespace"

const createNamespaceTable = `CREATE TABLE IF NOT EXISTS ` + namespaceTable + ` (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	namespace VARCHAR(64) NOT NULL
)`

// claimSQLiteNamespace makes sure the SQLite system database g belongs to
// ns: a fresh database is claimed for it; one recorded for another
// namespace is refused. A database made before namespaces were recorded is
// adopted when its schema_migrations holds a migration set named
// "<ns>-..." (each service names its sets so); otherwise it is refused,
// since it is then another service's database or no Passthru database.
func claimSQLiteNamespace(g *gorm.DB, dir, ns string) error {
	return g.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(createNamespaceTable).Error; err != nil {
			return fmt.Errorf("create %s: %w", namespaceTable, err)
		}
		var recorded []string
		if err := tx.Raw("SELECT namespace FROM " + namespaceTable + " WHERE id = 1").Scan(&recorded).Error; err != nil {
			return fmt.Errorf("read %s: %w", namespaceTable, err)
		}
		if len(recorded) == 1 {
			if recorded[0] != ns {
				return fmt.Errorf("%w: %s holds service %q's database, not %q's: give each service its own data directory", ErrForeignDatabase, dir, recorded[0], ns)
			}
			return nil
		}
		if err := adoptLegacySQLite(tx, dir, ns); err != nil {
			return err
		}
		if err := tx.Exec("INSERT INTO "+namespaceTable+" (id, namespace) VALUES (1, ?)", ns).Error; err != nil {
			return fmt.Errorf("record namespace: %w", err)
		}
		return nil
	})
}

// adoptLegacySQLite decides whether a SQLite system database without a
// namespace record may be claimed for ns: an empty one may, and so may one
// whose migration record names a set of ns.
func adoptLegacySQLite(tx *gorm.DB, dir, ns string) error {
	var tables []string
	if err := tx.Raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ?", namespaceTable).Scan(&tables).Error; err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	if len(tables) == 0 {
		return nil
	}
	var sets []string
	hasMigrations, err := HasTable(tx.Statement.Context, tx, "schema_migrations")
	if err != nil {
		return err
	}
	if hasMigrations {
		if err := tx.Raw(`SELECT DISTINCT "set" FROM schema_migrations ORDER BY 1`).Scan(&sets).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
	}
	for _, s := range sets {
		if strings.HasPrefix(s, ns+"-") {
			return nil
		}
	}
	return fmt.Errorf("%w: %s holds a database made before databases recorded their service, with no migrations of service %q (it has %q): is it another service's data directory?", ErrForeignDatabase, dir, ns, sets)
}
