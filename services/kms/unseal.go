package kms

import (
	"context"
	"path/filepath"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
)

// DemoSecretFile is the unseal secret a demo without unseal.secret_files
// keeps in its data dir.
const DemoSecretFile = "unseal.key"

// openBarrier opens the database and unseals its barrier (barrier.OpenDatabase):
// a demo without configured secrets uses <data-dir>/unseal.key, generated only
// for a fresh database, and --reset-demo may wipe the demo's own SQLite
// database when it cannot be unsealed.
func openBarrier(ctx context.Context, cfg *Config, opts Options, dataDir string, dbOpts db.Options) (*db.DB, *barrier.Barrier, error) {
	return barrier.OpenDatabase(ctx, barrier.Startup{
		DB: dbOpts,
		Source: barrier.Source{
			SecretFiles: cfg.Unseal.SecretFiles, // empty only in demo mode (checkStart)
			DemoSecret:  filepath.Join(dataDir, DemoSecretFile),
			Threshold:   cfg.Unseal.Threshold,
		},
		ResetDemo: opts.ResetDemo,
		Wipeable:  opts.DB == nil && dbOpts.Driver == db.DriverSQLite && dbOpts.Dir == filepath.Join(dataDir, "db"),
		Logger:    opts.Logger,
	})
}
