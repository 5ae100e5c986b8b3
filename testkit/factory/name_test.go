package factory_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/factory"
)

func TestName(t *testing.T) {
	tests := []struct {
		desc   string
		prefix string
	}{
		{desc: "plain prefix", prefix: "key"},
		{desc: "prefix with a hyphen", prefix: "demo-user"},
		{desc: "empty prefix still yields a valid name", prefix: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			name := factory.Name(tc.prefix)
			require.True(t, strings.HasPrefix(name, tc.prefix+"-"), "name %q", name)
			_, err := ids.ParseEntity(strings.TrimPrefix(name, tc.prefix+"-"))
			require.NoError(t, err, "suffix of %q must be a canonical UUIDv7", name)
			assert.NoError(t, db.ValidateName(name), "factory names must be storable")
			assert.NotEqual(t, name, factory.Name(tc.prefix), "two calls must differ")
		})
	}
}

func TestNamesSortByCreation(t *testing.T) {
	// UUIDv7 names created one after another sort in creation order, which
	// list tests rely on.
	names := make([]string, 100)
	for i := range names {
		names[i] = factory.Name("k")
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
