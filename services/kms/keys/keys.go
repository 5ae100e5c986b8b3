// Package keys is the KMS business layer: tenants, elastic keys and their
// material keys (versions), the cryptographic operations on them and the
// audit trail. Keys live in the tenant's own database handle; material is
// wrapped by the barrier under the tenant's KEK before it is stored.
//
// Every method takes the tenant explicitly; callers pass the authenticated
// principal's tenant and nothing else. Errors are *kms.Error with a code.
package keys

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// Status is the state of an elastic key or of one of its versions.
type Status string

// Statuses. Destroyed is final: the material is erased.
const (
	StatusEnabled   Status = "enabled"
	StatusDisabled  Status = "disabled"
	StatusDestroyed Status = "destroyed"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	return s == StatusEnabled || s == StatusDisabled || s == StatusDestroyed
}

// Tenant is a registered tenant.
type Tenant struct {
	ID        uuid.UUID
	Name      string
	Demo      bool
	CreatedAt time.Time
}

// ElasticKey is a named, tenant-owned key with a fixed algorithm.
type ElasticKey struct {
	ID                uuid.UUID
	TenantID          uuid.UUID
	Name              string
	Description       string
	Algorithm         keycrypto.Algorithm
	Purpose           keycrypto.Purpose
	Status            Status
	VersioningAllowed bool
	// PrimaryVersion is the newest enabled version (the one that encrypts and
	// signs), 0 when no version is enabled.
	PrimaryVersion int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// MaterialKey is one version of an elastic key. Its kid (in JOSE headers and
// the JWKS) is its id.
type MaterialKey struct {
	ID           uuid.UUID
	ElasticKeyID uuid.UUID
	Version      int
	Status       Status
	Primary      bool
	// PublicJWK is the public JWK of asymmetric keys, nil for symmetric ones.
	PublicJWK json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Kid is the JOSE key id of the version.
func (m *MaterialKey) Kid() string { return m.ID.String() }

// NewKey is what CreateKey needs.
type NewKey struct {
	Name              string
	Algorithm         string
	Description       string
	VersioningAllowed bool
}

// KeyPatch changes the non-nil fields of an elastic key.
type KeyPatch struct {
	Description *string
	// Status may be enabled or disabled; destroying is DestroyKey.
	Status *Status
}

// KeyFilter narrows ListKeys; zero fields do not filter.
type KeyFilter struct {
	Algorithm  string
	Purpose    string
	Status     Status
	NamePrefix string
}

// Page asks for up to Size items after the id After (uuid.Nil: from the start).
type Page struct {
	Size  int
	After uuid.UUID
}

// AuditEvent is one recorded operation. It never holds plaintext, keys or
// ciphertexts.
type AuditEvent struct {
	ID            uuid.UUID
	Time          time.Time
	Principal     string
	Realm         string
	Method        string
	TenantID      uuid.UUID
	ElasticKeyID  string
	MaterialKeyID string
	Operation     string
	Outcome       string // success | failure
	ErrorCode     string
	RequestID     string
	// Target is the realm user an administration event is about.
	Target string
}
