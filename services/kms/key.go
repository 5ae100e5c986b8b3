package kms

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// Algorithm is the JOSE algorithm of an elastic key. The domain speaks the
// same names as the JOSE layer, so it borrows keycrypto's type rather than
// translating between two lists that must never differ.
type Algorithm = keycrypto.Algorithm

// Purpose is what a key is for (encrypt, sign, mac); fixed by its algorithm.
type Purpose = keycrypto.Purpose

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

// ElasticKey is a named, tenant-owned key with a fixed algorithm.
type ElasticKey struct {
	ID                uuid.UUID
	TenantID          uuid.UUID
	Name              string
	Description       string
	Algorithm         Algorithm
	Purpose           Purpose
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
	// Primary is true for the key's newest enabled version.
	Primary bool
	// PublicJWK is the public JWK of asymmetric keys, nil for symmetric ones.
	PublicJWK json.RawMessage
	// Wrapped is the private or secret JWK wrapped by the barrier under the
	// tenant's KEK, bound to the key and version ids; nil once destroyed.
	// Only the store and the rules in keys see it: the service clears it
	// from every version it returns.
	Wrapped   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Kid is the JOSE key id of the version.
func (m *MaterialKey) Kid() string { return m.ID.String() }

// NewKey is what creating a key needs.
type NewKey struct {
	Name              string
	Algorithm         string
	Description       string
	VersioningAllowed bool
}

// KeyPatch changes the non-nil fields of an elastic key.
type KeyPatch struct {
	Description *string
	// Status may be enabled or disabled; destroying is its own operation.
	Status *Status
}

// KeyFilter narrows a key listing; zero fields do not filter.
type KeyFilter struct {
	Algorithm string
	Purpose   string
	Status    Status
	// NamePrefix matches literally: % and _ are not wildcards.
	NamePrefix string
}

// Page asks for up to Size items after the id After (uuid.Nil: from the start).
type Page struct {
	Size  int
	After uuid.UUID
}
