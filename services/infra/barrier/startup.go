package barrier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// Startup is what a service needs to open its database and unseal the
// barrier in it.
type Startup struct {
	DB db.Options
	// Source names the unseal secrets; its ResetHint is derived here.
	Source Source
	// ResetDemo (--reset-demo) lets a demo whose database cannot be unsealed
	// (its generated secret missing or wrong) start afresh: demo data is
	// disposable.
	ResetDemo bool
	// Wipeable says DB is the demo's own SQLite directory, which ResetDemo
	// may delete together with the demo secret. Any other database
	// (PostgreSQL, one a caller passed in) may hold more than the demo and is
	// never dropped.
	Wipeable bool
	Logger   *slog.Logger
}

// OpenDatabase opens s.DB and unseals its barrier with OpenFrom. With
// ResetDemo, a demo database that stays sealed is wiped once and opened
// afresh.
func OpenDatabase(ctx context.Context, s Startup) (*db.DB, *Barrier, error) {
	demo := len(s.Source.SecretFiles) == 0
	s.Source.ResetHint = demo && !s.ResetDemo
	for wiped := false; ; wiped = true {
		database, err := db.Open(ctx, s.DB)
		if err != nil {
			return nil, nil, fmt.Errorf("open database: %w", err)
		}
		b, err := OpenFrom(ctx, database.Gorm(), s.Source)
		if err == nil {
			return database, b, nil
		}
		database.Close()
		recoverable := errors.Is(err, ErrDemoSecretMissing) || errors.Is(err, ErrSealed)
		if !demo || !s.ResetDemo || wiped || !recoverable {
			return nil, nil, err
		}
		if werr := s.wipe(); werr != nil {
			return nil, nil, fmt.Errorf("%w; --reset-demo cannot recover: %w", err, werr)
		}
		if s.Logger != nil {
			s.Logger.WarnContext(ctx, "reset-demo: wiped the demo database that could not be unsealed", "dir", s.DB.Dir)
		}
	}
}

// wipe deletes the demo's SQLite directory and its unseal secret, so the
// next open starts fresh.
func (s Startup) wipe() error {
	if !s.Wipeable || s.DB.Driver != db.DriverSQLite || s.DB.Dir == "" {
		return errors.New("the database is not the demo's SQLite database in the data dir; restore the unseal secret, or drop the database yourself")
	}
	if err := os.RemoveAll(s.DB.Dir); err != nil {
		return fmt.Errorf("wipe %s: %w", s.DB.Dir, err)
	}
	if err := os.Remove(s.Source.DemoSecret); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the old demo unseal secret: %w", err)
	}
	return nil
}
