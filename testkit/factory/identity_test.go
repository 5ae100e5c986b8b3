package factory_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/passthru-dev/passthru/services/identity/admin"
	"github.com/passthru-dev/passthru/testkit/factory"
)

func TestIdentityClient(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		kind       string
		wantGrants []string
		introspect bool
	}{
		{desc: "confidential web app", kind: "confidential", wantGrants: []string{"authorization_code", "refresh_token"}},
		{desc: "public native app", kind: "public", wantGrants: []string{"authorization_code", "refresh_token"}},
		{desc: "service", kind: "service", wantGrants: []string{"client_credentials"}},
		{desc: "resource server", kind: "resource_server", introspect: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			a, b := factory.IdentityClient(t, tc.kind), factory.IdentityClient(t, tc.kind)
			assert.NotEqual(t, a.ClientID, b.ClientID, "unique ids")
			assert.True(t, strings.HasSuffix(a.ClientID, "-"+tc.kind), "client_id %q ends with its kind", a.ClientID)
			assert.Equal(t, tc.kind, a.Kind)
			assert.Equal(t, tc.wantGrants, a.GrantTypes)
			assert.Equal(t, tc.introspect, a.CanIntrospect)
		})
	}
	c := factory.IdentityClient(t, "service", func(r *admin.CreateClientRequest) { r.Scopes = []string{"kms:admin"} })
	assert.Equal(t, []string{"kms:admin"}, c.Scopes, "options override defaults")
}

func TestIdentityUser(t *testing.T) {
	a, b := factory.IdentityUser(t), factory.IdentityUser(t)
	assert.NotEqual(t, a.Username, b.Username)
	assert.NotEqual(t, a.Password, b.Password)
	assert.GreaterOrEqual(t, len(a.Password), admin.MinPasswordLength)
	assert.Equal(t, a.Username+"@example.test", a.Email)
	c := factory.IdentityUser(t, func(r *admin.CreateUserRequest) { r.Roles = []string{"admin"} })
	assert.Equal(t, []string{"admin"}, c.Roles)
}
