package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// countingStore is the real store that counts the reads the caches exist
// to save: client records, access-token records, users and generations.
type countingStore struct {
	*store.Store
	reads       atomic.Int64 // Client, TenantClient, Access, User
	generations atomic.Int64
}

func (c *countingStore) Client(ctx context.Context, id string) (*identity.Client, error) {
	c.reads.Add(1)
	return c.Store.Client(ctx, id)
}

func (c *countingStore) TenantClient(ctx context.Context, tenant uuid.UUID, id string) (*identity.Client, error) {
	c.reads.Add(1)
	return c.Store.TenantClient(ctx, tenant, id)
}

func (c *countingStore) Access(ctx context.Context, tenant uuid.UUID, jti string) (*identity.AccessToken, error) {
	c.reads.Add(1)
	return c.Store.Access(ctx, tenant, jti)
}

func (c *countingStore) User(ctx context.Context, tenant uuid.UUID, id uuid.UUID) (*identity.User, error) {
	c.reads.Add(1)
	return c.Store.User(ctx, tenant, id)
}

func (c *countingStore) Generation(ctx context.Context, tenant uuid.UUID) (int64, error) {
	c.generations.Add(1)
	return c.Store.Generation(ctx, tenant)
}

// serverWith is another Server of the rig, on its store, clock and keys,
// with its configuration edited.
func (r *rig) serverWith(t testing.TB, edit func(*Config)) *Server {
	t.Helper()
	cfg := r.s.cfg
	cfg.Grants = nil
	edit(&cfg)
	s, err := New(cfg)
	require.NoError(t, err)
	return s
}

// serviceClient creates a client_credentials client of the rig's tenant
// whose secret is the rig's.
func (r *rig) serviceClient(t *testing.T) *identity.Client {
	t.Helper()
	c := &identity.Client{ClientID: "svc-" + uuid.NewString()[:8], Name: "svc", Kind: identity.KindService, SecretHash: r.rs.SecretHash,
		GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"kms:read"}, Audiences: []string{"kms"}}
	require.NoError(t, storeOf(r.s).CreateClient(t.Context(), r.tenant, c))
	return c
}

// clientToken gets a client_credentials token for c from s.
func (r *rig) clientToken(t *testing.T, s *Server, c *identity.Client) string {
	t.Helper()
	a := r.call(s.token, PathToken, c, url.Values{"grant_type": {GrantClientCredentials}})
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status, a.body)
	return a.body["access_token"].(string)
}

// activeOn asks s, as the rig's resource server, whether token is active.
func (r *rig) activeOn(t *testing.T, s *Server, token string) bool {
	t.Helper()
	a := r.call(s.introspect, PathIntrospect, r.rs, url.Values{"token": {token}})
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status, a.body)
	return a.body["active"] == true
}

// TestCachesSaveTheReads shows what the caches are for: once a client and
// a token were validated, further token requests and introspections read
// no client, token or user record, and the tenant's generation once per
// check interval.
func TestCachesSaveTheReads(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		cs := &countingStore{Store: storeOf(r.s)}
		s := r.serverWith(t, func(c *Config) { c.Store = cs })
		svc := r.serviceClient(t)

		tok := r.clientToken(t, s, svc)
		require.True(t, r.activeOn(t, s, tok))
		user := r.mint(t, testIssuer, nil)
		require.True(t, r.activeOn(t, s, user))
		require.Positive(t, cs.reads.Load(), "the first requests read the records")
		require.Equal(t, int64(1), cs.generations.Load(), "and the tenant's generation once")

		cs.reads.Store(0)
		for range 3 {
			r.clientToken(t, s, svc)
			assert.True(t, r.activeOn(t, s, tok))
			assert.True(t, r.activeOn(t, s, user))
		}
		assert.Zero(t, cs.reads.Load(), "warm requests read no record")
		assert.Equal(t, int64(1), cs.generations.Load(), "nor the generation within the interval")

		r.now = r.now.Add(DefaultChangeCheckInterval)
		assert.True(t, r.activeOn(t, s, tok))
		assert.True(t, r.activeOn(t, s, user))
		assert.Equal(t, int64(2), cs.generations.Load(), "one read of the generation per interval")
		assert.Zero(t, cs.reads.Load(), "an unchanged generation keeps the entries")
	})
}

// TestCachesSeeChangesAtOnce: every change that withdraws a token is seen
// by the next introspection on the same replica, even with the token (and
// its client) cached.
func TestCachesSeeChangesAtOnce(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		ctx := t.Context()
		st := storeOf(r.s)
		for _, tc := range []struct {
			desc string
			// withdraw returns a cached token, then takes it back.
			token    func(t *testing.T) string
			withdraw func(t *testing.T, token string)
		}{
			{desc: "the token is revoked", token: func(t *testing.T) string {
				return r.clientToken(t, r.s, r.serviceClient(t))
			}, withdraw: func(t *testing.T, token string) {
				c, err := r.s.cfg.Tokens.ParseAccess(ctx, token, "")
				require.NoError(t, err)
				svc, err := st.TenantClient(ctx, r.tenant, c.ClientID)
				require.NoError(t, err)
				a := r.call(r.s.revoke, PathRevoke, svc, url.Values{"token": {token}})
				require.Equal(t, http.StatusOK, a.status, a.body)
			}},
			{desc: "its refresh family is revoked", token: func(t *testing.T) string {
				app := r.refresher(t)
				resp := r.newRefresh(t, app)
				t.Cleanup(func() {
					a := r.call(r.s.revoke, PathRevoke, app, url.Values{"token": {resp.RefreshToken}})
					assert.Equal(t, http.StatusOK, a.status, a.body)
				})
				return resp.AccessToken
			}, withdraw: func(t *testing.T, token string) {
				c, err := r.s.cfg.Tokens.ParseAccess(ctx, token, "")
				require.NoError(t, err)
				rec, err := st.Access(ctx, r.tenant, c.ID)
				require.NoError(t, err)
				require.NoError(t, st.RevokeFamily(ctx, r.tenant, rec.FamilyID, r.now))
			}},
			{desc: "its client is disabled", token: func(t *testing.T) string {
				return r.clientToken(t, r.s, r.serviceClient(t))
			}, withdraw: func(t *testing.T, token string) {
				c, err := r.s.cfg.Tokens.ParseAccess(ctx, token, "")
				require.NoError(t, err)
				svc, err := st.TenantClient(ctx, r.tenant, c.ClientID)
				require.NoError(t, err)
				svc.Disabled = true
				require.NoError(t, st.UpdateClient(ctx, r.tenant, svc))
			}},
			{desc: "its client may no longer receive the audience", token: func(t *testing.T) string {
				return r.clientToken(t, r.s, r.serviceClient(t))
			}, withdraw: func(t *testing.T, token string) {
				c, err := r.s.cfg.Tokens.ParseAccess(ctx, token, "")
				require.NoError(t, err)
				svc, err := st.TenantClient(ctx, r.tenant, c.ClientID)
				require.NoError(t, err)
				svc.Audiences = []string{"elsewhere"}
				require.NoError(t, st.UpdateClient(ctx, r.tenant, svc))
			}},
			{desc: "its client is deleted", token: func(t *testing.T) string {
				return r.clientToken(t, r.s, r.serviceClient(t))
			}, withdraw: func(t *testing.T, token string) {
				c, err := r.s.cfg.Tokens.ParseAccess(ctx, token, "")
				require.NoError(t, err)
				require.NoError(t, st.DeleteClient(ctx, r.tenant, c.ClientID))
			}},
			{desc: "its user is disabled", token: func(t *testing.T) string {
				return r.mint(t, testIssuer, nil)
			}, withdraw: func(t *testing.T, _ string) {
				r.user.Disabled = true
				require.NoError(t, st.UpdateUser(ctx, r.tenant, r.user))
				t.Cleanup(func() {
					r.user.Disabled = false
					require.NoError(t, st.UpdateUser(context.Background(), r.tenant, r.user))
				})
			}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok := tc.token(t)
				require.True(t, r.activeOn(t, r.s, tok))
				require.True(t, r.activeOn(t, r.s, tok), "answered from the cache")
				tc.withdraw(t, tok)
				assert.False(t, r.activeOn(t, r.s, tok), "refused at once, the clock standing still")
				code, _ := r.userinfo(t, tok)
				assert.Equal(t, http.StatusUnauthorized, code, "and as a bearer token")
			})
		}
	})
}

// TestClientCacheSeesChangesAtOnce: a cached client whose secret changed,
// or that was disabled, is refused by the next request on this replica.
func TestClientCacheSeesChangesAtOnce(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		ctx := t.Context()
		st := storeOf(r.s)
		svc := r.serviceClient(t)
		r.clientToken(t, r.s, svc) // cached, secret verified

		newHash, err := password.Hasher{Iterations: 1000}.Hash("another-secret")
		require.NoError(t, err)
		svc.SecretHash = newHash
		require.NoError(t, st.UpdateClient(ctx, r.tenant, svc))
		a := r.call(r.s.token, PathToken, svc, url.Values{"grant_type": {GrantClientCredentials}})
		assert.Equal(t, http.StatusUnauthorized, a.status, "the old secret is refused at once: %v", a.body)
		a = r.callAs(r.s.token, PathToken, svc.ClientID, "another-secret", url.Values{"grant_type": {GrantClientCredentials}})
		assert.Equal(t, http.StatusOK, a.status, "the new secret works: %v", a.body)

		svc.Disabled = true
		require.NoError(t, st.UpdateClient(ctx, r.tenant, svc))
		a = r.callAs(r.s.token, PathToken, svc.ClientID, "another-secret", url.Values{"grant_type": {GrantClientCredentials}})
		assert.Equal(t, http.StatusUnauthorized, a.status, "a disabled client is refused at once: %v", a.body)

		require.NoError(t, st.DeleteClient(ctx, r.tenant, r.rs.ClientID))
		a = r.call(r.s.introspect, PathIntrospect, r.rs, url.Values{"token": {"x"}})
		assert.Equal(t, http.StatusUnauthorized, a.status, "a deleted resource server is refused at once: %v", a.body)
	})
}

// TestReplicasSeeChangesWithinTheInterval runs two replicas on one
// database: a revocation, a secret change or a client disabled through one
// is seen by the other once it reads the tenant's generation again, at most
// ChangeCheckInterval later; until then the other may answer from its
// caches, which is the documented bound.
func TestReplicasSeeChangesWithinTheInterval(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d1, d2 := openTwice(t, b)
		r := newRigOn(t, d1)
		two, _ := newServer(t, d2, func() time.Time { return r.now })
		st := storeOf(r.s)

		t.Run("a revoked token", func(t *testing.T) {
			svc := r.serviceClient(t)
			tok := r.clientToken(t, r.s, svc)
			require.True(t, r.activeOn(t, two, tok), "replica two caches the token")
			a := r.call(r.s.revoke, PathRevoke, svc, url.Values{"token": {tok}})
			require.Equal(t, http.StatusOK, a.status, a.body)
			assert.False(t, r.activeOn(t, r.s, tok), "the revoking replica refuses it at once")
			assert.True(t, r.activeOn(t, two, tok), "the other may answer from its cache within the interval")
			r.now = r.now.Add(DefaultChangeCheckInterval)
			assert.False(t, r.activeOn(t, two, tok), "and refuses it once the interval passed")
		})

		t.Run("a changed secret and a disabled client", func(t *testing.T) {
			svc := r.serviceClient(t)
			r.clientToken(t, two, svc) // replica two caches the client
			newHash, err := password.Hasher{Iterations: 1000}.Hash("another-secret")
			require.NoError(t, err)
			svc.SecretHash = newHash
			require.NoError(t, st.UpdateClient(ctx, r.tenant, svc))
			r.now = r.now.Add(DefaultChangeCheckInterval)
			a := r.call(two.token, PathToken, svc, url.Values{"grant_type": {GrantClientCredentials}})
			assert.Equal(t, http.StatusUnauthorized, a.status, "the old secret is refused after the interval: %v", a.body)

			svc.Disabled = true
			require.NoError(t, st.UpdateClient(ctx, r.tenant, svc))
			r.now = r.now.Add(DefaultChangeCheckInterval)
			a = r.callAs(two.token, PathToken, svc.ClientID, "another-secret", url.Values{"grant_type": {GrantClientCredentials}})
			assert.Equal(t, http.StatusUnauthorized, a.status, "a disabled client is refused after the interval: %v", a.body)
		})
	})
}

// TestTokenCacheLimits: the cache holds at most its size, and no entry
// outlives its token's exp, even where the clock-skew leeway would
// otherwise still be checked afresh.
func TestTokenCacheLimits(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	s := r.serverWith(t, func(c *Config) { c.TokenCacheSize = 2 })
	svc := r.serviceClient(t)
	var toks []string
	for range 3 {
		tok := r.clientToken(t, s, svc)
		toks = append(toks, tok)
		require.True(t, r.activeOn(t, s, tok))
	}
	assert.Equal(t, 2, s.tokens.len(), "bounded")
	for _, tok := range toks {
		assert.True(t, r.activeOn(t, s, tok), "an evicted token is validated afresh")
	}

	r.now = r.now.Add(s.cfg.AccessTokenTTL).Add(time.Minute)
	for _, tok := range toks {
		assert.False(t, r.activeOn(t, s, tok), "expired tokens are not served from the cache")
	}
	assert.Zero(t, s.tokens.len(), "and their entries are gone")
}

// TestCachedTokenKeepsItsAudience: a token cached by introspection (any
// audience) is still refused where another audience is required.
func TestCachedTokenKeepsItsAudience(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	tok := r.clientToken(t, r.s, r.serviceClient(t)) // audience kms
	require.True(t, r.activeOn(t, r.s, tok))
	_, err := r.s.validAccess(t.Context(), tok, SelfAudience)
	assert.ErrorContains(t, err, "not for audience")
	v, err := r.s.validAccess(t.Context(), tok, "kms")
	require.NoError(t, err)
	assert.Equal(t, []string{"kms"}, []string(v.Audience))
}

// TestCachedTokenHoldsNoPasswordHash: a user's token in the token cache,
// which may stay there until the token expires, keeps nothing of the user's
// password hash; introspection and userinfo still answer with the user's
// profile.
func TestCachedTokenHoldsNoPasswordHash(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	u, err := storeOf(r.s).User(t.Context(), r.tenant, r.user.ID)
	require.NoError(t, err)
	require.NotEmpty(t, u.PasswordHash)
	require.True(t, holdsString(reflect.ValueOf(u), u.PasswordHash, map[uintptr]bool{}), "the search finds the hash in the user record")

	tok := r.mint(t, testIssuer, nil)
	assert.Equal(t, "user", r.introspect(t, tok)["username"])
	code, _ := r.userinfo(t, tok)
	assert.Equal(t, http.StatusOK, code)
	e, ok := r.s.tokens.get(tokenKey(tok), r.now)
	require.True(t, ok, "the token is cached")
	require.NotNil(t, e.token.account)
	assert.Equal(t, "user", e.token.account.Username)
	assert.False(t, holdsString(reflect.ValueOf(e), u.PasswordHash, map[uintptr]bool{}), "the cached entry must not hold the password hash")
}

// holdsString reports whether v, followed through pointers, interfaces,
// structs (unexported fields too), slices, arrays and maps, holds a string
// equal to s. seen stops it going round a cycle of pointers.
func holdsString(v reflect.Value, s string, seen map[uintptr]bool) bool {
	switch v.Kind() {
	case reflect.String:
		return v.String() == s
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return false
		}
		seen[v.Pointer()] = true
		return holdsString(v.Elem(), s, seen)
	case reflect.Interface:
		return !v.IsNil() && holdsString(v.Elem(), s, seen)
	case reflect.Struct:
		for i := range v.NumField() {
			if holdsString(v.Field(i), s, seen) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if holdsString(v.Index(i), s, seen) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if holdsString(it.Key(), s, seen) || holdsString(it.Value(), s, seen) {
				return true
			}
		}
	}
	return false
}

// TestClientCacheLimits: the client cache holds at most its size, and a
// client deleted from one tenant and created again in another is found in
// its new tenant.
func TestClientCacheLimits(t *testing.T) {
	r := newRig(t, dbtest.SQLite)
	ctx := t.Context()
	st := storeOf(r.s)
	s := r.serverWith(t, func(c *Config) { c.ClientCacheSize = 1 })
	one, two := r.serviceClient(t), r.serviceClient(t)
	for range 2 {
		r.clientToken(t, s, one)
		r.clientToken(t, s, two)
	}
	assert.Equal(t, 1, s.clients.clients.len(), "bounded")

	other := uuid.New()
	require.NoError(t, st.CreateTenant(ctx, other, "other", false))
	require.NoError(t, st.DeleteClient(ctx, r.tenant, two.ClientID))
	moved := *two
	require.NoError(t, st.CreateClient(ctx, other, &moved))
	c, err := s.clients.Client(ctx, two.ClientID)
	require.NoError(t, err)
	assert.Equal(t, other, c.TenantID, "found where it lives now")
}

// fakeFeed is a ChangeFeed in memory that counts generation reads.
type fakeFeed struct {
	gen   int64
	local uint64
	err   error
	reads int
}

func (f *fakeFeed) Generation(context.Context, uuid.UUID) (int64, error) {
	f.reads++
	return f.gen, f.err
}

func (f *fakeFeed) LocalChanges(uuid.UUID) uint64 { return f.local }

func TestChangeTracker(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	feed := &fakeFeed{gen: 7}
	c := newChangeTracker(feed, func() time.Time { return now }, time.Second)
	tenant := uuid.New()

	st, err := c.stamp(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, stamp{gen: 7}, st)
	feed.gen, feed.local = 8, 1
	st, err = c.stamp(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, stamp{local: 1, gen: 7}, st, "local changes count at once, the generation is read once per interval")
	assert.Equal(t, 1, feed.reads)

	now = now.Add(time.Second)
	st, err = c.stamp(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, stamp{local: 1, gen: 8}, st, "read again after the interval")

	now = now.Add(-time.Minute)
	_, err = c.stamp(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, 3, feed.reads, "a clock that went back reads again")

	feed.err = identity.ErrNotFound
	now = now.Add(time.Second)
	_, err = c.stamp(ctx, tenant)
	require.ErrorIs(t, err, identity.ErrNotFound, "a failed read is no stamp")
	feed.err = nil
	_, err = c.stamp(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, 5, feed.reads, "and the next call reads again")

	for range maxTrackedTenants {
		_, err = c.stamp(ctx, uuid.New())
		require.NoError(t, err)
	}
	reads := feed.reads
	_, err = c.stamp(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, reads+1, feed.reads, "the tenants table is bounded: the least recently used tenant was forgotten")
}

// TestCachesUnderConcurrentUse introspects one token and authenticates its
// client from several goroutines while the token is revoked: every
// introspection that starts after the revocation returned refuses it. Each
// goroutine goes on until it has made several such introspections, so the
// check cannot pass by having finished before the revocation.
func TestCachesUnderConcurrentUse(t *testing.T) {
	const (
		workers  = 4
		after    = 5      // introspections each worker makes once the token is revoked
		maxCalls = 20_000 // per worker: a bound, should the revocation never be seen
	)
	r := newRig(t, dbtest.SQLite)
	svc := r.serviceClient(t)
	tok := r.clientToken(t, r.s, svc)
	deadline := time.Now().Add(time.Minute) // a bound, not a timing assertion
	var revoked atomic.Bool
	started := make(chan struct{}, workers)
	done := make(chan error, workers)
	for range workers {
		go func() {
			seen := 0
			for calls := 0; seen < after; calls++ {
				if calls == maxCalls || time.Now().After(deadline) {
					done <- fmt.Errorf("gave up after %d introspections, %d of them after the revocation", calls, seen)
					return
				}
				wasRevoked := revoked.Load()
				a := r.call(r.s.introspect, PathIntrospect, r.rs, url.Values{"token": {tok}})
				if calls == 0 {
					started <- struct{}{} // buffered: never blocks
				}
				switch {
				case a.err != nil:
					done <- fmt.Errorf("introspection %d: %w", calls, a.err)
					return
				case a.status != http.StatusOK:
					done <- fmt.Errorf("introspection %d: status %d: %v", calls, a.status, a.body)
					return
				case wasRevoked && a.body["active"] != false:
					done <- fmt.Errorf("introspection %d, after the revocation, answered %v", calls, a.body)
					return
				case wasRevoked:
					seen++
				}
			}
			done <- nil
		}()
	}
	// Revoke only once every worker is introspecting, so the revocation
	// runs while they do.
	for range workers {
		<-started
	}
	a := r.call(r.s.revoke, PathRevoke, svc, url.Values{"token": {tok}})
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status, a.body)
	revoked.Store(true)
	for range workers {
		assert.NoError(t, <-done)
	}
	assert.False(t, r.activeOn(t, r.s, tok))
}

// gatedClients is a ClientStore whose TenantClient counts its calls and
// answers (a fresh copy of client) only once release is closed.
type gatedClients struct {
	client  identity.Client
	reads   atomic.Int64
	release chan struct{}
}

func (g *gatedClients) Client(context.Context, string) (*identity.Client, error) {
	c := g.client
	return &c, nil
}

func (g *gatedClients) TenantClient(context.Context, uuid.UUID, string) (*identity.Client, error) {
	g.reads.Add(1)
	<-g.release
	c := g.client
	return &c, nil
}

// localFeed is a ChangeFeed whose generation stays 0 and whose local change
// count a test raises while requests run.
type localFeed struct{ local atomic.Uint64 }

func (f *localFeed) Generation(context.Context, uuid.UUID) (int64, error) { return 0, nil }
func (f *localFeed) LocalChanges(uuid.UUID) uint64                        { return f.local.Load() }

// eventually polls cond until it holds or a generous deadline passes, and
// reports whether it held.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestClientCacheSharesReads: concurrent requests for a client that is not
// cached, or whose tenant changed, share one read of it; a request that saw
// a later change does not take the answer of a read that began before it,
// but reads for itself.
func TestClientCacheSharesReads(t *testing.T) {
	const callers = 8
	ctx := t.Context()
	tenant := uuid.New()
	feed := &localFeed{}
	st := &gatedClients{client: identity.Client{ClientID: "c", TenantID: tenant}, release: make(chan struct{})}
	c := newClientCache(newChangeTracker(feed, time.Now, time.Hour), st, 10)

	type result struct {
		client *identity.Client
		err    error
	}
	burst := func(n int) chan result {
		out := make(chan result, n)
		for range n {
			go func() {
				client, err := c.TenantClient(ctx, tenant, "c")
				out <- result{client, err}
			}()
		}
		return out
	}
	collect := func(out chan result, n int) []*identity.Client {
		var got []*identity.Client
		for range n {
			r := <-out
			require.NoError(t, r.err)
			got = append(got, r.client)
		}
		return got
	}

	for round, want := range []int64{1, 2} {
		out := burst(callers)
		require.True(t, eventually(func() bool { return st.reads.Load() >= want }), "round %d: the client is read", round)
		// Without a shared flight every caller would reach the store by
		// now; give them a short while to, then let the read answer.
		for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline) && st.reads.Load() < want+callers-1; {
			time.Sleep(time.Millisecond)
		}
		close(st.release)
		got := collect(out, callers)
		assert.Equal(t, want, st.reads.Load(), "round %d: one read for %d requests", round, callers)
		for _, client := range got {
			assert.Same(t, got[0], client, "round %d: every request has the shared read's record", round)
		}
		_, err := c.TenantClient(ctx, tenant, "c")
		require.NoError(t, err)
		assert.Equal(t, want, st.reads.Load(), "round %d: the cache answers the next request", round)
		st.release = make(chan struct{}) // no request of the round runs any more
		feed.local.Add(1)                // a change of the tenant: the entry is stale
	}

	// A read under the current stamp is running when the tenant changes
	// again: a request after that change reads for itself.
	first := burst(1)
	require.True(t, eventually(func() bool { return st.reads.Load() == 3 }))
	feed.local.Add(1)
	second := burst(1)
	assert.True(t, eventually(func() bool { return st.reads.Load() == 4 }), "a request after the change does not wait for the older read")
	close(st.release)
	collect(first, 1)
	collect(second, 1)
}
