package realm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/kms/scope"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func newVerifier(t testing.TB, h password.Hasher, now func() time.Time) *credential.Verifier {
	t.Helper()
	v, err := credential.New(credential.Options{Hasher: h, Now: now, CacheTTL: 5 * time.Minute})
	require.NoError(t, err)
	return v
}

type basicEnv struct {
	basic  *Basic
	store  *UserStore
	clk    *clock
	tenant uuid.UUID
	user   *User
}

func newBasicEnv(t *testing.T, b dbtest.Backend) *basicEnv {
	t.Helper()
	ctx := t.Context()
	roles, err := NewRoles(DefaultRoles())
	require.NoError(t, err)
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store, err := NewUserStore(ctx, dbtest.Open(t, b).Gorm(), UserStoreOptions{Hasher: testHasher, Roles: roles})
	require.NoError(t, err)
	fileHash, err := testHasher.Hash("file-password")
	require.NoError(t, err)
	fr, err := NewFileRealm(Config{ID: "f", Name: "staff", Type: TypeFile, Users: []FileUser{
		{Username: "filer", PasswordHash: fileHash, Roles: []string{"reader"}, TenantID: tenantA},
	}}, testHasher)
	require.NoError(t, err)
	basic, err := NewBasic(BasicOptions{Realms: []Realm{fr, store.Realm("local")}, Roles: roles, Verifier: newVerifier(t, testHasher, clk.Now), ChallengeRealm: "kms"})
	require.NoError(t, err)
	tenant := uuid.New()
	u, err := store.Create(ctx, NewUser{Realm: "local", Username: "alice", Password: "alice-password", Roles: []string{"writer"}, TenantID: tenant, Enabled: true})
	require.NoError(t, err)
	return &basicEnv{basic: basic, store: store, clk: clk, tenant: tenant, user: u}
}

func basicRequest(user, pass string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r
}

func TestBasic(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		env := newBasicEnv(t, b)
		tests := []struct {
			desc    string
			req     func() *http.Request
			wantErr error
			subject string
			roles   []string
			scope   string
		}{
			{desc: "no header", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }, wantErr: authn.ErrNoCredentials},
			{desc: "other scheme", req: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Authorization", "Bearer abc")
				return r
			}, wantErr: authn.ErrNoCredentials},
			{desc: "malformed basic", req: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("Authorization", "Basic !!!")
				return r
			}, wantErr: authn.ErrInvalidCredentials},
			{desc: "database user", req: func() *http.Request { return basicRequest("alice", "alice-password") }, subject: "alice", roles: []string{"writer"}, scope: scope.Encrypt},
			{desc: "file user", req: func() *http.Request { return basicRequest("filer", "file-password") }, subject: "filer", roles: []string{"reader"}, scope: scope.KeysRead},
			{desc: "wrong password", req: func() *http.Request { return basicRequest("alice", "nope") }, wantErr: authn.ErrInvalidCredentials},
			{desc: "unknown user", req: func() *http.Request { return basicRequest("nobody", "alice-password") }, wantErr: authn.ErrInvalidCredentials},
			{desc: "NUL after the right password", req: func() *http.Request { return basicRequest("alice", "alice-password\x00") }, wantErr: authn.ErrInvalidCredentials},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				p, err := env.basic.Authenticate(tc.req())
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
					assert.Nil(t, p)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tc.subject, p.Subject)
				assert.Equal(t, authn.MethodBasic, p.Method)
				assert.Equal(t, tc.roles, p.Roles)
				assert.True(t, p.HasScope(tc.scope))
			})
		}
		assert.Equal(t, `Basic realm="kms", charset="UTF-8"`, env.basic.Challenge())
		assert.Equal(t, env.basic.PasswordChecks(), env.basic.Verifier().Checks(), "one counter")
	})
}

// TestBasicCacheAvoidsPBKDF2 proves the point of the cache: a repeated
// request with the same credentials costs no PBKDF2, and every event that
// must end the cached state does.
func TestBasicCacheAvoidsPBKDF2(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		env := newBasicEnv(t, b)
		auth := func(pass string) error {
			_, err := env.basic.Authenticate(basicRequest("alice", pass))
			return err
		}
		require.NoError(t, auth("alice-password"))
		n := env.basic.PasswordChecks()
		assert.Equal(t, int64(1), n)
		for range 5 {
			require.NoError(t, auth("alice-password"))
		}
		assert.Equal(t, n, env.basic.PasswordChecks(), "cached credentials must not pay PBKDF2 again")

		require.ErrorIs(t, auth("wrong-password"), authn.ErrInvalidCredentials)
		assert.Equal(t, n+1, env.basic.PasswordChecks(), "a wrong password is always verified")
		n++

		env.clk.Advance(5 * time.Minute)
		require.NoError(t, auth("alice-password"))
		assert.Equal(t, n+1, env.basic.PasswordChecks(), "expired entry verifies again")
		n++

		_, err := env.store.ChangePassword(ctx, env.tenant, env.user.ID, "new-password-1")
		require.NoError(t, err)
		require.ErrorIs(t, auth("alice-password"), authn.ErrInvalidCredentials, "old password dead after change")
		require.NoError(t, auth("new-password-1"))
		n = env.basic.PasswordChecks()
		require.NoError(t, auth("new-password-1"))
		assert.Equal(t, n, env.basic.PasswordChecks())

		_, err = env.store.Disable(ctx, env.tenant, env.user.ID)
		require.NoError(t, err)
		require.ErrorIs(t, auth("new-password-1"), authn.ErrInvalidCredentials, "disabled user refused at once")

		enabled := true
		_, err = env.store.Update(ctx, env.tenant, env.user.ID, UserPatch{Enabled: &enabled})
		require.NoError(t, err)
		require.NoError(t, auth("new-password-1"))
		require.NoError(t, env.store.Delete(ctx, env.tenant, env.user.ID))
		require.ErrorIs(t, auth("new-password-1"), authn.ErrInvalidCredentials, "deleted user refused at once")
	})
}

// TestBasicUnknownUserCostsPBKDF2 checks that an unknown user spends a
// dummy verification, like a wrong password does.
func TestBasicUnknownUserCostsPBKDF2(t *testing.T) {
	env := newBasicEnv(t, dbtest.SQLite)
	before := env.basic.PasswordChecks()
	_, err := env.basic.Authenticate(basicRequest("ghost", "whatever-pass"))
	require.ErrorIs(t, err, authn.ErrInvalidCredentials)
	assert.Equal(t, before+1, env.basic.PasswordChecks())
}

func TestNewBasicNeedsRolesAndVerifier(t *testing.T) {
	_, err := NewBasic(BasicOptions{})
	require.Error(t, err)
	roles, err := NewRoles(DefaultRoles())
	require.NoError(t, err)
	_, err = NewBasic(BasicOptions{Roles: roles})
	require.Error(t, err)
}

func BenchmarkBasicCached(b *testing.B) {
	roles, err := NewRoles(DefaultRoles())
	require.NoError(b, err)
	h := password.Hasher{} // production cost: the cache is what makes this cheap
	hash, err := h.Hash("bench-password")
	require.NoError(b, err)
	fr, err := NewFileRealm(Config{ID: "f", Name: "f", Type: TypeFile, Users: []FileUser{
		{Username: "bench", PasswordHash: hash, Roles: []string{"reader"}, TenantID: tenantA},
	}}, h)
	require.NoError(b, err)
	basic, err := NewBasic(BasicOptions{Realms: []Realm{fr}, Roles: roles, Verifier: newVerifier(b, h, nil)})
	require.NoError(b, err)
	req := basicRequest("bench", "bench-password")
	_, err = basic.Authenticate(req)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := basic.Authenticate(req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(basic.PasswordChecks()-1)/float64(b.N), "pbkdf2/op")
}

func TestUserStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		env := newBasicEnv(t, b)
		s := env.store
		other := uuid.New()

		_, err := s.Create(ctx, NewUser{Realm: "local", Username: "alice", Password: "another-pass", Roles: []string{"reader"}, TenantID: other, Enabled: true})
		require.ErrorIs(t, err, ErrUserExists, "username unique per realm across tenants")
		_, err = s.Create(ctx, NewUser{Realm: "other", Username: "alice", Password: "another-pass", Roles: []string{"reader"}, TenantID: other, Enabled: true})
		require.ErrorIs(t, err, ErrUserExists, "a username is unique across realms: another realm's alice would shadow this one")

		bad := []struct {
			desc string
			nu   NewUser
		}{
			{desc: "no realm", nu: NewUser{Username: "x", Password: "password1", TenantID: other}},
			{desc: "bad username", nu: NewUser{Realm: "local", Username: "a:b", Password: "password1", TenantID: other}},
			{desc: "short password", nu: NewUser{Realm: "local", Username: "x", Password: "short", TenantID: other}},
			{desc: "control character in password", nu: NewUser{Realm: "local", Username: "x", Password: "pass\tword1", TenantID: other}},
			{desc: "unknown role", nu: NewUser{Realm: "local", Username: "x", Password: "password1", Roles: []string{"boss"}, TenantID: other}},
			{desc: "no tenant", nu: NewUser{Realm: "local", Username: "x", Password: "password1"}},
			{desc: "metadata not object", nu: NewUser{Realm: "local", Username: "x", Password: "password1", TenantID: other, Metadata: []byte(`[1]`)}},
			{desc: "metadata over 16 KiB", nu: NewUser{Realm: "local", Username: "x", Password: "password1", TenantID: other, Metadata: []byte(`{"k":"` + strings.Repeat("x", 16<<10) + `"}`)}},
			{desc: "email too long", nu: NewUser{Realm: "local", Username: "x", Password: "password1", TenantID: other, Email: string(make([]byte, 400))}},
		}
		for _, tc := range bad {
			t.Run(tc.desc, func(t *testing.T) {
				_, err := s.Create(ctx, tc.nu)
				require.ErrorIs(t, err, ErrInvalidUser)
			})
		}

		got, err := s.Get(ctx, env.tenant, env.user.ID)
		require.NoError(t, err)
		assert.Equal(t, "alice", got.Username)
		assert.Equal(t, []string{"writer"}, got.Roles)
		_, err = s.Get(ctx, other, env.user.ID)
		require.ErrorIs(t, err, ErrUserNotFound, "another tenant's user is not found")

		for i := range 3 {
			_, err := s.Create(ctx, NewUser{Realm: "local", Username: "u" + string(rune('0'+i)), Password: "password1", TenantID: env.tenant, Enabled: true})
			require.NoError(t, err)
		}
		page1, err := s.List(ctx, env.tenant, uuid.Nil, 2)
		require.NoError(t, err)
		require.Len(t, page1, 2)
		page2, err := s.List(ctx, env.tenant, page1[1].ID, 10)
		require.NoError(t, err)
		assert.Len(t, page2, 2)

		roles := []string{"admin"}
		email, name := "a@example.com", "Alice"
		meta := []byte(`{"k":"v"}`)
		metaRaw := jsonRaw(meta)
		u, err := s.Update(ctx, env.tenant, env.user.ID, UserPatch{Roles: &roles, Email: &email, DisplayName: &name, Metadata: &metaRaw})
		require.NoError(t, err)
		assert.Equal(t, roles, u.Roles)
		assert.Equal(t, email, u.Email)
		assert.JSONEq(t, `{"k":"v"}`, string(u.Metadata))
		badRoles := []string{"boss"}
		_, err = s.Update(ctx, env.tenant, env.user.ID, UserPatch{Roles: &badRoles})
		require.ErrorIs(t, err, ErrInvalidUser)
		_, err = s.Update(ctx, other, env.user.ID, UserPatch{Email: &email})
		require.ErrorIs(t, err, ErrUserNotFound)
		_, err = s.ChangePassword(ctx, env.tenant, env.user.ID, "x")
		require.ErrorIs(t, err, ErrInvalidUser)
		require.ErrorIs(t, s.Delete(ctx, other, env.user.ID), ErrUserNotFound)

		require.NoError(t, s.DeleteTenant(ctx, env.tenant))
		left, err := s.List(ctx, env.tenant, uuid.Nil, 10)
		require.NoError(t, err)
		assert.Empty(t, left)
		_, err = NewUserStore(ctx, dbtest.Open(t, b).Gorm(), UserStoreOptions{})
		require.Error(t, err, "roles are required")
	})
}

func jsonRaw(b []byte) json.RawMessage { return json.RawMessage(b) }

// TestUsernamesCannotShadowOtherRealms: an administrator cannot create, in
// a realm consulted earlier, a user named like another tenant's user of a
// later realm (or of a file realm) and so lock that user out.
func TestUsernamesCannotShadowOtherRealms(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		roles, err := NewRoles(DefaultRoles())
		require.NoError(t, err)
		reserved := map[string]bool{"filer": true}
		store, err := NewUserStore(ctx, dbtest.Open(t, b).Gorm(), UserStoreOptions{
			Hasher: testHasher, Roles: roles, Reserved: func(u string) bool { return reserved[u] },
		})
		require.NoError(t, err)
		victimTenant, attackerTenant := uuid.New(), uuid.New()
		_, err = store.Create(ctx, NewUser{Realm: "demo", Username: "victim", Password: "victim-password", Roles: []string{"admin"}, TenantID: victimTenant, Enabled: true})
		require.NoError(t, err)
		basic, err := NewBasic(BasicOptions{Realms: []Realm{store.Realm("local"), store.Realm("demo")}, Roles: roles, Verifier: newVerifier(t, testHasher, nil)})
		require.NoError(t, err)

		tests := []struct {
			desc     string
			username string
		}{
			{desc: "a later database realm's user", username: "victim"},
			{desc: "a file realm's user", username: "filer"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				_, err := store.Create(ctx, NewUser{Realm: "local", Username: tc.username, Password: "attacker-password", Roles: []string{"reader"}, TenantID: attackerTenant, Enabled: true})
				require.ErrorIs(t, err, ErrUserExists)
			})
		}
		p, err := basic.Authenticate(basicRequest("victim", "victim-password"))
		require.NoError(t, err, "the victim still logs in")
		assert.Equal(t, victimTenant, p.TenantID)
		_, err = basic.Authenticate(basicRequest("victim", "attacker-password"))
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
	})
}

// TestUsernameTenantSuffix: the "@tenant" part of a new username must name
// the creator's own tenant. Otherwise an administrator could squat another
// tenant's names (newhire@b, created by a's admin, blocks b from it), and
// the conflict b's admin then gets would tell b about a's users. The
// refusal is the same whether or not the name exists, so it reveals nothing.
func TestUsernameTenantSuffix(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		roles, err := NewRoles(DefaultRoles())
		require.NoError(t, err)
		tenantA, tenantB := uuid.New(), uuid.New()
		names := map[uuid.UUID]string{tenantA: "tenant-a", tenantB: "tenant-b"}
		store, err := NewUserStore(ctx, dbtest.Open(t, b).Gorm(), UserStoreOptions{
			Hasher: testHasher, Roles: roles,
			TenantName: func(_ context.Context, id uuid.UUID) (string, error) { return names[id], nil },
		})
		require.NoError(t, err)
		create := func(tenant uuid.UUID, username string) (*User, error) {
			return store.Create(ctx, NewUser{Realm: "local", Username: username, Password: "long-enough-pw", Roles: []string{"reader"}, TenantID: tenant, Enabled: true})
		}

		_, err = create(tenantA, "newhire@tenant-b")
		require.ErrorIs(t, err, ErrInvalidUser, "a's admin cannot take a name of b")
		assert.NotErrorIs(t, err, ErrUserExists)
		for _, name := range []string{"newhire@tenant-a@tenant-b", "newhire@", "newhire@Tenant-A", "newhire@tenant-a "} {
			_, err = create(tenantA, name)
			require.ErrorIs(t, err, ErrInvalidUser, name)
		}
		left, err := store.List(ctx, tenantA, uuid.Nil, 10)
		require.NoError(t, err)
		assert.Empty(t, left, "nothing stored")

		taken, err := create(tenantB, "newhire@tenant-b")
		require.NoError(t, err, "b keeps its names")
		_, err = create(tenantA, "newhire@tenant-b")
		require.ErrorIs(t, err, ErrInvalidUser, "the same refusal when b has the name: nothing about b is revealed")
		assert.NotErrorIs(t, err, ErrUserExists)

		mine, err := create(tenantA, "newhire@tenant-a")
		require.NoError(t, err, "a's own suffix works")
		assert.Equal(t, tenantA, mine.TenantID)
		_, err = create(tenantA, "newhire@tenant-a")
		require.ErrorIs(t, err, ErrUserExists, "a conflict within the own tenant is still reported")

		// The other operations are scoped by tenant: a never reaches b's user.
		_, err = store.Get(ctx, tenantA, taken.ID)
		require.ErrorIs(t, err, ErrUserNotFound)
		email := "x@example.com"
		_, err = store.Update(ctx, tenantA, taken.ID, UserPatch{Email: &email})
		require.ErrorIs(t, err, ErrUserNotFound)
		_, err = store.ChangePassword(ctx, tenantA, taken.ID, "another-password")
		require.ErrorIs(t, err, ErrUserNotFound)
		require.ErrorIs(t, store.Delete(ctx, tenantA, taken.ID), ErrUserNotFound)
		list, err := store.List(ctx, tenantA, uuid.Nil, 10)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, mine.ID, list[0].ID)
		still, err := store.Get(ctx, tenantB, taken.ID)
		require.NoError(t, err)
		assert.Empty(t, still.Email, "b's user is unchanged")
	})
}
