package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// TestClientAuthMethodMigration upgrades a tenant database whose clients
// were registered before the authentication method was recorded: each gets
// the method it has been using, so nothing changes for it.
func TestClientAuthMethodMigration(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d := dbtest.Open(t, b)
		tenant := factory.TenantID()
		require.NoError(t, d.CreateTenant(ctx, tenant))
		g, err := d.Tenant(ctx, tenant)
		require.NoError(t, err)
		require.NoError(t, db.Migrate(ctx, g, "identity-tenant", legacyTenantMigrations))
		for _, c := range []*legacyClient{
			{ClientID: "secret", Name: "s", Kind: "confidential", SecretHash: "h"},
			{ClientID: "public", Name: "p", Kind: "public"},
		} {
			require.NoError(t, g.Create(c).Error)
		}

		st, err := store.New(ctx, d)
		require.NoError(t, err)
		for _, tc := range []struct {
			desc, id, want string
			public         bool
		}{
			{desc: "a client with a secret keeps using it", id: "secret", want: identity.AuthSecretBasic},
			{desc: "a client without one stays public", id: "public", want: identity.AuthNone, public: true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				c, err := st.TenantClient(ctx, tenant, tc.id) // the first call migrates the tenant
				require.NoError(t, err)
				assert.Equal(t, tc.want, c.TokenEndpointAuthMethod, "the migration recorded the method")
				assert.Equal(t, tc.public, c.Public())
				assert.Empty(t, c.TLSClientAuthSANURI)
				assert.Empty(t, c.TLSClientAuthSANDNS)
			})
		}
	})
}

// TestClientAuthFieldsRoundTrip stores a tls_client_auth client and reads
// back what was registered.
func TestClientAuthFieldsRoundTrip(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		for _, tc := range []struct {
			desc string
			c    identity.Client
			want string // the method read back; empty: the one given
		}{
			{desc: "URI SAN", c: identity.Client{ClientID: factory.Name("uri"), Name: "u", Kind: identity.KindResourceServer,
				TokenEndpointAuthMethod: identity.AuthTLSClientAuth, TLSClientAuthSANURI: "spiffe://passthru.test/kms", CanIntrospect: true}},
			{desc: "DNS SAN", c: identity.Client{ClientID: factory.Name("dns"), Name: "d", Kind: identity.KindService,
				TokenEndpointAuthMethod: identity.AuthTLSClientAuth, TLSClientAuthSANDNS: "kms.passthru.test"}},
			{desc: "secret post", c: identity.Client{ClientID: factory.Name("post"), Name: "p", Kind: identity.KindService,
				TokenEndpointAuthMethod: identity.AuthSecretPost, SecretHash: "h"}},
			{desc: "a secret client without a method is stored with the default", c: identity.Client{ClientID: factory.Name("def"), Name: "d",
				Kind: identity.KindService, SecretHash: "h"}, want: identity.AuthSecretBasic},
			{desc: "a public client without a method is stored as none", c: identity.Client{ClientID: factory.Name("pub"), Name: "p",
				Kind: identity.KindPublic}, want: identity.AuthNone},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				c := tc.c
				require.NoError(t, st.CreateClient(ctx, tenant, &c))
				got, err := st.Client(ctx, c.ClientID)
				require.NoError(t, err)
				want := tc.want
				if want == "" {
					want = tc.c.TokenEndpointAuthMethod
				}
				assert.Equal(t, want, got.TokenEndpointAuthMethod)
				assert.Equal(t, tc.c.TLSClientAuthSANURI, got.TLSClientAuthSANURI)
				assert.Equal(t, tc.c.TLSClientAuthSANDNS, got.TLSClientAuthSANDNS)
				assert.Equal(t, want == identity.AuthNone, got.Public())
			})
		}
	})
}
