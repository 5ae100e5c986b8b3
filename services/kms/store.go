package kms

import (
	"context"

	"github.com/google/uuid"
)

// The store contracts. Only the rules in package keys call them: a tenant
// argument is the authenticated principal's tenant, passed down unchanged.
// A store trusts it and never reads or writes outside that tenant, so an id
// of another tenant's key, version or event is simply not found. A store
// checks no business rule (names, statuses, purposes): that is the caller's
// job. Errors a caller can act on are *Error with the code each method
// names; anything else is an internal failure, wrapped with its operation.

// TenantStore registers tenants and owns their storage.
type TenantStore interface {
	// CreateTenant registers t and prepares its storage for keys.
	// name_taken when t.Name or t.ID is registered already; then nothing
	// changes. The registration is one transaction; creating the storage
	// follows it and is idempotent, so a failed call can be repeated with
	// the same tenant only after DeleteTenant.
	CreateTenant(ctx context.Context, t *Tenant) error
	// Tenant returns a registered tenant; not_found when id is not registered.
	Tenant(ctx context.Context, id uuid.UUID) (*Tenant, error)
	// Tenants lists every registered tenant ordered by name.
	Tenants(ctx context.Context) ([]*Tenant, error)
	// DeleteTenant drops the tenant's storage (every key, version, audit
	// event and, where the store keeps them, API key) and then its registration. Deleting an unknown tenant is not an
	// error, so an interrupted deletion can be repeated.
	DeleteTenant(ctx context.Context, id uuid.UUID) error
}

// AuditLog stores audit events in the tenant they belong to.
type AuditLog interface {
	// AppendAudit stores events, every one of tenant (an event of another
	// tenant is invalid_request and nothing is stored), in tenant's storage:
	// all of them or none, and with a single statement when there are at
	// most MaxAuditBatch, so that writing one event is one round trip and a
	// batch of concurrent requests' events shares it. not_found when tenant
	// is not registered. Events are never changed afterwards.
	AppendAudit(ctx context.Context, tenant uuid.UUID, events ...*AuditEvent) error
	// AuditEvents lists a tenant's events in id order (oldest first, as ids
	// are UUIDv7), only those of key keyID when it is not nil. The uuid
	// returned is page.After for the next page, uuid.Nil on the last one.
	// not_found when the tenant is not registered.
	AuditEvents(ctx context.Context, tenant uuid.UUID, keyID *uuid.UUID, page Page) ([]*AuditEvent, uuid.UUID, error)
}

// MaxAuditBatch is the most events AppendAudit writes with one statement;
// larger batches take a transaction. It keeps a statement's bind
// parameters well under what SQLite and PostgreSQL accept.
const MaxAuditBatch = 256

// KeyStore holds tenants, their elastic keys with their versions, and the
// audit trail. Every key-scoped method answers not_found when the tenant is
// not registered or has no key with that id.
//
// Every change to a key or its versions (UpdateKey, AddVersion,
// UpdateVersion) reads the key under an exclusive lock held until its
// transaction ends, so such changes to one key are serialised: a rotation
// cannot slip a live version into a key that a concurrent destroy is
// erasing, and two rotations see each other's version numbers. The callback
// of these methods runs inside the transaction: it decides from what it is
// given and must not call the store. If it returns an error nothing changes
// and that error is returned unwrapped.
//
// Every change to a tenant's keys or versions (CreateKey, UpdateKey,
// AddVersion, UpdateVersion) also increases the tenant's key generation in
// the same transaction, so a replica that caches keys can tell from one
// read of KeyGeneration whether anything changed since it last looked.
type KeyStore interface {
	TenantStore
	AuditLog

	// CreateKey stores k and its first version v (v.Version is 1) in one
	// transaction. name_taken when the tenant has a key named k.Name
	// already (destroyed keys keep their names); then nothing is stored.
	CreateKey(ctx context.Context, tenant uuid.UUID, k *ElasticKey, v *MaterialKey) error
	// Key returns key id with PrimaryVersion set.
	Key(ctx context.Context, tenant, id uuid.UUID) (*ElasticKey, error)
	// Keys lists the tenant's keys matching f in id order (creation order).
	// The uuid returned is page.After for the next page, uuid.Nil on the
	// last one.
	Keys(ctx context.Context, tenant uuid.UUID, f KeyFilter, page Page) ([]*ElasticKey, uuid.UUID, error)
	// UpdateKey passes key id, locked, to update and stores its
	// Description, Status and UpdatedAt as update left them. Setting the
	// status to destroyed also marks every version destroyed and erases its
	// material in the same transaction. Returns the key as stored.
	UpdateKey(ctx context.Context, tenant, id uuid.UUID, update func(k *ElasticKey) error) (*ElasticKey, error)

	// AddVersion passes key keyID, locked, to check, then stores v as the
	// key's next version: v.Version becomes the highest version so far plus
	// one, so concurrent calls get distinct, consecutive numbers. Returns
	// the version as stored.
	AddVersion(ctx context.Context, tenant, keyID uuid.UUID, check func(k *ElasticKey) error, v *MaterialKey) (*MaterialKey, error)
	// Version returns version id of key keyID with its wrapped material.
	// not_found when keyID has no such version (another key's version
	// included).
	Version(ctx context.Context, tenant, keyID, id uuid.UUID) (*MaterialKey, error)
	// KeyWithPrimary returns key keyID and its primary version (the newest
	// enabled one) with its wrapped material, both read in one statement so
	// that the hot path (encrypt, sign) costs one query; the version is nil
	// when none is enabled.
	KeyWithPrimary(ctx context.Context, tenant, keyID uuid.UUID) (*ElasticKey, *MaterialKey, error)
	// Versions lists the versions of key keyID newest first (empty for an
	// unknown key). page.After names the last version of the previous page;
	// invalid_request when it names no version of keyID. The uuid returned
	// is page.After for the next page, uuid.Nil on the last one.
	Versions(ctx context.Context, tenant, keyID uuid.UUID, page Page) ([]*MaterialKey, uuid.UUID, error)
	// EnabledVersions lists every enabled version of key keyID newest first
	// (empty for an unknown key).
	EnabledVersions(ctx context.Context, tenant, keyID uuid.UUID) ([]*MaterialKey, error)
	// UpdateVersion passes key keyID, locked, and its version id to update,
	// and stores the version's Status and UpdatedAt as update left them; a
	// version set to destroyed loses its material in the same transaction.
	// not_found when keyID has no version id. Returns the version as stored.
	UpdateVersion(ctx context.Context, tenant, keyID, id uuid.UUID, update func(k *ElasticKey, v *MaterialKey) error) (*MaterialKey, error)
	// KeyGeneration returns the tenant's key generation: a counter that
	// every committed change to its keys or versions has increased (see
	// above), read with one statement. It starts at the tenant database's
	// creation time in microseconds, so a tenant deleted and registered
	// again under its id does not count through the old values. not_found
	// when the tenant is not registered.
	KeyGeneration(ctx context.Context, tenant uuid.UUID) (int64, error)
}
