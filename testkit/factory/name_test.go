package factory_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/testkit/factory"
)

func TestName(t *testing.T) {
	tests := []struct {
		desc string
		kind string
	}{
		{desc: "plain kind", kind: "key"},
		{desc: "kind with a hyphen", kind: "demo-user"},
		{desc: "empty kind still yields a valid name", kind: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			name := factory.Name(tc.kind)
			require.True(t, strings.HasSuffix(name, "-"+tc.kind), "name %q", name)
			_, err := ids.ParseEntity(strings.TrimSuffix(name, "-"+tc.kind))
			require.NoError(t, err, "%q must begin with a canonical UUIDv7", name)
			assert.NoError(t, kms.ValidateName("key", name), "factory names must be storable")
			assert.NotEqual(t, name, factory.Name(tc.kind), "two calls must differ")
		})
	}
}

func TestNamesSortByCreation(t *testing.T) {
	// Names lead with their UUIDv7, so names made one after another sort in
	// creation order whatever their kind: leftovers in a shared database
	// list oldest first, and list tests rely on the order.
	kinds := []string{"user", "key", "client", "a", "z"}
	names := make([]string, 100)
	for i := range names {
		names[i] = factory.Name(kinds[i%len(kinds)])
	}
	for i := 1; i < len(names); i++ {
		assert.Less(t, names[i-1], names[i])
	}
}

func TestTenantID(t *testing.T) {
	tests := []struct {
		desc string
	}{
		{desc: "first id parses as a strict tenant id"},
		{desc: "second id parses as a strict tenant id"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			id := factory.TenantID()
			parsed, err := ids.ParseTenant(id.String())
			require.NoError(t, err)
			assert.Equal(t, id, parsed)
			assert.False(t, seen[id.String()], "tenant ids must not repeat")
			seen[id.String()] = true
		})
	}
}
