package barrier

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/passthru-dev/passthru/services/infra/ids"
)

// Wrapped data layout:
//
//	format (1 byte, formatV1) || KEK id (16 bytes) || nonce (12) || ciphertext || tag (16)
//
// The KEK id lets Unwrap find the right key after tenant KEKs are rotated.
const (
	formatV1      = 1
	headerSize    = 1 + 16
	nonceSize     = 12
	tagSize       = 16
	minWrapped    = headerSize + nonceSize + tagSize
	maxPurposeLen = 1024
	dataDomain    = "passthru/barrier/data/v1"
)

// kekAAD binds a wrapped KEK to its tenant, so a row moved to another tenant
// fails authentication.
func kekAAD(tenant uuid.UUID) []byte {
	return []byte("passthru/tenant-kek/v1/" + tenant.String())
}

// dataAAD binds wrapped data to its header, tenant and purpose. The purpose
// is length-prefixed and the tenant fixed-size, so no two (tenant, purpose)
// pairs share an encoding.
func dataAAD(header []byte, tenant uuid.UUID, purpose string) []byte {
	aad := make([]byte, 0, len(dataDomain)+len(header)+16+4+len(purpose))
	aad = append(aad, dataDomain...)
	aad = append(aad, header...)
	aad = append(aad, tenant[:]...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(purpose)))
	return append(aad, purpose...)
}

func validatePurpose(purpose string) error {
	if purpose == "" {
		return errors.New("purpose is empty")
	}
	if len(purpose) > maxPurposeLen {
		return fmt.Errorf("purpose is %d bytes, at most %d allowed", len(purpose), maxPurposeLen)
	}
	return nil
}

// Wrap encrypts plaintext for tenant and purpose with the tenant's KEK,
// creating the KEK on the tenant's first use. Each call draws a fresh random
// 96-bit nonce. tenant uuid.Nil is the service's own system scope.
func (b *Barrier) Wrap(ctx context.Context, tenant uuid.UUID, purpose string, plaintext []byte) ([]byte, error) {
	if err := validatePurpose(purpose); err != nil {
		return nil, fmt.Errorf("barrier: wrap for tenant %s: %w", tenant, err)
	}
	k, err := b.tenantKEK(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("barrier: wrap for tenant %s: %w", tenant, err)
	}
	header := make([]byte, headerSize, minWrapped+len(plaintext))
	header[0] = formatV1
	copy(header[1:], k.id[:])
	return k.aead.Seal(header, nil, plaintext, dataAAD(header, tenant, purpose)), nil
}

// Unwrap decrypts data produced by Wrap for the same tenant and purpose.
// Any mismatch (tenant, purpose, tampering, truncation, unknown format, or a
// KEK that was deleted) gives an error wrapping ErrUnwrap.
func (b *Barrier) Unwrap(ctx context.Context, tenant uuid.UUID, purpose string, wrapped []byte) ([]byte, error) {
	if err := validatePurpose(purpose); err != nil {
		return nil, unwrapf(err, "tenant %s", tenant)
	}
	if len(wrapped) < minWrapped {
		return nil, unwrapf(nil, "tenant %s: wrapped data is %d bytes, at least %d expected (truncated?)", tenant, len(wrapped), minWrapped)
	}
	if wrapped[0] != formatV1 {
		return nil, unwrapf(nil, "tenant %s: unknown wrapped-data format %d", tenant, wrapped[0])
	}
	id, err := uuid.FromBytes(wrapped[1:headerSize])
	if err != nil {
		return nil, unwrapf(err, "tenant %s: key id", tenant)
	}
	k, err := b.kekByID(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	plaintext, err := k.aead.Open(nil, nil, wrapped[headerSize:], dataAAD(wrapped[:headerSize], tenant, purpose))
	if err != nil {
		return nil, unwrapf(nil, "tenant %s: authentication failed (wrong tenant or purpose, or data tampered)", tenant)
	}
	if plaintext == nil {
		plaintext = []byte{} // what was wrapped, not "nothing"
	}
	return plaintext, nil
}

// DeleteTenant crypto-shreds the tenant: its KEKs are deleted from the
// database and evicted from this process's cache, so nothing wrapped for it
// can be unwrapped again. A later Wrap for the same tenant creates a new KEK.
// The system scope (uuid.Nil) cannot be deleted: it protects the service's
// own keys.
func (b *Barrier) DeleteTenant(ctx context.Context, tenant uuid.UUID) error {
	if tenant == uuid.Nil {
		return errors.New("barrier: delete tenant: the system scope (nil tenant) cannot be deleted")
	}
	// Hold createMu so a concurrent first Wrap in this process cannot cache a
	// KEK between the delete and the eviction.
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if err := b.g.WithContext(ctx).Where("tenant = ?", tenant.String()).Delete(&tenantKeyRow{}).Error; err != nil {
		return fmt.Errorf("barrier: delete tenant %s: %w", tenant, err)
	}
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	b.shredEpoch++ // see kekByID
	delete(b.current, tenant)
	for id, k := range b.keks {
		if k.tenant == tenant {
			delete(b.keks, id)
		}
	}
	return nil
}

// tenantKEK returns the KEK Wrap uses for tenant, loading or creating it.
func (b *Barrier) tenantKEK(ctx context.Context, tenant uuid.UUID) (*kek, error) {
	if k := b.cachedCurrent(tenant); k != nil {
		return k, nil
	}
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if k := b.cachedCurrent(tenant); k != nil {
		return k, nil
	}
	row, err := b.loadOrCreateRow(ctx, tenant)
	if err != nil {
		return nil, err
	}
	k, err := b.openKEKRow(ctx, row)
	if err != nil {
		return nil, err
	}
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	b.keks[k.id] = k
	b.current[tenant] = k.id
	return k, nil
}

func (b *Barrier) cachedCurrent(tenant uuid.UUID) *kek {
	b.cacheMu.RLock()
	defer b.cacheMu.RUnlock()
	if id, ok := b.current[tenant]; ok {
		return b.keks[id]
	}
	return nil
}

// loadOrCreateRow returns the tenant's newest KEK row, inserting a new one if
// there is none. The insert holds a share lock on the meta row (PostgreSQL;
// SQLite's IMMEDIATE transactions serialise anyway) so it cannot interleave
// with RotateRoot, which would leave a KEK wrapped by a deleted root. Many
// processes may race here: ON CONFLICT DO NOTHING plus the re-read makes all
// of them end up with the single row that won.
func (b *Barrier) loadOrCreateRow(ctx context.Context, tenant uuid.UUID) (tenantKeyRow, error) {
	var row tenantKeyRow
	found, err := newestKEKRow(b.g.WithContext(ctx), tenant, &row)
	if err != nil || found {
		return row, err
	}
	key, err := randomKey()
	if err != nil {
		return row, err
	}
	err = b.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var meta metaRow
		if err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthShare}).
			Where("id = ?", metaID).Limit(1).Find(&meta).Error; err != nil {
			return fmt.Errorf("lock meta: %w", err)
		}
		root, version := b.currentRoot()
		if meta.RootVersion != version {
			if err := b.reloadRoot(ctx, tx); err != nil {
				return err
			}
			root, version = b.currentRoot()
		}
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&tenantKeyRow{
			KeyID: ids.NewEntity().String(), Tenant: tenant.String(), Generation: 1, RootVersion: version,
			Wrapped: root.Seal(nil, nil, key, kekAAD(tenant)), CreatedAt: b.now().UTC(),
		})
		if ins.Error != nil {
			return fmt.Errorf("insert tenant key: %w", ins.Error)
		}
		found, err := newestKEKRow(tx, tenant, &row)
		if err != nil {
			return err
		}
		if !found {
			return errors.New("tenant key missing after insert")
		}
		return nil
	})
	if err != nil {
		return row, fmt.Errorf("create tenant key: %w", err)
	}
	return row, nil
}

func newestKEKRow(g *gorm.DB, tenant uuid.UUID, row *tenantKeyRow) (bool, error) {
	res := g.Where("tenant = ?", tenant.String()).Order("generation DESC").Limit(1).Find(row)
	if res.Error != nil {
		return false, fmt.Errorf("read tenant key: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// kekByID returns the KEK with id for Unwrap, checking it belongs to tenant.
//
// Unlike Wrap's path it does not hold createMu while it reads the database,
// so a DeleteTenant can run between the read and the caching. Caching a KEK
// whose row was just deleted would let this process unwrap a shredded
// tenant's data until restart; shredEpoch detects that any deletion happened
// meanwhile, and the row is then read again (gone: ErrUnwrap).
func (b *Barrier) kekByID(ctx context.Context, tenant, id uuid.UUID) (*kek, error) {
	const attempts = 3
	for range attempts {
		b.cacheMu.RLock()
		k, ok := b.keks[id]
		epoch := b.shredEpoch
		b.cacheMu.RUnlock()
		if ok {
			if k.tenant != tenant {
				return nil, unwrapf(nil, "tenant %s: data was not wrapped for this tenant", tenant)
			}
			return k, nil
		}
		var row tenantKeyRow
		res := b.g.WithContext(ctx).Where("key_id = ? AND tenant = ?", id.String(), tenant.String()).Limit(1).Find(&row)
		if res.Error != nil {
			return nil, fmt.Errorf("barrier: unwrap for tenant %s: read tenant key: %w", tenant, res.Error)
		}
		if res.RowsAffected != 1 {
			return nil, unwrapf(nil, "tenant %s: no key %s for this tenant (wrong tenant, or tenant deleted)", tenant, id)
		}
		k, err := b.openKEKRow(ctx, row)
		if err != nil {
			return nil, err
		}
		b.cacheMu.Lock()
		if cached, ok := b.keks[id]; ok {
			b.cacheMu.Unlock()
			return cached, nil
		}
		if b.shredEpoch == epoch {
			b.keks[id] = k
			b.cacheMu.Unlock()
			return k, nil
		}
		b.cacheMu.Unlock()
	}
	return nil, fmt.Errorf("barrier: unwrap for tenant %s: tenants deleted concurrently %d times in a row; retry", tenant, attempts)
}

// openKEKRow unwraps a stored tenant KEK with the root key, re-reading the
// root first when another process has rotated it.
func (b *Barrier) openKEKRow(ctx context.Context, row tenantKeyRow) (*kek, error) {
	root, version := b.currentRoot()
	if row.RootVersion != version {
		if err := b.reloadRoot(ctx, b.g); err != nil {
			return nil, err
		}
		root, version = b.currentRoot()
		if row.RootVersion != version {
			return nil, fmt.Errorf("barrier: tenant key %s is wrapped by root version %d, current is %d (rotation in progress; retry)", row.KeyID, row.RootVersion, version)
		}
	}
	tenant, err := uuid.Parse(row.Tenant)
	if err != nil {
		return nil, fmt.Errorf("barrier: tenant key %s: tenant: %w", row.KeyID, err)
	}
	id, err := uuid.Parse(row.KeyID)
	if err != nil {
		return nil, fmt.Errorf("barrier: tenant key id: %w", err)
	}
	key, err := root.Open(nil, nil, row.Wrapped, kekAAD(tenant))
	if err != nil {
		return nil, fmt.Errorf("barrier: tenant key %s of tenant %s failed authentication (database damaged or tampered)", row.KeyID, tenant)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &kek{id: id, tenant: tenant, key: key, aead: aead}, nil
}
