package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// MaxDescription is the longest description accepted, in bytes.
const MaxDescription = 4096

// materialPurpose is the barrier purpose of a version's material: it binds
// the wrapped bytes to their key and version, so a row copied onto another
// key or version does not unwrap.
func materialPurpose(keyID, mid string) string {
	return "kms/material/" + keyID + "/" + mid
}

func validateDescription(d string) error {
	if len(d) > MaxDescription || db.ValidateText(d) != nil {
		return kms.New(kms.InvalidRequest, "description must be valid UTF-8 of at most %d bytes", MaxDescription)
	}
	return nil
}

// newMaterial generates, wraps and returns a version row for key k.
func (s *Service) newMaterial(ctx context.Context, tenant uuid.UUID, k *elasticKeyRow, version int) (*materialKeyRow, error) {
	mid := ids.NewEntity().String()
	m, err := keycrypto.Generate(keycrypto.Algorithm(k.Algorithm), mid)
	if err != nil {
		return nil, fmt.Errorf("generate %s material: %w", k.Algorithm, err)
	}
	wrapped, err := s.barrier.Wrap(ctx, tenant, materialPurpose(k.ID, mid), m.Private)
	clear(m.Private)
	if err != nil {
		return nil, fmt.Errorf("wrap material: %w", err)
	}
	now := s.now().UTC()
	return &materialKeyRow{
		ID: mid, ElasticKeyID: k.ID, Version: version, Status: string(StatusEnabled),
		PublicJWK: string(m.Public), Wrapped: wrapped, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// CreateKey creates an elastic key with its first version.
func (s *Service) CreateKey(ctx context.Context, tenant uuid.UUID, nk NewKey) (*ElasticKey, error) {
	alg, err := keycrypto.ParseAlgorithm(nk.Algorithm)
	if err != nil {
		return nil, kms.Wrap(err, kms.InvalidRequest, "unsupported algorithm %q", nk.Algorithm)
	}
	if err := db.ValidateName(nk.Name); err != nil {
		return nil, kms.Wrap(err, kms.InvalidRequest, "invalid key name")
	}
	if err := validateDescription(nk.Description); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	row := &elasticKeyRow{
		ID: ids.NewEntity().String(), Name: nk.Name, Description: nk.Description, Algorithm: string(alg),
		Purpose: string(alg.Purpose()), Status: string(StatusEnabled), VersioningAllowed: nk.VersioningAllowed,
		CreatedAt: now, UpdatedAt: now,
	}
	var out *ElasticKey
	err = s.audited(ctx, tenant, "create_key", row.ID, func(g *gorm.DB) (string, error) {
		m, err := s.newMaterial(ctx, tenant, row, 1)
		if err != nil {
			return "", err
		}
		err = g.Transaction(func(tx *gorm.DB) error {
			var n int64
			if err := tx.Model(&elasticKeyRow{}).Where("name = ?", nk.Name).Count(&n).Error; err != nil {
				return fmt.Errorf("check key name: %w", err)
			}
			if n > 0 {
				return kms.New(kms.NameTaken, "a key named %q already exists", nk.Name)
			}
			if err := tx.Create(row).Error; err != nil {
				return fmt.Errorf("insert key: %w", err)
			}
			if err := tx.Create(m).Error; err != nil {
				return fmt.Errorf("insert material key: %w", err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		out = row.domain(tenant, 1)
		return m.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *elasticKeyRow) domain(tenant uuid.UUID, primary int) *ElasticKey {
	return &ElasticKey{
		ID: uuid.MustParse(r.ID), TenantID: tenant, Name: r.Name, Description: r.Description,
		Algorithm: keycrypto.Algorithm(r.Algorithm), Purpose: keycrypto.Purpose(r.Purpose), Status: Status(r.Status),
		VersioningAllowed: r.VersioningAllowed, PrimaryVersion: primary, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func (r *materialKeyRow) domain(primary int) *MaterialKey {
	m := &MaterialKey{
		ID: uuid.MustParse(r.ID), ElasticKeyID: uuid.MustParse(r.ElasticKeyID), Version: r.Version,
		Status: Status(r.Status), Primary: r.Version == primary && Status(r.Status) == StatusEnabled,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.PublicJWK != "" {
		m.PublicJWK = json.RawMessage(r.PublicJWK)
	}
	return m
}

// lockedKeyRow reads the key inside tx and holds its row lock until the
// transaction ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite write
// transactions are IMMEDIATE and so already exclusive). Every change to a
// key or its versions takes this lock first, so a rotation cannot slip a
// new live version into a key that a concurrent destroy is erasing, and two
// rotations see each other's version numbers.
func (s *Service) lockedKeyRow(tx *gorm.DB, id uuid.UUID) (*elasticKeyRow, error) {
	return s.keyRow(tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}), id)
}

// keyRow reads key id from g (a tenant database or a transaction on it).
func (s *Service) keyRow(g *gorm.DB, id uuid.UUID) (*elasticKeyRow, error) {
	var row elasticKeyRow
	err := g.Where("id = ?", id.String()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "elastic key %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	return &row, nil
}

// primaryVersions returns, per key id, the newest enabled version number.
func primaryVersions(g *gorm.DB, keyIDs []string) (map[string]int, error) {
	out := map[string]int{}
	if len(keyIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		ElasticKeyID string
		V            int
	}
	err := g.Model(&materialKeyRow{}).Select("elastic_key_id, MAX(version) AS v").
		Where("elastic_key_id IN ? AND status = ?", keyIDs, string(StatusEnabled)).
		Group("elastic_key_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("primary versions: %w", err)
	}
	for _, r := range rows {
		out[r.ElasticKeyID] = r.V
	}
	return out, nil
}

func primaryVersion(g *gorm.DB, keyID string) (int, error) {
	m, err := primaryVersions(g, []string{keyID})
	return m[keyID], err
}

// GetKey returns an elastic key of tenant; not_found for another tenant's key.
func (s *Service) GetKey(ctx context.Context, tenant, id uuid.UUID) (*ElasticKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	row, err := s.keyRow(g, id)
	if err != nil {
		return nil, err
	}
	p, err := primaryVersion(g, row.ID)
	if err != nil {
		return nil, err
	}
	return row.domain(tenant, p), nil
}

// ListKeys lists the tenant's keys in creation order. The returned id is
// the After of the next page, uuid.Nil on the last page.
func (s *Service) ListKeys(ctx context.Context, tenant uuid.UUID, f KeyFilter, page Page) ([]*ElasticKey, uuid.UUID, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		if kms.Is(err, kms.NotFound) {
			return nil, uuid.Nil, nil
		}
		return nil, uuid.Nil, err
	}
	q := g.Model(&elasticKeyRow{})
	if f.Algorithm != "" {
		q = q.Where("algorithm = ?", f.Algorithm)
	}
	if f.Purpose != "" {
		q = q.Where("purpose = ?", f.Purpose)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.NamePrefix != "" {
		// Compared with substr rather than LIKE, so % and _ in a prefix are
		// literal on both SQLite and PostgreSQL.
		q = q.Where("substr(name, 1, ?) = ?", len([]rune(f.NamePrefix)), f.NamePrefix)
	}
	if page.After != uuid.Nil {
		q = q.Where("id > ?", page.After.String())
	}
	var rows []elasticKeyRow
	if err := q.Order("id").Limit(page.Size + 1).Find(&rows).Error; err != nil {
		return nil, uuid.Nil, fmt.Errorf("list keys: %w", err)
	}
	next := uuid.Nil
	if len(rows) > page.Size {
		rows = rows[:page.Size]
		next = uuid.MustParse(rows[len(rows)-1].ID)
	}
	idList := make([]string, 0, len(rows))
	for _, r := range rows {
		idList = append(idList, r.ID)
	}
	prim, err := primaryVersions(g, idList)
	if err != nil {
		return nil, uuid.Nil, err
	}
	out := make([]*ElasticKey, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].domain(tenant, prim[rows[i].ID]))
	}
	return out, next, nil
}

// UpdateKey changes description and/or status (enabled, disabled).
// A destroyed key is key_destroyed.
func (s *Service) UpdateKey(ctx context.Context, tenant, id uuid.UUID, p KeyPatch) (*ElasticKey, error) {
	if p.Description != nil {
		if err := validateDescription(*p.Description); err != nil {
			return nil, err
		}
	}
	if p.Status != nil && *p.Status != StatusEnabled && *p.Status != StatusDisabled {
		return nil, kms.New(kms.InvalidRequest, "status must be enabled or disabled (destroy with DELETE)")
	}
	var out *ElasticKey
	err := s.audited(ctx, tenant, "update_key", id.String(), func(g *gorm.DB) (string, error) {
		return "", g.Transaction(func(tx *gorm.DB) error {
			row, err := s.lockedKeyRow(tx, id)
			if err != nil {
				return err
			}
			if Status(row.Status) == StatusDestroyed {
				return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", id)
			}
			if p.Description != nil {
				row.Description = *p.Description
			}
			if p.Status != nil {
				row.Status = string(*p.Status)
			}
			row.UpdatedAt = s.now().UTC()
			if err := tx.Save(row).Error; err != nil {
				return fmt.Errorf("update key %s: %w", id, err)
			}
			prim, err := primaryVersion(tx, row.ID)
			if err != nil {
				return err
			}
			out = row.domain(tenant, prim)
			return nil
		})
	})
	return out, err
}

// DestroyKey erases the material of every version; metadata stays and the
// key answers key_destroyed (410) to every later operation.
func (s *Service) DestroyKey(ctx context.Context, tenant, id uuid.UUID) (*ElasticKey, error) {
	var out *ElasticKey
	err := s.audited(ctx, tenant, "destroy_key", id.String(), func(g *gorm.DB) (string, error) {
		return "", g.Transaction(func(tx *gorm.DB) error {
			row, err := s.lockedKeyRow(tx, id)
			if err != nil {
				return err
			}
			if Status(row.Status) == StatusDestroyed {
				return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed already", id)
			}
			now := s.now().UTC()
			err = tx.Model(&materialKeyRow{}).Where("elastic_key_id = ?", row.ID).
				Updates(map[string]any{"status": string(StatusDestroyed), "wrapped": nil, "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("erase material of key %s: %w", id, err)
			}
			row.Status, row.UpdatedAt = string(StatusDestroyed), now
			if err := tx.Save(row).Error; err != nil {
				return fmt.Errorf("destroy key %s: %w", id, err)
			}
			out = row.domain(tenant, 0)
			return nil
		})
	})
	return out, err
}

// Rotate adds a new version that becomes primary. versioning_not_allowed
// when the key was created without versioning; key_disabled, key_destroyed.
// Concurrent rotations of one key get distinct, consecutive version numbers:
// the number is chosen under the key's row lock.
func (s *Service) Rotate(ctx context.Context, tenant, id uuid.UUID) (*MaterialKey, error) {
	var out *MaterialKey
	err := s.audited(ctx, tenant, "rotate_key", id.String(), func(g *gorm.DB) (string, error) {
		row, err := s.keyRow(g, id)
		if err != nil {
			return "", err
		}
		if err := rotatable(row); err != nil {
			return "", err
		}
		// Key generation (RSA takes a while) happens before the lock is
		// taken; the version number is assigned under it.
		m, err := s.newMaterial(ctx, tenant, row, 0)
		if err != nil {
			return "", err
		}
		err = g.Transaction(func(tx *gorm.DB) error {
			locked, err := s.lockedKeyRow(tx, id)
			if err != nil {
				return err
			}
			if err := rotatable(locked); err != nil {
				return err
			}
			var maxV int
			if err := tx.Model(&materialKeyRow{}).Select("COALESCE(MAX(version), 0)").Where("elastic_key_id = ?", locked.ID).Scan(&maxV).Error; err != nil {
				return fmt.Errorf("latest version of %s: %w", id, err)
			}
			m.Version = maxV + 1
			if err := tx.Create(m).Error; err != nil {
				return fmt.Errorf("insert version %d of %s: %w", m.Version, id, err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		out = m.domain(m.Version)
		return m.ID, nil
	})
	return out, err
}

func rotatable(row *elasticKeyRow) error {
	switch {
	case Status(row.Status) == StatusDestroyed:
		return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", row.ID)
	case Status(row.Status) == StatusDisabled:
		return kms.New(kms.KeyDisabled, "elastic key %s is disabled", row.ID)
	case !row.VersioningAllowed:
		return kms.New(kms.VersioningNotAllowed, "elastic key %s does not allow new versions", row.ID)
	}
	return nil
}

// ListVersions lists the versions of a key, newest first.
func (s *Service) ListVersions(ctx context.Context, tenant, id uuid.UUID, page Page) ([]*MaterialKey, uuid.UUID, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, uuid.Nil, err
	}
	row, err := s.keyRow(g, id)
	if err != nil {
		return nil, uuid.Nil, err
	}
	q := g.Model(&materialKeyRow{}).Where("elastic_key_id = ?", row.ID)
	if page.After != uuid.Nil {
		// Versions are ordered by number, not id: ids are generated before
		// the number is assigned, so they need not sort the same way.
		after, err := s.versionRow(g, id, page.After)
		if kms.Is(err, kms.NotFound) {
			return nil, uuid.Nil, kms.New(kms.InvalidRequest, "invalid page_token")
		}
		if err != nil {
			return nil, uuid.Nil, err
		}
		q = q.Where("version < ?", after.Version)
	}
	var rows []materialKeyRow
	if err := q.Order("version DESC").Limit(page.Size + 1).Find(&rows).Error; err != nil {
		return nil, uuid.Nil, fmt.Errorf("list versions of %s: %w", id, err)
	}
	next := uuid.Nil
	if len(rows) > page.Size {
		rows = rows[:page.Size]
		next = uuid.MustParse(rows[len(rows)-1].ID)
	}
	prim, err := primaryVersion(g, row.ID)
	if err != nil {
		return nil, uuid.Nil, err
	}
	out := make([]*MaterialKey, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].domain(prim))
	}
	return out, next, nil
}

func (s *Service) versionRow(g *gorm.DB, keyID, mid uuid.UUID) (*materialKeyRow, error) {
	var row materialKeyRow
	err := g.Where("id = ? AND elastic_key_id = ?", mid.String(), keyID.String()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "material key %s of key %s not found", mid, keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("get version %s: %w", mid, err)
	}
	return &row, nil
}

// GetVersion returns one version of a key.
func (s *Service) GetVersion(ctx context.Context, tenant, id, mid uuid.UUID) (*MaterialKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if _, err := s.keyRow(g, id); err != nil {
		return nil, err
	}
	row, err := s.versionRow(g, id, mid)
	if err != nil {
		return nil, err
	}
	prim, err := primaryVersion(g, row.ElasticKeyID)
	if err != nil {
		return nil, err
	}
	return row.domain(prim), nil
}

// SetVersionStatus enables, disables or destroys one version. Destroying
// erases its material; a destroyed version stays destroyed (version_destroyed).
func (s *Service) SetVersionStatus(ctx context.Context, tenant, id, mid uuid.UUID, status Status) (*MaterialKey, error) {
	if !status.Valid() {
		return nil, kms.New(kms.InvalidRequest, "status must be enabled, disabled or destroyed")
	}
	op := map[Status]string{StatusEnabled: "enable_version", StatusDisabled: "disable_version", StatusDestroyed: "destroy_version"}[status]
	var out *MaterialKey
	err := s.audited(ctx, tenant, op, id.String(), func(g *gorm.DB) (string, error) {
		return mid.String(), g.Transaction(func(tx *gorm.DB) error {
			key, err := s.lockedKeyRow(tx, id)
			if err != nil {
				return err
			}
			if Status(key.Status) == StatusDestroyed {
				return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", id)
			}
			row, err := s.versionRow(tx, id, mid)
			if err != nil {
				return err
			}
			if Status(row.Status) == StatusDestroyed {
				return kms.New(kms.VersionDestroyed, "material key %s was destroyed", mid)
			}
			row.Status, row.UpdatedAt = string(status), s.now().UTC()
			if status == StatusDestroyed {
				row.Wrapped = nil
			}
			if err := tx.Save(row).Error; err != nil {
				return fmt.Errorf("update version %s: %w", mid, err)
			}
			prim, err := primaryVersion(tx, key.ID)
			if err != nil {
				return err
			}
			out = row.domain(prim)
			return nil
		})
	})
	return out, err
}
