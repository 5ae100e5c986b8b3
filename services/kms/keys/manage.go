package keys

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// materialPurpose is the barrier purpose of a version's material: it binds
// the wrapped bytes to their key and version, so a row copied onto another
// key or version does not unwrap.
func materialPurpose(keyID, mid uuid.UUID) string {
	return "kms/material/" + keyID.String() + "/" + mid.String()
}

// newMaterial generates and wraps a new, enabled version of key k. The
// store assigns its number.
func (s *Service) newMaterial(ctx context.Context, tenant uuid.UUID, k *kms.ElasticKey) (*kms.MaterialKey, error) {
	mid := ids.NewEntity()
	m, err := keycrypto.Generate(k.Algorithm, mid.String())
	if err != nil {
		return nil, fmt.Errorf("generate %s material: %w", k.Algorithm, err)
	}
	wrapped, err := s.barrier.Wrap(ctx, tenant, materialPurpose(k.ID, mid), m.Private)
	clear(m.Private)
	if err != nil {
		return nil, fmt.Errorf("wrap material: %w", err)
	}
	now := s.now().UTC()
	v := &kms.MaterialKey{
		ID: mid, ElasticKeyID: k.ID, Status: kms.StatusEnabled, Wrapped: wrapped, CreatedAt: now, UpdatedAt: now,
	}
	if len(m.Public) > 0 {
		v.PublicJWK = m.Public
	}
	return v, nil
}

// withoutMaterial returns v without its wrapped material: callers of the
// service see a version's metadata, never its material in any form.
func withoutMaterial(v *kms.MaterialKey) *kms.MaterialKey {
	if v != nil {
		v.Wrapped = nil
	}
	return v
}

// CreateKey creates an elastic key with its first version. The key cache
// needs no word of it: it never remembers that a key was not found.
func (s *Service) CreateKey(ctx context.Context, tenant uuid.UUID, nk kms.NewKey) (*kms.ElasticKey, error) {
	alg, err := keycrypto.ParseAlgorithm(nk.Algorithm)
	if err != nil {
		return nil, kms.Wrap(err, kms.InvalidRequest, "unsupported algorithm %q", nk.Algorithm)
	}
	if err := kms.ValidateName("key", nk.Name); err != nil {
		return nil, err
	}
	if err := kms.ValidateDescription(nk.Description); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	k := &kms.ElasticKey{
		ID: ids.NewEntity(), TenantID: tenant, Name: nk.Name, Description: nk.Description, Algorithm: alg,
		Purpose: alg.Purpose(), Status: kms.StatusEnabled, VersioningAllowed: nk.VersioningAllowed,
		PrimaryVersion: 1, CreatedAt: now, UpdatedAt: now,
	}
	err = s.audited(ctx, tenant, "create_key", k.ID.String(), func() (string, error) {
		m, err := s.newMaterial(ctx, tenant, k)
		if err != nil {
			return "", err
		}
		m.Version = 1
		if err := s.store.CreateKey(ctx, tenant, k, m); err != nil {
			return "", err
		}
		return m.ID.String(), nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// GetKey returns an elastic key of tenant; not_found for another tenant's key.
func (s *Service) GetKey(ctx context.Context, tenant, id uuid.UUID) (*kms.ElasticKey, error) {
	return s.store.Key(ctx, tenant, id)
}

// ListKeys lists the tenant's keys in creation order. The returned id is
// the After of the next page, uuid.Nil on the last page. An unregistered
// tenant simply has no keys.
func (s *Service) ListKeys(ctx context.Context, tenant uuid.UUID, f kms.KeyFilter, page kms.Page) ([]*kms.ElasticKey, uuid.UUID, error) {
	out, next, err := s.store.Keys(ctx, tenant, f, page)
	if kms.Is(err, kms.NotFound) {
		return nil, uuid.Nil, nil
	}
	return out, next, err
}

// Every change below drops the key from this replica's cache right after
// the store call, whether it succeeded or not (a commit whose answer was
// lost still changed the key); the key generation the store increased
// tells the other replicas.

// UpdateKey changes description and/or status (enabled, disabled).
// A destroyed key is key_destroyed.
func (s *Service) UpdateKey(ctx context.Context, tenant, id uuid.UUID, p kms.KeyPatch) (*kms.ElasticKey, error) {
	if p.Description != nil {
		if err := kms.ValidateDescription(*p.Description); err != nil {
			return nil, err
		}
	}
	if p.Status != nil && *p.Status != kms.StatusEnabled && *p.Status != kms.StatusDisabled {
		return nil, kms.New(kms.InvalidRequest, "status must be enabled or disabled (destroy with DELETE)")
	}
	var out *kms.ElasticKey
	err := s.audited(ctx, tenant, "update_key", id.String(), func() (string, error) {
		var err error
		out, err = s.store.UpdateKey(ctx, tenant, id, func(k *kms.ElasticKey) error {
			if k.Status == kms.StatusDestroyed {
				return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", id)
			}
			if p.Description != nil {
				k.Description = *p.Description
			}
			if p.Status != nil {
				k.Status = *p.Status
			}
			k.UpdatedAt = s.now().UTC()
			return nil
		})
		s.keys.forget(tenant, id)
		return "", err
	})
	return out, err
}

// DestroyKey erases the material of every version; metadata stays and the
// key answers key_destroyed (410) to every later operation.
func (s *Service) DestroyKey(ctx context.Context, tenant, id uuid.UUID) (*kms.ElasticKey, error) {
	var out *kms.ElasticKey
	err := s.audited(ctx, tenant, "destroy_key", id.String(), func() (string, error) {
		var err error
		out, err = s.store.UpdateKey(ctx, tenant, id, func(k *kms.ElasticKey) error {
			if k.Status == kms.StatusDestroyed {
				return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed already", id)
			}
			k.Status, k.UpdatedAt = kms.StatusDestroyed, s.now().UTC()
			return nil
		})
		s.keys.forget(tenant, id)
		return "", err
	})
	return out, err
}

// Rotate adds a new version that becomes primary. versioning_not_allowed
// when the key was created without versioning; key_disabled, key_destroyed.
// Concurrent rotations of one key get distinct, consecutive version numbers:
// the store assigns the number under the key's lock.
func (s *Service) Rotate(ctx context.Context, tenant, id uuid.UUID) (*kms.MaterialKey, error) {
	var out *kms.MaterialKey
	err := s.audited(ctx, tenant, "rotate_key", id.String(), func() (string, error) {
		k, err := s.store.Key(ctx, tenant, id)
		if err != nil {
			return "", err
		}
		if err := rotatable(k); err != nil {
			return "", err
		}
		// Key generation (RSA takes a while) happens before the lock is
		// taken; the store checks again under it.
		m, err := s.newMaterial(ctx, tenant, k)
		if err != nil {
			return "", err
		}
		out, err = s.store.AddVersion(ctx, tenant, id, rotatable, m)
		s.keys.forget(tenant, id)
		if err != nil {
			return "", err
		}
		return m.ID.String(), nil
	})
	return withoutMaterial(out), err
}

func rotatable(k *kms.ElasticKey) error {
	switch {
	case k.Status == kms.StatusDestroyed:
		return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", k.ID)
	case k.Status == kms.StatusDisabled:
		return kms.New(kms.KeyDisabled, "elastic key %s is disabled", k.ID)
	case !k.VersioningAllowed:
		return kms.New(kms.VersioningNotAllowed, "elastic key %s does not allow new versions", k.ID)
	}
	return nil
}

// ListVersions lists the versions of a key, newest first.
func (s *Service) ListVersions(ctx context.Context, tenant, id uuid.UUID, page kms.Page) ([]*kms.MaterialKey, uuid.UUID, error) {
	if _, err := s.store.Key(ctx, tenant, id); err != nil {
		return nil, uuid.Nil, err
	}
	out, next, err := s.store.Versions(ctx, tenant, id, page)
	if err != nil {
		return nil, uuid.Nil, err
	}
	for _, v := range out {
		withoutMaterial(v)
	}
	return out, next, nil
}

// GetVersion returns one version of a key.
func (s *Service) GetVersion(ctx context.Context, tenant, id, mid uuid.UUID) (*kms.MaterialKey, error) {
	if _, err := s.store.Key(ctx, tenant, id); err != nil {
		return nil, err
	}
	v, err := s.store.Version(ctx, tenant, id, mid)
	return withoutMaterial(v), err
}

// SetVersionStatus enables, disables or destroys one version. Destroying
// erases its material; a destroyed version stays destroyed (version_destroyed).
func (s *Service) SetVersionStatus(ctx context.Context, tenant, id, mid uuid.UUID, status kms.Status) (*kms.MaterialKey, error) {
	if !status.Valid() {
		return nil, kms.New(kms.InvalidRequest, "status must be enabled, disabled or destroyed")
	}
	op := map[kms.Status]string{kms.StatusEnabled: "enable_version", kms.StatusDisabled: "disable_version", kms.StatusDestroyed: "destroy_version"}[status]
	var out *kms.MaterialKey
	err := s.audited(ctx, tenant, op, id.String(), func() (string, error) {
		var err error
		out, err = s.store.UpdateVersion(ctx, tenant, id, mid, func(k *kms.ElasticKey, v *kms.MaterialKey) error {
			if k.Status == kms.StatusDestroyed {
				return kms.New(kms.KeyDestroyed, "elastic key %s was destroyed", id)
			}
			if v.Status == kms.StatusDestroyed {
				return kms.New(kms.VersionDestroyed, "material key %s was destroyed", mid)
			}
			v.Status, v.UpdatedAt = status, s.now().UTC()
			return nil
		})
		s.keys.forget(tenant, id)
		return mid.String(), err
	})
	return withoutMaterial(out), err
}
