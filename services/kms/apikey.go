package kms

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// APIKey is a tenant's API key as stored. The secret itself is never
// stored, only its MAC (see package apikey), so a copy of the database
// cannot be used to call the API.
type APIKey struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Name     string
	// Scopes are the scopes the key was granted, as requested (not expanded).
	Scopes []string
	// Hash is the MAC of the key's secret.
	Hash []byte
	// CreatedBy is the subject of the principal that created the key.
	CreatedBy string
	CreatedAt time.Time
	// ExpiresAt is when the key stops working; nil for never.
	ExpiresAt *time.Time
	// RevokedAt is when the key was revoked; nil while it is not. A revoked
	// key stays listed so that its id in the audit trail can be looked up.
	RevokedAt *time.Time
}

// Usable reports whether the key authenticates at now: not revoked and
// not expired.
func (k *APIKey) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// APIKeyStore keeps the API keys of every tenant in one place, because a
// request presenting a key names no tenant: the key's id finds the key, and
// the key says its tenant. Every method but LookupAPIKey is scoped to a
// tenant and answers not_found for another tenant's key.
type APIKeyStore interface {
	// CreateAPIKey stores k. not_found when k.TenantID is not registered.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns key id of tenant.
	APIKey(ctx context.Context, tenant, id uuid.UUID) (*APIKey, error)
	// APIKeys lists the tenant's keys, revoked ones included, in id order
	// (creation order). The uuid returned is page.After for the next page,
	// uuid.Nil on the last one.
	APIKeys(ctx context.Context, tenant uuid.UUID, page Page) ([]*APIKey, uuid.UUID, error)
	// RevokeAPIKey sets the key's RevokedAt to at unless it is revoked
	// already (then the first revocation time stays) and returns the key
	// as stored.
	RevokeAPIKey(ctx context.Context, tenant, id uuid.UUID, at time.Time) (*APIKey, error)
	// LookupAPIKey returns key id whatever its tenant, for authentication
	// only; not_found when no tenant has it.
	LookupAPIKey(ctx context.Context, id uuid.UUID) (*APIKey, error)
}

// SecretStore keeps the service's own shared secrets, wrapped by the
// barrier, so that every replica on one database uses the same ones.
type SecretStore interface {
	// StoreSecretOnce stores candidate under name unless a secret is stored
	// there already, and returns the stored one: every caller, in every
	// process on the database, gets the same bytes.
	StoreSecretOnce(ctx context.Context, name string, candidate []byte) ([]byte, error)
}
