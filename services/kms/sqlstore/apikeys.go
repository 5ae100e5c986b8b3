package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/passthru-dev/passthru/services/kms"
)

var (
	_ kms.APIKeyStore = (*Store)(nil)
	_ kms.SecretStore = (*Store)(nil)
)

// apiKeyRow is an API key in the system database: a presented key names
// no tenant, so the key is found by its id alone and carries its tenant.
type apiKeyRow struct {
	ID        string `gorm:"primaryKey;size:36"`
	TenantID  string `gorm:"size:36;not null;index"`
	Name      string `gorm:"size:255;not null"`
	Scopes    string `gorm:"not null"` // JSON array
	Hash      []byte `gorm:"not null"`
	CreatedBy string `gorm:"size:255;not null;default:''"`
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

func (apiKeyRow) TableName() string { return "kms_api_keys" }

// secretRow is one of the service's shared secrets, wrapped by the barrier.
type secretRow struct {
	Name      string `gorm:"primaryKey;size:255"`
	Wrapped   []byte `gorm:"not null"`
	CreatedAt time.Time
}

func (secretRow) TableName() string { return "kms_secrets" }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func apiKeyRowOf(k *kms.APIKey) (*apiKeyRow, error) {
	scopes, err := json.Marshal(k.Scopes)
	if err != nil {
		return nil, fmt.Errorf("encode scopes: %w", err)
	}
	return &apiKeyRow{
		ID: k.ID.String(), TenantID: k.TenantID.String(), Name: k.Name, Scopes: string(scopes), Hash: k.Hash,
		CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utcPtr(k.ExpiresAt), RevokedAt: utcPtr(k.RevokedAt),
	}, nil
}

func (r *apiKeyRow) domain() (*kms.APIKey, error) {
	id, err := uuid.Parse(r.ID)
	if err != nil {
		return nil, fmt.Errorf("stored api key id %q: %w", r.ID, err)
	}
	tenant, err := uuid.Parse(r.TenantID)
	if err != nil {
		return nil, fmt.Errorf("stored tenant id of api key %s: %w", r.ID, err)
	}
	var scopes []string
	if err := json.Unmarshal([]byte(r.Scopes), &scopes); err != nil {
		return nil, fmt.Errorf("stored scopes of api key %s: %w", r.ID, err)
	}
	return &kms.APIKey{
		ID: id, TenantID: tenant, Name: r.Name, Scopes: scopes, Hash: r.Hash, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: utcPtr(r.ExpiresAt), RevokedAt: utcPtr(r.RevokedAt),
	}, nil
}

// CreateAPIKey implements kms.APIKeyStore.
func (s *Store) CreateAPIKey(ctx context.Context, k *kms.APIKey) error {
	row, err := apiKeyRowOf(k)
	if err != nil {
		return err
	}
	err = s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&tenantRow{}).Where("id = ?", row.TenantID).Count(&n).Error; err != nil {
			return fmt.Errorf("check tenant: %w", err)
		}
		if n == 0 {
			return kms.New(kms.NotFound, "tenant not registered")
		}
		return tx.Create(row).Error
	})
	if err != nil {
		if kms.CodeOf(err) != kms.Internal {
			return err
		}
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

func (s *Store) apiKeyRow(ctx context.Context, tx *gorm.DB, tenant, id uuid.UUID) (*apiKeyRow, error) {
	q := tx.WithContext(ctx).Where("id = ?", id.String())
	if tenant != uuid.Nil {
		q = q.Where("tenant_id = ?", tenant.String())
	}
	var row apiKeyRow
	err := q.Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "api key %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get api key %s: %w", id, err)
	}
	return &row, nil
}

// APIKey implements kms.APIKeyStore.
func (s *Store) APIKey(ctx context.Context, tenant, id uuid.UUID) (*kms.APIKey, error) {
	if tenant == uuid.Nil {
		// uuid.Nil means "any tenant" to apiKeyRow; no caller's tenant is Nil.
		return nil, kms.New(kms.NotFound, "api key %s not found", id)
	}
	row, err := s.apiKeyRow(ctx, s.db.Gorm(), tenant, id)
	if err != nil {
		return nil, err
	}
	return row.domain()
}

// LookupAPIKey implements kms.APIKeyStore.
func (s *Store) LookupAPIKey(ctx context.Context, id uuid.UUID) (*kms.APIKey, error) {
	row, err := s.apiKeyRow(ctx, s.db.Gorm(), uuid.Nil, id)
	if err != nil {
		return nil, err
	}
	return row.domain()
}

// APIKeys implements kms.APIKeyStore.
func (s *Store) APIKeys(ctx context.Context, tenant uuid.UUID, page kms.Page) ([]*kms.APIKey, uuid.UUID, error) {
	q := s.db.Gorm().WithContext(ctx).Where("tenant_id = ?", tenant.String())
	if page.After != uuid.Nil {
		q = q.Where("id > ?", page.After.String())
	}
	var rows []apiKeyRow
	if err := q.Order("id").Limit(page.Size + 1).Find(&rows).Error; err != nil {
		return nil, uuid.Nil, fmt.Errorf("list api keys: %w", err)
	}
	rows, next := cut(rows, page.Size, func(r *apiKeyRow) string { return r.ID })
	out := make([]*kms.APIKey, 0, len(rows))
	for i := range rows {
		k, err := rows[i].domain()
		if err != nil {
			return nil, uuid.Nil, err
		}
		out = append(out, k)
	}
	return out, next, nil
}

// RevokeAPIKey implements kms.APIKeyStore.
func (s *Store) RevokeAPIKey(ctx context.Context, tenant, id uuid.UUID, at time.Time) (*kms.APIKey, error) {
	if tenant == uuid.Nil {
		return nil, kms.New(kms.NotFound, "api key %s not found", id)
	}
	var out *apiKeyRow
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Only an unrevoked key changes, so the first revocation time stays.
		err := tx.Model(&apiKeyRow{}).Where("id = ? AND tenant_id = ? AND revoked_at IS NULL", id.String(), tenant.String()).
			Update("revoked_at", at.UTC()).Error
		if err != nil {
			return fmt.Errorf("revoke api key %s: %w", id, err)
		}
		out, err = s.apiKeyRow(ctx, tx, tenant, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.domain()
}

// deleteTenantAPIKeys removes every API key of tenant.
func (s *Store) deleteTenantAPIKeys(ctx context.Context, tenant uuid.UUID) error {
	if err := s.db.Gorm().WithContext(ctx).Where("tenant_id = ?", tenant.String()).Delete(&apiKeyRow{}).Error; err != nil {
		return fmt.Errorf("delete api keys of tenant %s: %w", tenant, err)
	}
	return nil
}

// StoreSecretOnce implements kms.SecretStore: the first insert wins and
// every caller reads back the stored bytes.
func (s *Store) StoreSecretOnce(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	g := s.db.Gorm().WithContext(ctx)
	row := secretRow{Name: name, Wrapped: candidate, CreatedAt: time.Now().UTC()}
	if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, fmt.Errorf("store secret %s: %w", name, err)
	}
	var stored secretRow
	if err := g.Where("name = ?", name).Take(&stored).Error; err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return stored.Wrapped, nil
}
