// Package factory builds test data with sane defaults: unique names and
// tenant ids here, service entities in the service-specific files beside it.
package factory

import (
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/ids"
)

// Name returns prefix followed by "-" and a fresh UUIDv7, e.g.
// "key-0193f3c2-...". The UUIDv7 keeps names unique across parallel tests and
// test processes sharing one database, and sorts them by creation time.
func Name(prefix string) string {
	return prefix + "-" + ids.NewEntity().String()
}

// TenantID returns a fresh tenant id (a UUIDv4, like production tenants).
func TenantID() uuid.UUID {
	return ids.NewTenant()
}
