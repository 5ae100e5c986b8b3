package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// userU and familyF stand for a user and a refresh family the rows of a
// test refer to without needing them to exist.
var (
	userU   = uuid.MustParse("01900000-0000-7000-8000-0000000000a1")
	familyF = uuid.MustParse("01900000-0000-7000-8000-0000000000f1")
)

func newStore(t *testing.T, b dbtest.Backend) (*store.Store, uuid.UUID) {
	t.Helper()
	st, err := store.New(t.Context(), dbtest.Open(t, b))
	require.NoError(t, err)
	tenant := factory.TenantID()
	require.NoError(t, st.CreateTenant(t.Context(), tenant, "t", true))
	return st, tenant
}

func TestStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		now := time.Now().UTC().Truncate(time.Second)
		require.NoError(t, st.Ping(ctx))

		t.Run("tenants", func(t *testing.T) {
			other := factory.TenantID()
			require.NoError(t, st.CreateTenant(ctx, other, "other", false))
			all, err := st.Tenants(ctx, false)
			require.NoError(t, err)
			assert.Len(t, all, 2)
			demo, err := st.Tenants(ctx, true)
			require.NoError(t, err)
			require.Len(t, demo, 1)
			assert.Equal(t, tenant, demo[0].ID)
			require.NoError(t, st.DeleteTenant(ctx, other))
			_, err = st.Users(ctx, other)
			assert.ErrorIs(t, err, store.ErrNotFound)
		})

		t.Run("clients", func(t *testing.T) {
			c := &identity.Client{ClientID: factory.Name("c"), Name: "n", Kind: identity.KindConfidential, SecretHash: "h",
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid"}, Audiences: []string{"identity", "kms"},
				RedirectURIs: []string{"https://a/cb"}, PostLogoutRedirectURIs: []string{"https://a/out"}}
			require.NoError(t, st.CreateClient(ctx, tenant, c))
			other := factory.TenantID()
			require.NoError(t, st.CreateTenant(ctx, other, "o", false))
			err := st.CreateClient(ctx, other, &identity.Client{ClientID: c.ClientID, Name: "dup", Kind: identity.KindPublic})
			assert.ErrorIs(t, err, store.ErrConflict, "client ids are unique across tenants")

			got, err := st.Client(ctx, c.ClientID)
			require.NoError(t, err)
			assert.Equal(t, tenant, got.TenantID)
			assert.True(t, got.AllowsGrant("refresh_token"))
			assert.False(t, got.AllowsGrant("client_credentials"))
			assert.Equal(t, "identity", got.DefaultAudience())
			assert.True(t, got.AllowsAudience("kms"))
			assert.False(t, got.Public())
			assert.Equal(t, []string{"https://a/out"}, got.PostLogoutRedirectURIs)
			_, err = st.TenantClient(ctx, other, c.ClientID)
			assert.ErrorIs(t, err, store.ErrNotFound)

			got.Disabled = true
			require.NoError(t, st.UpdateClient(ctx, tenant, got))
			again, _ := st.TenantClient(ctx, tenant, c.ClientID)
			assert.True(t, again.Disabled)
			assert.ErrorIs(t, st.UpdateClient(ctx, tenant, &identity.Client{ClientID: "missing"}), store.ErrNotFound)

			list, err := st.Clients(ctx, tenant)
			require.NoError(t, err)
			assert.Len(t, list, 1)
			require.NoError(t, st.DeleteClient(ctx, tenant, c.ClientID))
			_, err = st.Client(ctx, c.ClientID)
			assert.ErrorIs(t, err, store.ErrNotFound)
			assert.ErrorIs(t, st.DeleteClient(ctx, tenant, c.ClientID), store.ErrNotFound)
			_, err = st.Client(ctx, "never")
			assert.ErrorIs(t, err, store.ErrNotFound)
			assert.Equal(t, "", (&identity.Client{}).DefaultAudience())
		})

		t.Run("list fields", func(t *testing.T) {
			c := &identity.Client{ClientID: factory.Name("lists"), Name: "n", Kind: identity.KindService, SecretHash: "h",
				Scopes: []string{"b", "a"}, Audiences: []string{"kms", "identity"}}
			require.NoError(t, st.CreateClient(ctx, tenant, c))
			got, err := st.TenantClient(ctx, tenant, c.ClientID)
			require.NoError(t, err)
			assert.Equal(t, []string{"kms", "identity"}, got.Audiences, "order kept: the first is the default audience")
			assert.Equal(t, []string{"b", "a"}, got.Scopes)

			for _, tc := range []struct {
				desc string
				edit func(c *identity.Client)
			}{
				{"space in a redirect URI", func(c *identity.Client) { c.RedirectURIs = []string{"https://a/cb https://evil/cb"} }},
				{"empty scope", func(c *identity.Client) { c.Scopes = []string{"openid", ""} }},
				{"tab in an audience", func(c *identity.Client) { c.Audiences = []string{"kms\tx"} }},
				{"newline in a grant type", func(c *identity.Client) { c.GrantTypes = []string{"refresh_token\n"} }},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					bad := &identity.Client{ClientID: factory.Name("bad"), Name: "n", Kind: identity.KindPublic}
					tc.edit(bad)
					assert.ErrorIs(t, st.CreateClient(ctx, tenant, bad), store.ErrInvalid)
					_, err := st.Client(ctx, bad.ClientID)
					assert.ErrorIs(t, err, store.ErrNotFound, "nothing stored, not even the index row")

					upd := *got
					tc.edit(&upd)
					assert.ErrorIs(t, st.UpdateClient(ctx, tenant, &upd), store.ErrInvalid)
					again, err := st.TenantClient(ctx, tenant, c.ClientID)
					require.NoError(t, err)
					assert.Equal(t, got.Scopes, again.Scopes, "unchanged")
					assert.Equal(t, got.Audiences, again.Audiences, "unchanged")
				})
			}

			u := &identity.User{ID: ids.NewEntity(), Username: factory.Name("roles"), PasswordHash: "h", Roles: []string{"admin ops"}}
			assert.ErrorIs(t, st.CreateUser(ctx, tenant, u), store.ErrInvalid)
			_, err = st.UserByUsername(ctx, tenant, u.Username)
			assert.ErrorIs(t, err, store.ErrNotFound)
			u.Roles = []string{"admin"}
			require.NoError(t, st.CreateUser(ctx, tenant, u))
			u.Roles = []string{""}
			assert.ErrorIs(t, st.UpdateUser(ctx, tenant, u), store.ErrInvalid)
			gotU, err := st.User(ctx, tenant, u.ID)
			require.NoError(t, err)
			assert.Equal(t, []string{"admin"}, gotU.Roles)
		})

		t.Run("users and consents", func(t *testing.T) {
			u := &identity.User{ID: ids.NewEntity(), Username: factory.Name("u"), PasswordHash: "h", Roles: []string{"a", "b"}}
			require.NoError(t, st.CreateUser(ctx, tenant, u))
			assert.ErrorIs(t, st.CreateUser(ctx, tenant, &identity.User{ID: ids.NewEntity(), Username: u.Username, PasswordHash: "h"}), store.ErrConflict)
			got, err := st.UserByUsername(ctx, tenant, u.Username)
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "b"}, got.Roles)
			got.Email = "e@x"
			require.NoError(t, st.UpdateUser(ctx, tenant, got))
			again, err := st.User(ctx, tenant, u.ID)
			require.NoError(t, err)
			assert.Equal(t, "e@x", again.Email)
			assert.ErrorIs(t, st.UpdateUser(ctx, tenant, &identity.User{ID: ids.NewEntity()}), store.ErrNotFound)

			ok, err := st.HasConsent(ctx, tenant, u.ID, "c", "openid")
			require.NoError(t, err)
			assert.False(t, ok)
			require.NoError(t, st.SaveConsent(ctx, tenant, &identity.Consent{UserID: u.ID, ClientID: "c", ScopeKey: "openid"}))
			require.NoError(t, st.SaveConsent(ctx, tenant, &identity.Consent{UserID: u.ID, ClientID: "c", ScopeKey: "openid"}), "idempotent")
			ok, _ = st.HasConsent(ctx, tenant, u.ID, "c", "openid")
			assert.True(t, ok)

			require.NoError(t, st.SaveSession(ctx, &identity.Session{IDHash: "sess-" + u.ID.String(), TenantID: tenant, UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(time.Hour)}))
			users, err := st.Users(ctx, tenant)
			require.NoError(t, err)
			assert.NotEmpty(t, users)
			require.NoError(t, st.DeleteUser(ctx, tenant, u.ID))
			_, err = st.Session(ctx, "sess-"+u.ID.String())
			assert.ErrorIs(t, err, store.ErrNotFound, "sessions end with the user")
			ok, _ = st.HasConsent(ctx, tenant, u.ID, "c", "openid")
			assert.False(t, ok)
			assert.ErrorIs(t, st.DeleteUser(ctx, tenant, u.ID), store.ErrNotFound)
		})

		t.Run("codes are single use and replay revokes their grants", func(t *testing.T) {
			code := &identity.AuthCode{IDHash: factory.Name("code"), ClientID: "c", UserID: userU, RedirectURI: "r", Scope: "openid", CodeChallenge: "x", Audience: "identity", ExpiresAt: now.Add(time.Minute)}
			require.NoError(t, st.SaveCode(ctx, tenant, code))
			got, err := st.ConsumeCode(ctx, tenant, code.IDHash, now)
			require.NoError(t, err)
			assert.Equal(t, "c", got.ClientID)
			_, err = st.ConsumeCode(ctx, tenant, code.IDHash, now)
			assert.ErrorIs(t, err, store.ErrAlreadyUsed)
			_, err = st.ConsumeCode(ctx, tenant, "nope", now)
			assert.ErrorIs(t, err, store.ErrNotFound)

			fam := ids.NewEntity()
			require.NoError(t, st.SaveRefresh(ctx, tenant, &identity.RefreshToken{IDHash: factory.Name("rt"), FamilyID: fam, ClientID: "c", UserID: userU, Scope: "openid", Audience: "identity", CodeHash: code.IDHash, ExpiresAt: now.Add(time.Hour)}))
			jti := ids.NewEntity().String()
			require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: jti, ClientID: "c", Subject: userU.String(), FamilyID: fam, ExpiresAt: now.Add(time.Minute)}))
			require.NoError(t, st.RevokeCodeGrants(ctx, tenant, code.IDHash, now))
			a, err := st.Access(ctx, tenant, jti)
			require.NoError(t, err)
			assert.NotNil(t, a.RevokedAt, "access tokens of the family are revoked")
		})

		t.Run("refresh rotation is atomic", func(t *testing.T) {
			rt := &identity.RefreshToken{IDHash: factory.Name("rt"), FamilyID: ids.NewEntity(), ClientID: "c", UserID: userU, Scope: "openid", Audience: "identity", ExpiresAt: now.Add(time.Hour)}
			require.NoError(t, st.SaveRefresh(ctx, tenant, rt))
			require.NoError(t, st.ConsumeRefresh(ctx, tenant, rt.IDHash, now))
			assert.ErrorIs(t, st.ConsumeRefresh(ctx, tenant, rt.IDHash, now), store.ErrAlreadyUsed)
			require.NoError(t, st.RevokeFamily(ctx, tenant, rt.FamilyID, now))
			got, err := st.Refresh(ctx, tenant, rt.IDHash)
			require.NoError(t, err)
			assert.NotNil(t, got.RevokedAt)
			_, err = st.Refresh(ctx, tenant, "nope")
			assert.ErrorIs(t, err, store.ErrNotFound)
			jti := ids.NewEntity().String()
			require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: jti, ClientID: "c", Subject: userU.String(), ExpiresAt: now.Add(time.Minute)}))
			require.NoError(t, st.RevokeAccess(ctx, tenant, jti, now))
			a, _ := st.Access(ctx, tenant, jti)
			assert.NotNil(t, a.RevokedAt)
			_, err = st.Access(ctx, tenant, "nope")
			assert.ErrorIs(t, err, store.ErrNotFound)
		})

		t.Run("authorization requests complete once", func(t *testing.T) {
			r := &identity.AuthRequest{IDHash: factory.Name("req"), TenantID: tenant, ClientID: "c", RedirectURI: "r", Scope: "openid", CodeChallenge: "x", Audience: "identity", ExpiresAt: now.Add(time.Minute)}
			require.NoError(t, st.SaveAuthRequest(ctx, r))
			got, err := st.AuthRequest(ctx, r.IDHash)
			require.NoError(t, err)
			assert.Equal(t, "c", got.ClientID)
			ok, err := st.DeleteAuthRequest(ctx, r.IDHash)
			require.NoError(t, err)
			assert.True(t, ok)
			ok, err = st.DeleteAuthRequest(ctx, r.IDHash)
			require.NoError(t, err)
			assert.False(t, ok)
			require.NoError(t, st.DeleteSession(ctx, "nope"))
		})

		t.Run("signing keys", func(t *testing.T) {
			k := &identity.SigningKey{KID: factory.Name("k"), Algorithm: "ES256", PublicDER: []byte{1}, WrappedPrivate: []byte{2}, PublishedAt: now, SignsFrom: now}
			saved, err := st.SaveSigningKey(ctx, k, "")
			require.NoError(t, err)
			require.True(t, saved)
			// A key made from a set that has changed since is not stored.
			saved, err = st.SaveSigningKey(ctx, &identity.SigningKey{KID: factory.Name("k"), Algorithm: "ES256", PublicDER: []byte{1}, WrappedPrivate: []byte{2}, PublishedAt: now, SignsFrom: now}, "")
			require.NoError(t, err)
			require.False(t, saved)
			keys, err := st.SigningKeys(ctx)
			require.NoError(t, err)
			require.Len(t, keys, 1)
			require.NoError(t, st.DeleteSigningKey(ctx, k.KID))
			keys, _ = st.SigningKeys(ctx)
			assert.Empty(t, keys)
		})
	})
}

func TestStoreErrors(t *testing.T) {
	ctx := t.Context()
	d := dbtest.Open(t, dbtest.SQLite)
	st, err := store.New(ctx, d)
	require.NoError(t, err)
	unknown := factory.TenantID()
	now := time.Now()
	calls := []struct {
		desc string
		call func() error
	}{
		{desc: "CreateClient", call: func() error { return st.CreateClient(ctx, unknown, &identity.Client{ClientID: "x"}) }},
		{desc: "TenantClient", call: func() error { _, err := st.TenantClient(ctx, unknown, "x"); return err }},
		{desc: "Clients", call: func() error { _, err := st.Clients(ctx, unknown); return err }},
		{desc: "UpdateClient", call: func() error { return st.UpdateClient(ctx, unknown, &identity.Client{ClientID: "x"}) }},
		{desc: "DeleteClient", call: func() error { return st.DeleteClient(ctx, unknown, "x") }},
		{desc: "CreateUser", call: func() error { return st.CreateUser(ctx, unknown, &identity.User{}) }},
		{desc: "User", call: func() error { _, err := st.User(ctx, unknown, userU); return err }},
		{desc: "UpdateUser", call: func() error { return st.UpdateUser(ctx, unknown, &identity.User{}) }},
		{desc: "DeleteUser", call: func() error { return st.DeleteUser(ctx, unknown, userU) }},
		{desc: "HasConsent", call: func() error { _, err := st.HasConsent(ctx, unknown, userU, "c", "s"); return err }},
		{desc: "SaveConsent", call: func() error { return st.SaveConsent(ctx, unknown, &identity.Consent{}) }},
		{desc: "SaveCode", call: func() error { return st.SaveCode(ctx, unknown, &identity.AuthCode{}) }},
		{desc: "ConsumeCode", call: func() error { _, err := st.ConsumeCode(ctx, unknown, "x", now); return err }},
		{desc: "RevokeCodeGrants", call: func() error { return st.RevokeCodeGrants(ctx, unknown, "x", now) }},
		{desc: "SaveRefresh", call: func() error { return st.SaveRefresh(ctx, unknown, &identity.RefreshToken{}) }},
		{desc: "Refresh", call: func() error { _, err := st.Refresh(ctx, unknown, "x"); return err }},
		{desc: "ConsumeRefresh", call: func() error { return st.ConsumeRefresh(ctx, unknown, "x", now) }},
		{desc: "WithTx", call: func() error { return st.WithTx(ctx, unknown, func(context.Context) error { return nil }) }},
		{desc: "RevokeFamily", call: func() error { return st.RevokeFamily(ctx, unknown, familyF, now) }},
		{desc: "SaveAccess", call: func() error { return st.SaveAccess(ctx, unknown, &identity.AccessToken{}) }},
		{desc: "Access", call: func() error { _, err := st.Access(ctx, unknown, "x"); return err }},
		{desc: "RevokeAccess", call: func() error { return st.RevokeAccess(ctx, unknown, "x", now) }},
	}
	for _, tc := range calls {
		t.Run("unknown tenant: "+tc.desc, func(t *testing.T) {
			assert.ErrorIs(t, tc.call(), store.ErrNotFound)
		})
	}

	// A closed database fails every call with an error, never a panic.
	require.NoError(t, d.Close())
	for _, tc := range []struct {
		desc string
		call func() error
	}{
		{desc: "SaveSession", call: func() error { return st.SaveSession(ctx, &identity.Session{IDHash: "x"}) }},
		{desc: "DeleteSession", call: func() error { return st.DeleteSession(ctx, "x") }},
		{desc: "SaveAuthRequest", call: func() error { return st.SaveAuthRequest(ctx, &identity.AuthRequest{IDHash: "x"}) }},
		{desc: "DeleteAuthRequest", call: func() error { _, err := st.DeleteAuthRequest(ctx, "x"); return err }},
		{desc: "SaveSigningKey", call: func() error { _, err := st.SaveSigningKey(ctx, &identity.SigningKey{KID: "x"}, ""); return err }},
		{desc: "SigningKeys", call: func() error { _, err := st.SigningKeys(ctx); return err }},
		{desc: "DeleteSigningKey", call: func() error { return st.DeleteSigningKey(ctx, "x") }},
		{desc: "Tenants", call: func() error { _, err := st.Tenants(ctx, false); return err }},
		{desc: "Client", call: func() error { _, err := st.Client(ctx, "x"); return err }},
		{desc: "CreateTenant", call: func() error { return st.CreateTenant(ctx, factory.TenantID(), "x", false) }},
		{desc: "DeleteTenant", call: func() error { return st.DeleteTenant(ctx, factory.TenantID()) }},
	} {
		t.Run("closed database: "+tc.desc, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			assert.NotErrorIs(t, err, store.ErrNotFound)
		})
	}
}

func TestClientLists(t *testing.T) {
	c := &identity.Client{RedirectURIs: []string{"https://a/cb", "http://127.0.0.1/cb"}, Scopes: []string{"openid", "profile"}, GrantTypes: []string{}}
	for _, tc := range []struct {
		desc string
		got  []string
		want []string
	}{
		{desc: "redirect URIs", got: c.RedirectURIs, want: []string{"https://a/cb", "http://127.0.0.1/cb"}},
		{desc: "scopes", got: c.Scopes, want: []string{"openid", "profile"}},
		{desc: "no grants", got: c.GrantTypes, want: []string{}},
	} {
		t.Run(tc.desc, func(t *testing.T) { assert.Equal(t, tc.want, tc.got) })
	}
	assert.True(t, c.Public())
}

func TestSingleUseUnderConcurrency(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		now := time.Now()
		code := &identity.AuthCode{IDHash: factory.Name("code"), ClientID: "c", UserID: userU, RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: now.Add(time.Minute)}
		require.NoError(t, st.SaveCode(ctx, tenant, code))
		rt := &identity.RefreshToken{IDHash: factory.Name("rt"), FamilyID: familyF, ClientID: "c", UserID: userU, Scope: "s", Audience: "a", ExpiresAt: now.Add(time.Hour)}
		require.NoError(t, st.SaveRefresh(ctx, tenant, rt))
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		codeWins, refreshWins := 0, 0
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, codeErr := st.ConsumeCode(ctx, tenant, code.IDHash, now)
				refreshErr := st.ConsumeRefresh(ctx, tenant, rt.IDHash, now)
				mu.Lock()
				defer mu.Unlock()
				for _, tc := range []struct {
					err  error
					wins *int
				}{{codeErr, &codeWins}, {refreshErr, &refreshWins}} {
					if tc.err == nil {
						*tc.wins++
					} else {
						assert.ErrorIs(t, tc.err, store.ErrAlreadyUsed)
					}
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, codeWins, "exactly one exchange of a code wins")
		assert.Equal(t, 1, refreshWins, "exactly one use of a refresh token wins")
	})
}

func TestPurgeExpired(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		now := time.Now().UTC()
		past, future := now.Add(-time.Hour), now.Add(time.Hour)
		require.NoError(t, st.SaveSession(ctx, &identity.Session{IDHash: "old", TenantID: tenant, UserID: userU, ExpiresAt: past}))
		require.NoError(t, st.SaveSession(ctx, &identity.Session{IDHash: "live", TenantID: tenant, UserID: userU, ExpiresAt: future}))
		require.NoError(t, st.SaveAuthRequest(ctx, &identity.AuthRequest{IDHash: "old", TenantID: tenant, ClientID: "c", RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: past}))
		require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: "old", ClientID: "c", Subject: "s", ExpiresAt: past}))
		require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: "live", ClientID: "c", Subject: "s", ExpiresAt: future}))
		require.NoError(t, st.SaveRefresh(ctx, tenant, &identity.RefreshToken{IDHash: "old", FamilyID: familyF, ClientID: "c", UserID: userU, Scope: "s", Audience: "a", ExpiresAt: past}))
		require.NoError(t, st.SaveCode(ctx, tenant, &identity.AuthCode{IDHash: "recent", ClientID: "c", UserID: userU, RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: past}))
		require.NoError(t, st.SaveCode(ctx, tenant, &identity.AuthCode{IDHash: "ancient", ClientID: "c", UserID: userU, RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: now.Add(-48 * time.Hour)}))

		require.NoError(t, st.PurgeExpired(ctx, now, 24*time.Hour))
		for _, tc := range []struct {
			desc  string
			check func() error
			gone  bool
		}{
			{desc: "expired session", check: func() error { _, err := st.Session(ctx, "old"); return err }, gone: true},
			{desc: "live session", check: func() error { _, err := st.Session(ctx, "live"); return err }},
			{desc: "expired request", check: func() error { _, err := st.AuthRequest(ctx, "old"); return err }, gone: true},
			{desc: "expired access record", check: func() error { _, err := st.Access(ctx, tenant, "old"); return err }, gone: true},
			{desc: "live access record", check: func() error { _, err := st.Access(ctx, tenant, "live"); return err }},
			{desc: "expired refresh token", check: func() error { _, err := st.Refresh(ctx, tenant, "old"); return err }, gone: true},
			{desc: "recently expired code is kept for replay detection", check: func() error { _, err := st.ConsumeCode(ctx, tenant, "recent", now); return err }},
			{desc: "ancient code", check: func() error { _, err := st.ConsumeCode(ctx, tenant, "ancient", now); return err }, gone: true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				err := tc.check()
				if tc.gone {
					assert.ErrorIs(t, err, store.ErrNotFound)
				} else {
					assert.NoError(t, err)
				}
			})
		}
	})
}

func TestRevokeUserGrants(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		now := time.Now().UTC()
		user, other := ids.NewEntity(), ids.NewEntity()
		for _, id := range []uuid.UUID{user, other} {
			u := id.String()
			require.NoError(t, st.SaveSession(ctx, &identity.Session{IDHash: "sess-" + u, TenantID: tenant, UserID: id, AuthTime: now, ExpiresAt: now.Add(time.Hour)}))
			require.NoError(t, st.SaveCode(ctx, tenant, &identity.AuthCode{IDHash: "code-" + u, ClientID: "c", UserID: id, RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: now.Add(time.Minute)}))
			require.NoError(t, st.SaveRefresh(ctx, tenant, &identity.RefreshToken{IDHash: "rt-" + u, FamilyID: ids.NewEntity(), ClientID: "c", UserID: id, Scope: "s", Audience: "a", ExpiresAt: now.Add(time.Hour)}))
			require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: "at-" + u, ClientID: "c", Subject: u, ExpiresAt: now.Add(time.Minute)}))
		}
		require.NoError(t, st.RevokeUserGrants(ctx, tenant, user, now))

		for _, tc := range []struct {
			desc    string
			user    string
			revoked bool
		}{
			{desc: "the user's state is gone or revoked", user: user.String(), revoked: true},
			{desc: "another user's state is untouched", user: other.String()},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				_, err := st.Session(ctx, "sess-"+tc.user)
				assert.Equal(t, tc.revoked, errors.Is(err, store.ErrNotFound), "session")
				_, err = st.ConsumeCode(ctx, tenant, "code-"+tc.user, now)
				assert.Equal(t, tc.revoked, errors.Is(err, store.ErrNotFound), "unused code")
				rt, err := st.Refresh(ctx, tenant, "rt-"+tc.user)
				require.NoError(t, err)
				assert.Equal(t, tc.revoked, rt.RevokedAt != nil, "refresh token")
				at, err := st.Access(ctx, tenant, "at-"+tc.user)
				require.NoError(t, err)
				assert.Equal(t, tc.revoked, at.RevokedAt != nil, "access token")
			})
		}
		assert.ErrorIs(t, st.RevokeUserGrants(ctx, ids.NewTenant(), user, now), store.ErrNotFound)
	})
}

func TestRevokeCodeGrants(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		now := time.Now().UTC()
		code := &identity.AuthCode{IDHash: factory.Name("code"), ClientID: "c", UserID: userU, RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: now.Add(time.Minute)}
		require.NoError(t, st.SaveCode(ctx, tenant, code))
		fam := ids.NewEntity()
		rt := factory.Name("rt")
		require.NoError(t, st.SaveRefresh(ctx, tenant, &identity.RefreshToken{IDHash: rt, FamilyID: fam, ClientID: "c", UserID: userU, Scope: "s", Audience: "a", CodeHash: code.IDHash, ExpiresAt: now.Add(time.Hour)}))
		fromCode, fromFamily, other := ids.NewEntity().String(), ids.NewEntity().String(), ids.NewEntity().String()
		require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: fromCode, ClientID: "c", Subject: userU.String(), CodeHash: code.IDHash, ExpiresAt: now.Add(time.Minute)}))
		require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: fromFamily, ClientID: "c", Subject: userU.String(), FamilyID: fam, ExpiresAt: now.Add(time.Minute)}))
		require.NoError(t, st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: other, ClientID: "c", Subject: userU.String(), ExpiresAt: now.Add(time.Minute)}))
		require.NoError(t, st.RevokeCodeGrants(ctx, tenant, code.IDHash, now))
		// No family (uuid.Nil) never matches the family-less tokens of
		// client_credentials.
		require.NoError(t, st.RevokeFamily(ctx, tenant, uuid.Nil, now))

		for _, tc := range []struct {
			desc    string
			jti     string
			revoked bool
		}{
			{desc: "access token issued from the code", jti: fromCode, revoked: true},
			{desc: "access token of a family the code started", jti: fromFamily, revoked: true},
			{desc: "unrelated access token", jti: other},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				a, err := st.Access(ctx, tenant, tc.jti)
				require.NoError(t, err)
				assert.Equal(t, tc.revoked, a.RevokedAt != nil)
			})
		}
		r, err := st.Refresh(ctx, tenant, rt)
		require.NoError(t, err)
		assert.NotNil(t, r.RevokedAt, "the family's refresh token")
		assert.ErrorIs(t, st.RevokeCodeGrants(ctx, ids.NewTenant(), code.IDHash, now), store.ErrNotFound)
	})
}
