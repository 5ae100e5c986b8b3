package barrier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// ErrDemoSecretMissing: a demo's generated unseal secret file is gone while
// the database already holds a barrier sealed with it.
var ErrDemoSecretMissing = errors.New("barrier: demo unseal secret missing")

// Initialised reports whether g already holds a barrier (its one
// barrier_meta row). A fresh database has neither the table nor the row.
func Initialised(ctx context.Context, g *gorm.DB) (bool, error) {
	g = g.WithContext(ctx)
	ok, err := db.HasTable(ctx, g, metaRow{}.TableName())
	if err != nil {
		return false, fmt.Errorf("barrier: look for an existing barrier: %w", err)
	}
	if !ok {
		return false, nil
	}
	var n int64
	if err := g.Model(&metaRow{}).Count(&n).Error; err != nil {
		return false, fmt.Errorf("barrier: look for an existing barrier: %w", err)
	}
	return n > 0, nil
}

// EnsureDemoSecret makes sure path holds the unseal secret of a demo whose
// barrier lives in g. The secret is generated only while g holds no barrier:
// a fresh secret can never open an existing barrier, and writing one would
// make every later start fail too. A missing file for an initialised barrier
// is ErrDemoSecretMissing, naming the file.
func EnsureDemoSecret(ctx context.Context, g *gorm.DB, path string) error {
	_, err := os.Stat(path)
	if err == nil {
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("barrier: demo unseal secret: %w", err)
	}
	sealed, err := Initialised(ctx, g)
	if err != nil {
		return err
	}
	if sealed {
		return fmt.Errorf("%w: unseal secret file %s is missing but the database already holds a barrier sealed with it; restore the file, or use --reset-demo to wipe the demo database and start fresh", ErrDemoSecretMissing, path)
	}
	if err := GenerateSecretFile(path); err != nil {
		return fmt.Errorf("barrier: generate demo unseal secret: %w", err)
	}
	return nil
}

// Source says where a service's unseal secrets come from.
type Source struct {
	// SecretFiles are the configured secret files; when empty, the demo's
	// generated secret at DemoSecret is used (and created for a fresh
	// database, see EnsureDemoSecret).
	SecretFiles []string
	DemoSecret  string
	Threshold   int
	// ResetHint makes a sealed demo barrier's error suggest --reset-demo.
	ResetHint bool
	Now       func() time.Time
}

// OpenFrom reads the secrets src names and opens g's barrier with them. A
// barrier that stays sealed is an error wrapping ErrSealed that says so in
// the services' words.
func OpenFrom(ctx context.Context, g *gorm.DB, src Source) (*Barrier, error) {
	files := src.SecretFiles
	demo := len(files) == 0
	if demo {
		if err := EnsureDemoSecret(ctx, g, src.DemoSecret); err != nil {
			return nil, err
		}
		files = []string{src.DemoSecret}
	}
	secrets, err := ReadSecretFiles(files)
	if err != nil {
		return nil, fmt.Errorf("unseal secret: %w", err)
	}
	b, err := Open(ctx, g, Options{Secrets: secrets, Threshold: src.Threshold, Now: src.Now})
	switch {
	case errors.Is(err, ErrSealed) && demo && src.ResetHint:
		return nil, fmt.Errorf("the barrier stays sealed (wrong or missing unseal secret; demo data is disposable: --reset-demo wipes it and starts fresh): %w", err)
	case errors.Is(err, ErrSealed):
		return nil, fmt.Errorf("the barrier stays sealed (wrong or missing unseal secret): %w", err)
	case err != nil:
		return nil, fmt.Errorf("open barrier: %w", err)
	}
	return b, nil
}
