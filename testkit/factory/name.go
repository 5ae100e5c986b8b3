// Package factory builds test data with sane defaults: unique names and
// tenant ids here, service entities in the service-specific files beside it.
package factory

import (
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/ids"
)

// Name returns a fresh UUIDv7 followed by "-" and kind, e.g.
// "0193f3c2-...-key". The UUIDv7 keeps names unique across parallel tests and
// test processes sharing one database; leading with it makes every name,
// whatever its kind, sort by creation time, so leftovers in a shared
// database list oldest first and a run's data sits together.
func Name(kind string) string {
	return ids.NewEntity().String() + "-" + kind
}

// TenantID returns a fresh tenant id (a UUIDv4, like production tenants).
func TenantID() uuid.UUID {
	return ids.NewTenant()
}
