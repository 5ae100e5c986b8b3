package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// sqliteParams are the mattn/go-sqlite3 connection parameters every SQLite
// handle uses:
//   - _txlock=immediate: BEGIN IMMEDIATE takes the write lock at the start of
//     a transaction. With the default DEFERRED, two read-then-write
//     transactions deadlock on lock upgrade and SQLite answers SQLITE_BUSY at
//     once, without waiting for the busy timeout.
//   - _journal_mode=WAL: readers do not block the writer nor each other.
//   - _foreign_keys=on: SQLite ignores REFERENCES clauses otherwise.
//   - _busy_timeout=5000: wait up to 5s for the write lock instead of failing.
//   - _synchronous=NORMAL: safe with WAL (a crash may lose the last commits,
//     never corrupt the file) and much faster than FULL.
//   - _secure_delete=on: deleted content is overwritten with zeros, so
//     destroyed (wrapped) key material does not linger in free pages.
var sqliteParams = url.Values{
	"_txlock":        {"immediate"},
	"_journal_mode":  {"WAL"},
	"_foreign_keys":  {"on"},
	"_busy_timeout":  {"5000"},
	"_synchronous":   {"NORMAL"},
	"_secure_delete": {"on"},
}

// sqliteMaxOpenConns bounds each SQLite pool. SQLite has one writer at a
// time anyway; a few connections let WAL readers run beside it.
const sqliteMaxOpenConns = 4

// sqlitePreparedStatements bounds each handle's cache of prepared
// statements: a service runs a few dozen distinct statements, so this keeps
// every one of them without letting ad hoc SQL grow it without end.
const sqlitePreparedStatements = 256

type sqliteBackend struct {
	dir       string
	ephemeral bool
	logger    *slog.Logger
	onQuery   func()
}

// sqliteDSN builds the mattn DSN for a database file. The path is passed
// as-is (not as a file: URI), so mattn cuts the DSN at the first '?': a path
// containing '?' is refused rather than silently truncated.
func sqliteDSN(path string) (string, error) {
	if strings.ContainsRune(path, '?') {
		return "", fmt.Errorf("sqlite path %q must not contain '?'", path)
	}
	return path + "?" + sqliteParams.Encode(), nil
}

func openSQLite(ctx context.Context, dir, ns string, logger *slog.Logger, onQuery func()) (*gorm.DB, backend, error) {
	b := &sqliteBackend{dir: dir, logger: logger, onQuery: onQuery}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "passthru-db-*")
		if err != nil {
			return nil, nil, fmt.Errorf("create ephemeral directory: %w", err)
		}
		b.dir, b.ephemeral = tmp, true
	}
	g, err := b.open(ctx, b.dir, filepath.Join(b.dir, "system.db"))
	if err != nil {
		return nil, nil, errors.Join(err, b.close())
	}
	// Each service has its own directory; the record catches a service
	// pointed at another's directory before it migrates anything there.
	if err := claimSQLiteNamespace(g.WithContext(ctx), b.dir, ns); err != nil {
		return nil, nil, errors.Join(err, closeGorm(g), b.close())
	}
	return g, b, nil
}

// open opens one database file, creating it and its directory if needed.
func (b *sqliteBackend) open(ctx context.Context, dir, path string) (*gorm.DB, error) {
	// 0700: the databases hold wrapped keys and password hashes; nobody but
	// the service account has business reading them.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", dir, err)
	}
	dsn, err := sqliteDSN(path)
	if err != nil {
		return nil, err
	}
	// SQLite creates a missing database file with 0644 (less the umask),
	// and its -wal/-shm files copy the database file's mode. The directory
	// may predate us with a looser mode (a --data-dir made by hand), so the
	// file itself is created 0600 first; an existing file is left as is.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	cfg := gormConfig(b.logger, b.onQuery)
	// Statements are prepared once per connection and reused: SQLite's
	// prepare (parsing and planning the SQL) otherwise runs on every query
	// and costs as much as a small query itself. The cache is bounded.
	// (PostgreSQL needs no such switch: pgx caches prepared statements per
	// connection by default.)
	cfg.PrepareStmt = true
	cfg.PrepareStmtMaxSize = sqlitePreparedStatements
	// A cached statement outlives a schema change (a migration): SQLite
	// re-prepares it, but the driver keeps the column list of the first
	// preparation, so a cached "SELECT *" would silently miss a column
	// added since. Model queries therefore name their columns.
	cfg.QueryFields = true
	g, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(sqliteMaxOpenConns)
	sqlDB.SetMaxIdleConns(sqliteMaxOpenConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return g, nil
}

func (b *sqliteBackend) tenantDir() string { return filepath.Join(b.dir, "tenants") }

func (b *sqliteBackend) tenantPath(tenant uuid.UUID) string {
	return filepath.Join(b.tenantDir(), tenant.String()+".db")
}

func (b *sqliteBackend) createTenant(ctx context.Context, tenant uuid.UUID) error {
	// Opening the file creates it (and sets WAL mode, which is persistent);
	// the handle is closed again because Tenant opens its own cached one.
	g, err := b.open(ctx, b.tenantDir(), b.tenantPath(tenant))
	if err != nil {
		return err
	}
	return closeGorm(g)
}

func (b *sqliteBackend) tenantExists(_ context.Context, tenant uuid.UUID) (bool, error) {
	_, err := os.Stat(b.tenantPath(tenant))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

func (b *sqliteBackend) openTenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	return b.open(ctx, b.tenantDir(), b.tenantPath(tenant))
}

func (b *sqliteBackend) dropTenant(_ context.Context, tenant uuid.UUID) error {
	path := b.tenantPath(tenant)
	// The WAL and shared-memory files hold committed rows not yet
	// checkpointed into the main file: they go too.
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := removeIfExists(path + suffix); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *sqliteBackend) close() error {
	if !b.ephemeral {
		return nil
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return fmt.Errorf("remove ephemeral directory: %w", err)
	}
	return nil
}
