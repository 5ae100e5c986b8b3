package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
)

// DemoSecretFile is the unseal secret a demo without unseal.secret_files
// keeps in its data dir.
const DemoSecretFile = "unseal.key"

// openBarrier opens the database and the store and unseals the barrier. A
// demo without configured secrets uses <data-dir>/unseal.key, generated only
// while the database holds no barrier: a fresh secret can never open an
// existing barrier, and writing one would make every later start fail too.
// With --reset-demo a demo database in the data dir that cannot be unsealed
// (secret missing or wrong) is wiped and started afresh: demo data is
// disposable.
func openBarrier(ctx context.Context, cfg Config, opts Options, dataDir string, dbOpts db.Options, now func() time.Time, logger *slog.Logger) (*db.DB, *store.Store, *barrier.Barrier, error) {
	demoSecret := len(cfg.Unseal.SecretFiles) == 0 // checkStart: only in demo mode
	for wiped := false; ; wiped = true {
		database, err := db.Open(ctx, dbOpts)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("open database: %w", err)
		}
		st, b, err := unseal(ctx, database, cfg, opts, dataDir, demoSecret, now)
		if err == nil {
			return database, st, b, nil
		}
		database.Close()
		recoverable := errors.Is(err, barrier.ErrDemoSecretMissing) || errors.Is(err, barrier.ErrSealed)
		if !demoSecret || !opts.ResetDemo || wiped || !recoverable {
			return nil, nil, nil, err
		}
		if werr := wipeDemoDatabase(opts, dataDir, dbOpts); werr != nil {
			return nil, nil, nil, fmt.Errorf("%w; --reset-demo cannot recover: %w", err, werr)
		}
		logger.Warn("reset-demo: wiped the demo database that could not be unsealed", "dir", dbOpts.Dir)
	}
}

func unseal(ctx context.Context, database *db.DB, cfg Config, opts Options, dataDir string, demoSecret bool, now func() time.Time) (*store.Store, *barrier.Barrier, error) {
	st, err := store.New(ctx, database)
	if err != nil {
		return nil, nil, err
	}
	b, err := barrier.OpenFrom(ctx, database.Gorm(), barrier.Source{
		SecretFiles: cfg.Unseal.SecretFiles,
		DemoSecret:  filepath.Join(dataDir, DemoSecretFile),
		Threshold:   cfg.Unseal.Threshold,
		ResetHint:   demoSecret && !opts.ResetDemo,
		Now:         now,
	})
	if err != nil {
		return nil, nil, err
	}
	return st, b, nil
}

// wipeDemoDatabase deletes the demo's SQLite database and unseal secret in
// the data dir, so the next open starts fresh. A database elsewhere
// (PostgreSQL, or one the caller passed in) may hold more than the demo and
// is never dropped here.
func wipeDemoDatabase(opts Options, dataDir string, dbOpts db.Options) error {
	own := filepath.Join(dataDir, "db")
	if opts.DB != nil || dbOpts.Driver != db.DriverSQLite || dbOpts.Dir != own {
		return errors.New("the database is not the demo's SQLite database in the data dir; restore the unseal secret, or drop the database yourself")
	}
	if err := os.RemoveAll(own); err != nil {
		return fmt.Errorf("wipe %s: %w", own, err)
	}
	if err := os.Remove(filepath.Join(dataDir, DemoSecretFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the old demo unseal secret: %w", err)
	}
	return nil
}
