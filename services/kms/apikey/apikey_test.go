package apikey

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/scope"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// clock is a settable time source.
// countingStore counts the lookups that reach the store.
type countingStore struct {
	Store
	lookups atomic.Int64
}

func (s *countingStore) LookupAPIKey(ctx context.Context, id uuid.UUID) (*kms.APIKey, error) {
	s.lookups.Add(1)
	return s.Store.LookupAPIKey(ctx, id)
}

type env struct {
	store   *countingStore
	barrier *barrier.Barrier
	clock   *clock.Fake
	svc     *Service
	tenant  uuid.UUID
	admin   *authn.Principal
}

func newEnv(t *testing.T, b dbtest.Backend) *env {
	t.Helper()
	ctx := t.Context()
	d := dbtest.Open(t, b)
	br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("a-test-unseal-secret-of-32-bytes!!")}})
	require.NoError(t, err)
	st, err := sqlstore.New(ctx, d)
	require.NoError(t, err)
	tenant := factory.TenantID()
	require.NoError(t, st.CreateTenant(ctx, &kms.Tenant{ID: tenant, Name: factory.Name("tenant"), CreatedAt: time.Now()}))
	e := &env{store: &countingStore{Store: st}, barrier: br, clock: clock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), tenant: tenant}
	e.svc = e.replica(t)
	e.admin = &authn.Principal{Subject: "alice", TenantID: tenant, Method: authn.MethodBasic, Scopes: scope.Expand([]string{scope.Admin})}
	return e
}

// replica is another Service on the same database, as another process would run.
func (e *env) replica(t *testing.T) *Service {
	t.Helper()
	s, err := New(t.Context(), Options{Store: e.store, Barrier: e.barrier, Now: e.clock.Now})
	require.NoError(t, err)
	return s
}

func (e *env) create(t *testing.T, scopes ...string) (*kms.APIKey, string) {
	t.Helper()
	k, secret, err := e.svc.Create(t.Context(), e.admin, NewKey{Name: factory.Name("api key"), Scopes: scopes})
	require.NoError(t, err)
	return k, secret
}

func request(ctx context.Context, values ...string) *http.Request {
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	for _, v := range values {
		r.Header.Add(Header, v)
	}
	return r
}

var keyShape = regexp.MustCompile(`^pk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$`)

func TestCreateAndAuthenticate(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, b)
		k, presented := e.create(t, scope.Encrypt, scope.Read, scope.Encrypt)
		assert.Regexp(t, keyShape, presented)
		assert.Contains(t, presented, strings.ReplaceAll(k.ID.String(), "-", ""), "the id locates the key")
		assert.Equal(t, []string{scope.Encrypt, scope.Read}, k.Scopes, "sorted, without repeats")
		assert.Equal(t, "alice", k.CreatedBy)
		assert.Equal(t, e.tenant, k.TenantID)
		assert.Len(t, k.Hash, 32)
		assert.NotContains(t, string(k.Hash), presented[len(presented)-43:], "the secret is not stored")

		p, err := e.svc.Authenticator().Authenticate(request(t.Context(), presented))
		require.NoError(t, err)
		assert.Equal(t, &authn.Principal{
			Subject: "api-key:" + k.ID.String(), TenantID: e.tenant, Method: authn.MethodAPIKey, ClientID: k.ID.String(),
			Scopes: scope.Expand([]string{scope.Encrypt, scope.Read}),
		}, p)
		assert.True(t, p.HasScope(scope.Verify), "scopes are expanded")
		assert.False(t, p.HasScope(scope.Decrypt))

		// Another replica on the same database shares the MAC key.
		p, err = e.replica(t).Authenticator().Authenticate(request(t.Context(), presented))
		require.NoError(t, err)
		assert.Equal(t, e.tenant, p.TenantID)

		got, err := e.svc.Get(t.Context(), e.tenant, k.ID)
		require.NoError(t, err)
		assert.Equal(t, k.Hash, got.Hash)
		listed, next, err := e.svc.List(t.Context(), e.tenant, kms.Page{Size: 10})
		require.NoError(t, err)
		assert.Equal(t, uuid.Nil, next)
		require.Len(t, listed, 1)
		assert.Equal(t, k.ID, listed[0].ID)
	})
}

func TestAuthenticateRefusals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, b)
		_, good := e.create(t, scope.Read)
		revoked, revokedKey := e.create(t, scope.Read)
		_, err := e.svc.Revoke(t.Context(), e.tenant, revoked.ID)
		require.NoError(t, err)
		soon := e.clock.Now().Add(time.Minute)
		_, expiring, err := e.svc.Create(t.Context(), e.admin, NewKey{Name: "short-lived", Scopes: []string{scope.Read}, ExpiresAt: &soon})
		require.NoError(t, err)
		e.clock.Advance(time.Minute)

		id := good[3:35]
		secret := good[36:]
		otherSecret := strings.Repeat("A", 43)
		tests := []struct {
			desc   string
			values []string
			want   error
		}{
			{desc: "no header", want: authn.ErrNoCredentials},
			{desc: "empty", values: []string{""}, want: authn.ErrInvalidCredentials},
			{desc: "repeated header", values: []string{good, good}, want: authn.ErrInvalidCredentials},
			{desc: "no prefix", values: []string{"xx" + good[2:]}, want: authn.ErrInvalidCredentials},
			{desc: "too short", values: []string{good[:len(good)-1]}, want: authn.ErrInvalidCredentials},
			{desc: "too long", values: []string{good + "A"}, want: authn.ErrInvalidCredentials},
			{desc: "no separator", values: []string{"pk_" + id + "-" + secret}, want: authn.ErrInvalidCredentials},
			{desc: "id not hex", values: []string{"pk_" + strings.Repeat("z", 32) + "_" + secret}, want: authn.ErrInvalidCredentials},
			{desc: "secret not base64url", values: []string{"pk_" + id + "_" + strings.Repeat("*", 43)}, want: authn.ErrInvalidCredentials},
			{desc: "unknown id", values: []string{"pk_" + strings.ReplaceAll(ids.NewEntity().String(), "-", "") + "_" + secret}, want: authn.ErrInvalidCredentials},
			{desc: "wrong secret", values: []string{"pk_" + id + "_" + otherSecret}, want: authn.ErrInvalidCredentials},
			{desc: "revoked", values: []string{revokedKey}, want: authn.ErrInvalidCredentials},
			{desc: "expired", values: []string{expiring}, want: authn.ErrInvalidCredentials},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				p, err := e.svc.Authenticator().Authenticate(request(t.Context(), tc.values...))
				require.ErrorIs(t, err, tc.want)
				assert.Nil(t, p)
				assert.NotContains(t, err.Error(), secret, "errors never carry the secret")
			})
		}
		assert.Empty(t, e.svc.Authenticator().Challenge(), "no WWW-Authenticate scheme of its own")
	})
}

// TestCacheBoundsRevocation: a verified key is answered from memory for
// the TTL, revoking through the same replica takes effect at once, through
// another within the TTL, and sensitive requests always read the store.
func TestCacheBoundsRevocation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, b)
		k, presented := e.create(t, scope.Read)
		other := e.replica(t)
		auth, otherAuth := e.svc.Authenticator(), other.Authenticator()
		ctx := t.Context()
		lookups := func(fn func()) int64 {
			before := e.store.lookups.Load()
			fn()
			return e.store.lookups.Load() - before
		}
		ok := func(a *Authenticator, ctx context.Context) {
			t.Helper()
			_, err := a.Authenticate(request(ctx, presented))
			require.NoError(t, err)
		}
		assert.Equal(t, int64(1), lookups(func() { ok(auth, ctx); ok(auth, ctx); ok(auth, ctx) }), "one store read, then memory")
		assert.Equal(t, int64(1), lookups(func() { ok(otherAuth, ctx); ok(otherAuth, ctx) }))
		assert.Equal(t, int64(2), lookups(func() { ok(auth, authn.WithSensitive(ctx)); ok(auth, authn.WithSensitive(ctx)) }), "sensitive requests read the store every time")

		_, err := e.svc.Revoke(ctx, e.tenant, k.ID)
		require.NoError(t, err)
		_, err = auth.Authenticate(request(ctx, presented))
		require.ErrorIs(t, err, authn.ErrInvalidCredentials, "the revoking replica refuses at once")

		// The other replica answers from memory until its entry is older
		// than the TTL.
		ok(otherAuth, ctx)
		e.clock.Advance(DefaultCacheTTL)
		_, err = otherAuth.Authenticate(request(ctx, presented))
		require.ErrorIs(t, err, authn.ErrInvalidCredentials, "refused everywhere once the TTL has passed")

		// A sensitive request on the other replica is refused at once, and
		// its fresh read replaces the remembered entry.
		k2, presented2 := e.create(t, scope.Read)
		_, err = otherAuth.Authenticate(request(ctx, presented2))
		require.NoError(t, err)
		_, err = e.svc.Revoke(ctx, e.tenant, k2.ID)
		require.NoError(t, err)
		_, err = otherAuth.Authenticate(request(authn.WithSensitive(ctx), presented2))
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		_, err = otherAuth.Authenticate(request(ctx, presented2))
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
	})
}

func TestCacheIsBounded(t *testing.T) {
	c := clock.New(time.Unix(0, 0))
	cache := newCache(time.Second, 2, c.Now)
	a, b, d := ids.NewEntity(), ids.NewEntity(), ids.NewEntity()
	cache.put(a, &cacheEntry{}, 0)
	cache.put(b, &cacheEntry{}, 0)
	cache.put(a, &cacheEntry{}, 0)
	assert.Equal(t, 2, cache.len(), "replacing an entry needs no room")
	cache.put(d, &cacheEntry{}, 0)
	assert.Equal(t, 2, cache.len(), "full of live entries: one makes room")
	_, ok := cache.get(d)
	assert.True(t, ok)
	c.Advance(time.Second)
	cache.put(ids.NewEntity(), &cacheEntry{}, 0)
	assert.Equal(t, 1, cache.len(), "expired entries are swept when full")
	c.Advance(time.Second)
	_, ok = cache.get(d)
	assert.False(t, ok, "expired")

	off := newCache(-1, 2, c.Now)
	off.put(a, &cacheEntry{}, 0)
	_, ok = off.get(a)
	assert.False(t, ok, "a negative TTL disables the cache")
}

func TestCreateRefusals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, b)
		past := e.clock.Now().Add(-time.Second)
		now := e.clock.Now()
		reader := &authn.Principal{Subject: "bob", TenantID: e.tenant, Scopes: scope.Expand([]string{scope.Read})}
		tooMany := make([]string, maxScopes+1)
		for i := range tooMany {
			tooMany[i] = scope.Read
		}
		tests := []struct {
			desc    string
			creator *authn.Principal
			nk      NewKey
			code    kms.Code
			detail  string
		}{
			{desc: "no creator", nk: NewKey{Name: "k", Scopes: []string{scope.Read}}, code: kms.Unauthenticated},
			{desc: "empty name", creator: e.admin, nk: NewKey{Scopes: []string{scope.Read}}, code: kms.InvalidRequest},
			{desc: "control character in name", creator: e.admin, nk: NewKey{Name: "a\nb", Scopes: []string{scope.Read}}, code: kms.InvalidRequest},
			{desc: "no scopes", creator: e.admin, nk: NewKey{Name: "k"}, code: kms.InvalidRequest},
			{desc: "too many scopes", creator: e.admin, nk: NewKey{Name: "k", Scopes: tooMany}, code: kms.InvalidRequest},
			{desc: "unknown scope", creator: e.admin, nk: NewKey{Name: "k", Scopes: []string{"kms:everything"}}, code: kms.InvalidRequest, detail: `unknown scope "kms:everything"`},
			{desc: "escalation", creator: reader, nk: NewKey{Name: "k", Scopes: []string{scope.Read, scope.Encrypt}}, code: kms.Forbidden, detail: "cannot grant scope kms:encrypt"},
			{desc: "expiry in the past", creator: e.admin, nk: NewKey{Name: "k", Scopes: []string{scope.Read}, ExpiresAt: &past}, code: kms.InvalidRequest},
			{desc: "expiry now", creator: e.admin, nk: NewKey{Name: "k", Scopes: []string{scope.Read}, ExpiresAt: &now}, code: kms.InvalidRequest},
			{desc: "unregistered tenant", creator: &authn.Principal{Subject: "x", TenantID: factory.TenantID(), Scopes: e.admin.Scopes}, nk: NewKey{Name: "k", Scopes: []string{scope.Read}}, code: kms.NotFound},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				k, secret, err := e.svc.Create(t.Context(), tc.creator, tc.nk)
				require.Error(t, err)
				assert.Equal(t, tc.code, kms.CodeOf(err), "%v", err)
				assert.Contains(t, err.Error(), tc.detail)
				assert.Nil(t, k)
				assert.Empty(t, secret)
			})
		}
		listed, _, err := e.svc.List(t.Context(), e.tenant, kms.Page{Size: 10})
		require.NoError(t, err)
		assert.Empty(t, listed, "a refused request stores nothing")
	})
}

func TestRevokeAndTenants(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, b)
		k, _ := e.create(t, scope.Read)
		other := factory.TenantID()
		_, err := e.svc.Revoke(t.Context(), other, k.ID)
		assert.Equal(t, kms.NotFound, kms.CodeOf(err), "another tenant's key is not found")
		_, err = e.svc.Get(t.Context(), other, k.ID)
		assert.Equal(t, kms.NotFound, kms.CodeOf(err))
		r, err := e.svc.Revoke(t.Context(), e.tenant, k.ID)
		require.NoError(t, err)
		require.NotNil(t, r.RevokedAt)
		assert.True(t, e.clock.Now().Equal(*r.RevokedAt))
	})
}

// fakeSecrets and fakeWrapper fail where they are told to.
type fakeSecrets struct {
	Store
	err    error
	stored []byte
}

func (f *fakeSecrets) StoreSecretOnce(_ context.Context, _ string, candidate []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.stored != nil {
		return f.stored, nil
	}
	return candidate, nil
}

type fakeWrapper struct{ wrapErr, unwrapErr error }

func (f fakeWrapper) Wrap(_ context.Context, _ uuid.UUID, _ string, p []byte) ([]byte, error) {
	return p, f.wrapErr
}

func (f fakeWrapper) Unwrap(_ context.Context, _ uuid.UUID, _ string, w []byte) ([]byte, error) {
	return w, f.unwrapErr
}

func TestNewFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		desc string
		opts Options
	}{
		{desc: "no store", opts: Options{Barrier: fakeWrapper{}}},
		{desc: "no barrier", opts: Options{Store: &fakeSecrets{}}},
		{desc: "wrap fails", opts: Options{Store: &fakeSecrets{}, Barrier: fakeWrapper{wrapErr: boom}}},
		{desc: "store fails", opts: Options{Store: &fakeSecrets{err: boom}, Barrier: fakeWrapper{}}},
		{desc: "unwrap fails", opts: Options{Store: &fakeSecrets{}, Barrier: fakeWrapper{unwrapErr: boom}}},
		{desc: "stored key has the wrong size", opts: Options{Store: &fakeSecrets{stored: []byte("short")}, Barrier: fakeWrapper{}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := New(t.Context(), tc.opts)
			require.Error(t, err)
			assert.Nil(t, s)
		})
	}
	s, err := New(t.Context(), Options{Store: &fakeSecrets{}, Barrier: fakeWrapper{}})
	require.NoError(t, err)
	assert.Equal(t, DefaultCacheTTL, s.cache.ttl)
	assert.Equal(t, DefaultCacheSize, s.cache.size)
}

// failingStore fails every lookup.
type failingStore struct{ fakeSecrets }

func (failingStore) LookupAPIKey(context.Context, uuid.UUID) (*kms.APIKey, error) {
	return nil, errors.New("database down")
}

func TestAuthenticateStoreFailure(t *testing.T) {
	s, err := New(t.Context(), Options{Store: &failingStore{}, Barrier: fakeWrapper{}})
	require.NoError(t, err)
	key := format(ids.NewEntity(), make([]byte, secretSize))
	_, err = s.Authenticator().Authenticate(request(t.Context(), key))
	require.Error(t, err)
	assert.NotErrorIs(t, err, authn.ErrInvalidCredentials, "a store failure is not a wrong key")
	assert.NotErrorIs(t, err, authn.ErrNoCredentials)
}

// TestKeysFollowTheConfiguredHierarchy: with kms:admin narrowed so that an
// admin cannot decrypt, an admin's key named kms:admin cannot decrypt
// either, and a key may not name a scope whose expansion the creator lacks.
func TestKeysFollowTheConfiguredHierarchy(t *testing.T) {
	e := newEnv(t, dbtest.SQLite)
	h, err := scope.NewHierarchy(map[string][]string{
		scope.Admin: {scope.UsersAdmin, scope.AuditRead},
		scope.Write: {scope.Read, scope.Encrypt, scope.Decrypt},
		scope.Read:  {scope.KeysRead},
		"kms:ops":   {scope.AuditRead},
	})
	require.NoError(t, err)
	svc, err := New(t.Context(), Options{Store: e.store, Barrier: e.barrier, Now: e.clock.Now, Hierarchy: h})
	require.NoError(t, err)
	admin := &authn.Principal{Subject: "alice", TenantID: e.tenant, Scopes: h.Expand([]string{scope.Admin})}

	_, presented, err := svc.Create(t.Context(), admin, NewKey{Name: factory.Name("narrow"), Scopes: []string{scope.Admin}})
	require.NoError(t, err)
	p, err := svc.Authenticator().Authenticate(request(t.Context(), presented))
	require.NoError(t, err)
	assert.False(t, p.HasScope(scope.Decrypt), "the key expands under the configured hierarchy, not the default one")
	assert.True(t, p.HasScope(scope.AuditRead))

	_, _, err = svc.Create(t.Context(), admin, NewKey{Name: factory.Name("coarse"), Scopes: []string{"kms:ops"}})
	assert.Equal(t, kms.Forbidden, kms.CodeOf(err), "a coarse scope is granted only by one who holds it: %v", err)
	ops := &authn.Principal{Subject: "olga", TenantID: e.tenant, Scopes: h.Expand([]string{scope.Admin, "kms:ops"})}
	_, _, err = svc.Create(t.Context(), ops, NewKey{Name: factory.Name("coarse"), Scopes: []string{"kms:ops"}})
	require.NoError(t, err, "a coarse scope the configuration defines can be granted")
	_, _, err = svc.Create(t.Context(), admin, NewKey{Name: factory.Name("write"), Scopes: []string{scope.Write}})
	assert.Equal(t, kms.Forbidden, kms.CodeOf(err), "kms:write expands to scopes the admin does not hold: %v", err)
}

// TestRevocationBeatsAConcurrentRead: a row read before a revocation on
// this replica is not cached after it.
func TestRevocationBeatsAConcurrentRead(t *testing.T) {
	c := newCache(time.Minute, 10, time.Now)
	id := ids.NewEntity()
	gen := c.generation() // a lookup starts...
	c.forget(id)          // ...the key is revoked meanwhile...
	c.put(id, &cacheEntry{}, gen)
	_, ok := c.get(id)
	assert.False(t, ok, "the stale row must not be cached")
	c.put(id, &cacheEntry{}, c.generation())
	_, ok = c.get(id)
	assert.True(t, ok)
}
