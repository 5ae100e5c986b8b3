package kms

import (
	"time"

	"github.com/google/uuid"
)

// Tenant is a registered tenant. Its id is a UUIDv4 chosen by whoever
// registers it (a realm file, the demo seed); every key, version and audit
// event belongs to exactly one tenant.
type Tenant struct {
	ID        uuid.UUID
	Name      string
	Demo      bool
	CreatedAt time.Time
}
