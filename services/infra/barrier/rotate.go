package barrier

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// rotateBatch bounds how many tenant KEK rows RotateRoot holds in memory.
const rotateBatch = 500

// RotateRoot replaces the root key with a new random one. In one transaction
// it rewraps every tenant KEK and replaces the stored root key copies (one
// per M-subset), so the old root key is no longer stored. Tenant KEKs do not
// change, so data wrapped before the rotation still unwraps.
//
// Every M-subset must be rewrapped, so rotation needs all N unseal secrets:
// a barrier opened with only M of them refuses (the error says so).
func (b *Barrier) RotateRoot(ctx context.Context) error {
	if len(b.secrets) != b.n {
		return fmt.Errorf("barrier: rotate root: all %d unseal secrets are needed to rewrap every subset, this barrier was opened with %d", b.n, len(b.secrets))
	}
	newRoot, err := randomKey()
	if err != nil {
		return err
	}
	newAEADRoot, err := newAEAD(newRoot)
	if err != nil {
		return err
	}
	// Hold createMu so this process creates no KEK under the old root while
	// the rows are rewrapped; other processes are held off by the meta lock.
	b.createMu.Lock()
	defer b.createMu.Unlock()
	var newVersion int
	err = b.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var meta metaRow
		if err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("id = ?", metaID).Limit(1).Find(&meta).Error; err != nil {
			return fmt.Errorf("lock meta: %w", err)
		}
		oldRoot, oldVersion := b.currentRoot()
		if meta.RootVersion != oldVersion {
			if err := b.reloadRoot(ctx, tx); err != nil {
				return err
			}
			oldRoot, oldVersion = b.currentRoot()
		}
		newVersion = oldVersion + 1
		last := ""
		for {
			var rows []tenantKeyRow
			if err := tx.Where("key_id > ?", last).Order("key_id").Limit(rotateBatch).Find(&rows).Error; err != nil {
				return fmt.Errorf("read tenant keys: %w", err)
			}
			for _, row := range rows {
				tenant, err := uuid.Parse(row.Tenant)
				if err != nil {
					return fmt.Errorf("tenant key %s: tenant: %w", row.KeyID, err)
				}
				if row.RootVersion != oldVersion {
					return fmt.Errorf("tenant key %s is wrapped by root version %d, current is %d", row.KeyID, row.RootVersion, oldVersion)
				}
				key, err := oldRoot.Open(nil, nil, row.Wrapped, kekAAD(tenant))
				if err != nil {
					return fmt.Errorf("tenant key %s of tenant %s failed authentication (database damaged or tampered)", row.KeyID, tenant)
				}
				upd := tx.Model(&tenantKeyRow{}).Where("key_id = ? AND root_version = ?", row.KeyID, oldVersion).
					Updates(map[string]any{"wrapped": newAEADRoot.Seal(nil, nil, key, kekAAD(tenant)), "root_version": newVersion})
				if upd.Error != nil {
					return fmt.Errorf("rewrap tenant key %s: %w", row.KeyID, upd.Error)
				}
				clear(key)
			}
			if len(rows) < rotateBatch {
				break
			}
			last = rows[len(rows)-1].KeyID
		}
		now := b.now().UTC()
		roots, err := wrapRootForSubsets(b.secrets, b.m, b.salt, newRoot, newVersion, now)
		if err != nil {
			return err
		}
		if err := tx.Where("1 = 1").Delete(&rootKeyRow{}).Error; err != nil {
			return fmt.Errorf("delete old root keys: %w", err)
		}
		if err := tx.Create(&roots).Error; err != nil {
			return fmt.Errorf("insert root keys: %w", err)
		}
		upd := tx.Model(&metaRow{}).Where("id = ?", metaID).
			Updates(map[string]any{"root_version": newVersion, "rotated_at": now})
		if upd.Error != nil {
			return fmt.Errorf("update meta: %w", upd.Error)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("barrier: rotate root: %w", err)
	}
	b.storeRoot(newRoot, newAEADRoot, newVersion)
	return nil
}
