// Package ids mints and parses the identifiers Passthru uses: UUIDv7 for
// entities (time-ordered, so primary keys index well and list order follows
// creation) and UUIDv4 for tenants (no timestamp, nothing to learn from an id).
// Identifiers are always printed in full, canonical, lowercase form.
package ids

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// ErrInvalid is wrapped by every parse error of this package.
var ErrInvalid = errors.New("invalid id")

// NewEntity returns a fresh UUIDv7 for an entity (key, version, user, client...).
func NewEntity() uuid.UUID {
	// uuid.NewV7 fails only when the system random source fails, which leaves
	// nothing sensible to do; uuid.New panics in the same case.
	return uuid.Must(uuid.NewV7())
}

// NewTenant returns a fresh random UUIDv4 for a tenant.
func NewTenant() uuid.UUID {
	return uuid.New()
}

// ParseTenant parses a tenant id. Only the canonical form is accepted:
// 36 characters, lowercase hex, hyphens at 8-4-4-4-12, version 4, RFC 4122
// variant. Braces, URNs, uppercase and missing hyphens are rejected, so that a
// tenant has exactly one spelling everywhere it is stored or compared.
func ParseTenant(s string) (uuid.UUID, error) {
	return parseCanonical(s, 4, "tenant")
}

// ParseEntity parses an entity id with the same strictness as ParseTenant,
// requiring version 7.
func ParseEntity(s string) (uuid.UUID, error) {
	return parseCanonical(s, 7, "entity")
}

func parseCanonical(s string, version uuid.Version, kind string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, fmt.Errorf("%w: %s id must be 36 characters, got %d", ErrInvalid, kind, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return uuid.Nil, fmt.Errorf("%w: %s id must be hyphenated 8-4-4-4-12", ErrInvalid, kind)
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return uuid.Nil, fmt.Errorf("%w: %s id must be lowercase hexadecimal", ErrInvalid, kind)
			}
		}
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: %s id: %v", ErrInvalid, kind, err)
	}
	if id.Variant() != uuid.RFC4122 {
		return uuid.Nil, fmt.Errorf("%w: %s id must use the RFC 4122 variant", ErrInvalid, kind)
	}
	if id.Version() != version {
		return uuid.Nil, fmt.Errorf("%w: %s id must be a version %d UUID, got version %d", ErrInvalid, kind, version, id.Version())
	}
	return id, nil
}
