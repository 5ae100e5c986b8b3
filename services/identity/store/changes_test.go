package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// TestChangesRaiseTheGeneration checks that every change that withdraws a
// token, a client or a user's standing raises the tenant's generation,
// which another Store on the database reads, and this Store's local count,
// while reads and new grants raise neither.
func TestChangesRaiseTheGeneration(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, d, tenant := newStoreDB(t, b)
		replica, err := store.New(ctx, d)
		require.NoError(t, err)
		now := time.Now().UTC()

		start, err := replica.Generation(ctx, tenant)
		require.NoError(t, err)
		assert.Greater(t, start, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), "a new tenant starts at its creation time")
		user := &identity.User{ID: ids.NewEntity(), Username: factory.Name("u"), PasswordHash: "h"}
		require.NoError(t, st.CreateUser(ctx, tenant, user))
		client := &identity.Client{ClientID: factory.Name("c"), Name: "c", Kind: identity.KindService, SecretHash: "h"}
		require.NoError(t, st.CreateClient(ctx, tenant, client))
		code := newCode(t, st, tenant, user.ID, now)
		require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: "j1", ClientID: client.ClientID, Subject: client.ClientID, ExpiresAt: now.Add(time.Minute)}))
		_, err = st.Access(ctx, tenant, "j1")
		require.NoError(t, err)
		gen, err := replica.Generation(ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, start, gen, "creating and reading change nothing a cache holds")
		assert.Zero(t, st.LocalChanges(tenant))

		for i, tc := range []struct {
			desc   string
			change func() error
		}{
			{"revoke an access token", func() error { return st.RevokeAccess(ctx, tenant, "j1", now) }},
			{"revoke a family", func() error { return st.RevokeFamily(ctx, tenant, familyF, now) }},
			{"revoke a code's grants", func() error { return st.RevokeCodeGrants(ctx, tenant, code.IDHash, now) }},
			{"update a client", func() error { client.Disabled = true; return st.UpdateClient(ctx, tenant, client) }},
			{"update a user", func() error { user.Disabled = true; return st.UpdateUser(ctx, tenant, user) }},
			{"revoke a user's grants", func() error { return st.RevokeUserGrants(ctx, tenant, user.ID, now) }},
			{"delete a client", func() error { return st.DeleteClient(ctx, tenant, client.ClientID) }},
			{"delete a user", func() error { return st.DeleteUser(ctx, tenant, user.ID) }},
		} {
			require.NoError(t, tc.change(), tc.desc)
			gen, err := replica.Generation(ctx, tenant)
			require.NoError(t, err)
			assert.Equal(t, start+int64(i+1), gen, "%s: the other Store reads the raised generation", tc.desc)
			assert.Equal(t, uint64(i+1), st.LocalChanges(tenant), "%s: counted on this Store", tc.desc)
			assert.Zero(t, replica.LocalChanges(tenant), "%s: not counted on the other Store", tc.desc)
		}
	})
}

func TestChangesInsideWithTx(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, _, tenant := newStoreDB(t, b)
		now := time.Now().UTC()
		f1, f2 := ids.NewEntity(), ids.NewEntity()
		start, err := st.Generation(ctx, tenant)
		require.NoError(t, err)

		require.NoError(t, st.WithTx(ctx, tenant, func(ctx context.Context) error {
			require.NoError(t, st.RevokeFamily(ctx, tenant, f1, now))
			require.NoError(t, st.RevokeFamily(ctx, tenant, f2, now))
			assert.Zero(t, st.LocalChanges(tenant), "not counted before the commit")
			return nil
		}))
		gen, err := st.Generation(ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, start+1, gen, "one transaction raises the generation once")
		assert.Equal(t, uint64(1), st.LocalChanges(tenant))

		require.ErrorIs(t, st.WithTx(ctx, tenant, func(ctx context.Context) error {
			require.NoError(t, st.RevokeFamily(ctx, tenant, f1, now))
			return errBoom
		}), errBoom)
		gen, err = st.Generation(ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, start+1, gen, "a rolled back change raises nothing in the database")

		require.NoError(t, st.WithTx(ctx, tenant, func(ctx context.Context) error {
			return st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: "j", ClientID: "c", Subject: "c", ExpiresAt: now})
		}))
		gen, err = st.Generation(ctx, tenant)
		require.NoError(t, err)
		assert.Equal(t, start+1, gen, "a grant without revocation raises nothing")

		other := factory.TenantID()
		require.NoError(t, st.CreateTenant(ctx, other, "o", false))
		require.NoError(t, st.DeleteTenant(ctx, other))
		assert.Equal(t, uint64(1), st.LocalChanges(other), "deleting a tenant is a change of it")
		_, err = st.Generation(ctx, other)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}
