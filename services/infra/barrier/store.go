package barrier

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// metaID is the primary key of the single barrier_meta row.
const metaID = 1

// metaRow describes the barrier: the HKDF salt, the unseal configuration and
// the current root key version. Its tags, like those of the rows below,
// spell out the column types of the SQL migrations (INTEGER, VARCHAR(n)),
// which gorm's defaults for int and sized strings (bigint, text) are not.
type metaRow struct {
	ID          int       `gorm:"column:id;type:integer;not null;primaryKey;autoIncrement:false"`
	Salt        []byte    `gorm:"column:salt;not null"`
	Secrets     int       `gorm:"column:secrets;type:integer;not null"`
	Threshold   int       `gorm:"column:threshold;type:integer;not null"`
	RootVersion int       `gorm:"column:root_version;type:integer;not null"`
	CreatedAt   time.Time `gorm:"column:created_at;not null"`
	RotatedAt   time.Time `gorm:"column:rotated_at;not null"`
}

func (metaRow) TableName() string { return "barrier_meta" }

// secretRow records the fingerprint of one configured unseal secret, so Open
// can tell how many of the given secrets belong to this database.
type secretRow struct {
	Fingerprint string `gorm:"column:fingerprint;type:varchar(64);not null;primaryKey"`
}

func (secretRow) TableName() string { return "barrier_secrets" }

// rootKeyRow is the root key wrapped by the unseal key of one M-subset.
type rootKeyRow struct {
	Subset      string    `gorm:"column:subset;type:varchar(64);not null;primaryKey"`
	RootVersion int       `gorm:"column:root_version;type:integer;not null"`
	Wrapped     []byte    `gorm:"column:wrapped;not null"`
	CreatedAt   time.Time `gorm:"column:created_at;not null"`
}

func (rootKeyRow) TableName() string { return "barrier_root_keys" }

// tenantKeyRow is a tenant KEK wrapped by the root key. Generation exists so
// tenant KEKs can be rotated later without a schema change; today every
// tenant has generation 1. The unique index makes concurrent creation yield
// exactly one KEK.
type tenantKeyRow struct {
	KeyID       string    `gorm:"column:key_id;type:varchar(36);not null;primaryKey"`
	Tenant      string    `gorm:"column:tenant;type:varchar(36);not null;uniqueIndex:barrier_tenant_keys_tenant_generation"`
	Generation  int       `gorm:"column:generation;type:integer;not null;uniqueIndex:barrier_tenant_keys_tenant_generation"`
	RootVersion int       `gorm:"column:root_version;type:integer;not null"`
	Wrapped     []byte    `gorm:"column:wrapped;not null"`
	CreatedAt   time.Time `gorm:"column:created_at;not null"`
}

func (tenantKeyRow) TableName() string { return "barrier_tenant_keys" }

// migrationSet names the barrier's migrations in schema_migrations.
const migrationSet = "barrier"

// migrationFiles hold the barrier's versioned schema, one directory per
// dialect (see db.SQLMigrations).
//
//go:embed migrations
var migrationFiles embed.FS

var migrations = db.MustSQLMigrations(migrationFiles, "migrations")

func migrate(ctx context.Context, g *gorm.DB) error {
	if err := db.Migrate(ctx, g, migrationSet, migrations); err != nil {
		return fmt.Errorf("migrate barrier tables: %w", err)
	}
	return nil
}

// rootAAD binds a wrapped root key to its subset and version, so rows cannot
// be swapped between subsets or replayed from an older version.
func rootAAD(subset string, version int) []byte {
	return []byte("passthru/barrier/root/v1/" + subset + "/" + strconv.Itoa(version))
}

// errRaced reports that another process initialised the barrier first.
var errRaced = errors.New("barrier initialised concurrently")

// initialise creates the barrier if the database has none. It reports
// false when the barrier already exists (the caller then unseals it).
func (b *Barrier) initialise(ctx context.Context, opts Options) (bool, error) {
	g := b.g.WithContext(ctx)
	var meta metaRow
	res := g.Where("id = ?", metaID).Limit(1).Find(&meta)
	if res.Error != nil {
		return false, fmt.Errorf("barrier: open: read meta: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return false, nil
	}
	salt, err := randomKey()
	if err != nil {
		return false, err
	}
	secrets, err := fingerprintSecrets(opts.Secrets, salt)
	if err != nil {
		return false, err
	}
	root, err := randomKey()
	if err != nil {
		return false, err
	}
	now := b.now().UTC()
	var ownSubset string
	var ownKey []byte
	err = g.Transaction(func(tx *gorm.DB) error {
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&metaRow{
			ID: metaID, Salt: salt, Secrets: len(secrets), Threshold: opts.Threshold,
			RootVersion: 1, CreatedAt: now, RotatedAt: now,
		})
		if ins.Error != nil {
			return fmt.Errorf("insert meta: %w", ins.Error)
		}
		if ins.RowsAffected == 0 {
			return errRaced
		}
		// Keys that predate this meta row mean a damaged database; starting
		// over would orphan them silently.
		for _, model := range []any{&rootKeyRow{}, &tenantKeyRow{}, &secretRow{}} {
			var n int64
			if err := tx.Model(model).Count(&n).Error; err != nil {
				return fmt.Errorf("check for leftover keys: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("barrier tables hold keys but had no barrier_meta row: refusing to initialise over them")
			}
		}
		for _, s := range secrets {
			if err := tx.Create(&secretRow{Fingerprint: s.fingerprint}).Error; err != nil {
				return fmt.Errorf("insert secret fingerprint: %w", err)
			}
		}
		rows, err := wrapRootForSubsets(secrets, opts.Threshold, salt, root, 1, now)
		if err != nil {
			return err
		}
		if err := tx.Create(&rows).Error; err != nil {
			return fmt.Errorf("insert root keys: %w", err)
		}
		ownSubset = subsetID(secrets[:opts.Threshold])
		ownKey, err = unsealKey(secrets[:opts.Threshold], salt)
		return err
	})
	if errors.Is(err, errRaced) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("barrier: initialise: %w", err)
	}
	b.salt, b.n, b.m, b.secrets = salt, len(secrets), opts.Threshold, secrets
	b.subset, b.unsealKey = ownSubset, ownKey
	return true, b.setRoot(root, 1)
}

// wrapRootForSubsets wraps root once for every m-subset of secrets.
func wrapRootForSubsets(secrets []secret, m int, salt, root []byte, version int, now time.Time) ([]rootKeyRow, error) {
	var rows []rootKeyRow
	for _, subset := range combinations(secrets, m) {
		k, err := unsealKey(subset, salt)
		if err != nil {
			return nil, err
		}
		aead, err := newAEAD(k)
		if err != nil {
			return nil, err
		}
		id := subsetID(subset)
		rows = append(rows, rootKeyRow{
			Subset: id, RootVersion: version, CreatedAt: now,
			Wrapped: aead.Seal(nil, nil, root, rootAAD(id, version)),
		})
	}
	return rows, nil
}

// unseal matches the given secrets against the database and unwraps the
// root key with the first matching subset.
func (b *Barrier) unseal(ctx context.Context, opts Options) error {
	g := b.g.WithContext(ctx)
	var meta metaRow
	res := g.Where("id = ?", metaID).Limit(1).Find(&meta)
	if res.Error != nil {
		return fmt.Errorf("barrier: open: read meta: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("barrier: open: barrier_meta row vanished")
	}
	if opts.Threshold != meta.Threshold {
		return sealedf(nil, "threshold %d configured, but this database was initialised to need %d of %d unseal secrets", opts.Threshold, meta.Threshold, meta.Secrets)
	}
	if len(opts.Secrets) > meta.Secrets {
		return sealedf(nil, "%d unseal secrets configured, but this database was initialised with %d; changing the secret set is not supported", len(opts.Secrets), meta.Secrets)
	}
	given, err := fingerprintSecrets(opts.Secrets, meta.Salt)
	if err != nil {
		return err
	}
	var stored []secretRow
	if err := g.Find(&stored).Error; err != nil {
		return fmt.Errorf("barrier: open: read secret fingerprints: %w", err)
	}
	known := make(map[string]bool, len(stored))
	for _, s := range stored {
		known[s.Fingerprint] = true
	}
	var matched []secret
	var unknown []int
	for i, s := range given {
		if known[s.fingerprint] {
			matched = append(matched, s)
		} else {
			unknown = append(unknown, i+1)
		}
	}
	if len(matched) < meta.Threshold {
		return sealedf(nil, "the unseal secrets do not match this database (%d of %d required, %d matched)", meta.Threshold, meta.Secrets, len(matched))
	}
	if len(unknown) > 0 {
		// Enough secrets match, but a configured secret that does not belong
		// here is a misconfiguration (a replaced or wrong file) to fix now,
		// not to discover when another file is lost.
		return sealedf(nil, "unseal secret(s) %v do not belong to this database (%d of %d required, %d matched); remove or restore them", unknown, meta.Threshold, meta.Secrets, len(matched))
	}
	subset := matched[:meta.Threshold]
	key, err := unsealKey(subset, meta.Salt)
	if err != nil {
		return err
	}
	b.salt, b.n, b.m, b.secrets = meta.Salt, meta.Secrets, meta.Threshold, matched
	b.subset, b.unsealKey = subsetID(subset), key
	return b.reloadRoot(ctx, b.g)
}

// reloadRoot reads the current root key through this process's subset. It is
// also how a process picks up a rotation done by another process.
func (b *Barrier) reloadRoot(ctx context.Context, tx *gorm.DB) error {
	tx = tx.WithContext(ctx)
	var meta metaRow
	if err := tx.Where("id = ?", metaID).Limit(1).Find(&meta).Error; err != nil {
		return fmt.Errorf("barrier: read meta: %w", err)
	}
	var row rootKeyRow
	res := tx.Where("subset = ?", b.subset).Limit(1).Find(&row)
	if res.Error != nil {
		return fmt.Errorf("barrier: read root key: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return sealedf(nil, "no stored root key for the matched unseal secrets (database damaged?)")
	}
	if row.RootVersion != meta.RootVersion {
		return sealedf(nil, "stored root key has version %d, expected %d (database damaged?)", row.RootVersion, meta.RootVersion)
	}
	aead, err := newAEAD(b.unsealKey)
	if err != nil {
		return err
	}
	root, err := aead.Open(nil, nil, row.Wrapped, rootAAD(row.Subset, row.RootVersion))
	if err != nil {
		return sealedf(nil, "stored root key failed authentication (database damaged or tampered)")
	}
	return b.setRoot(root, row.RootVersion)
}
