package realm

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	fakeclock "github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// replica is one KMS process over a shared database: its own connection
// (whose SQL statements it counts), user store, verifier and Basic.
type replica struct {
	store      *UserStore
	basic      *Basic
	statements atomic.Int64
}

func openReplica(t *testing.T, opts db.Options, clk *fakeclock.Fake) *replica {
	t.Helper()
	r := &replica{}
	opts.OnQuery = func() { r.statements.Add(1) }
	d, err := db.Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	roles, err := NewRoles(DefaultRoles())
	require.NoError(t, err)
	r.store, err = NewUserStore(t.Context(), d.Gorm(), UserStoreOptions{Hasher: testHasher, Roles: roles, Now: clk.Now})
	require.NoError(t, err)
	v, err := credential.New(credential.Options{Hasher: testHasher, Now: clk.Now})
	require.NoError(t, err)
	r.basic, err = NewBasic(BasicOptions{Realms: []Realm{r.store.Realm("local")}, Roles: roles, Verifier: v})
	require.NoError(t, err)
	return r
}

// auth authenticates username with pass and returns the SQL statements
// it ran besides.
func (r *replica) auth(username, pass string) (*authn.Principal, error, int64) {
	before := r.statements.Load()
	p, err := r.basic.Authenticate(basicRequest(username, pass))
	return p, err, r.statements.Load() - before
}

// TestBasicHitRunsNoSQL: a verified credential, repeated, touches no realm
// table and costs no PBKDF2; a wrong password for the same user misses
// and is verified and counted as any other.
func TestBasicHitRunsNoSQL(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		r := openReplica(t, dbtest.Options(t, b), clk)
		tenant := uuid.New()
		_, err := r.store.Create(t.Context(), NewUser{Realm: "local", Username: "alice", Password: "alice-password", Roles: []string{"writer"}, TenantID: tenant, Enabled: true})
		require.NoError(t, err)

		p, err, statements := r.auth("alice", "alice-password")
		require.NoError(t, err)
		assert.Positive(t, statements, "the first request reads the user")
		checks := r.basic.PasswordChecks()
		for range 3 {
			clk.Advance(time.Second)
			again, err, statements := r.auth("alice", "alice-password")
			require.NoError(t, err)
			assert.Zero(t, statements, "a hit runs no SQL")
			assert.Equal(t, p, again)
			assert.NotSame(t, p, again, "each request gets its own principal")
		}
		assert.Equal(t, checks, r.basic.PasswordChecks(), "and no PBKDF2")

		_, err, statements = r.auth("alice", "wrong-password")
		require.ErrorIs(t, err, authn.ErrInvalidCredentials)
		assert.Positive(t, statements, "a wrong password is not a hit")
		assert.Equal(t, checks+1, r.basic.PasswordChecks(), "and is verified")

		_, err, statements = r.auth("alice", "alice-password")
		require.NoError(t, err)
		assert.Zero(t, statements, "the right password is still cached")

		clk.Advance(credential.DefaultFreshness)
		_, err, statements = r.auth("alice", "alice-password")
		require.NoError(t, err)
		assert.EqualValues(t, 1, statements, "after the freshness interval: the user row, read once")
		assert.Equal(t, checks+1, r.basic.PasswordChecks(), "unchanged: no PBKDF2")
	})
}

// TestBasicReplicas: a change to a user through one replica's UserStore
// takes effect on that replica at once, and on another replica over the
// same database after the freshness interval, not before.
func TestBasicReplicas(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		opts := dbtest.Options(t, b)
		here, there := openReplica(t, opts, clk), openReplica(t, opts, clk)
		tenant := uuid.New()
		u, err := here.store.Create(ctx, NewUser{Realm: "local", Username: "alice", Password: "alice-password", Roles: []string{"writer"}, TenantID: tenant, Enabled: true})
		require.NoError(t, err)

		enabled := true
		reader := []string{"reader"}
		steps := []struct {
			desc   string
			before string // the password that works before the change
			change func(context.Context) error
			after  string // the password that works after it ("": none)
			roles  []string
		}{
			{desc: "roles", before: "alice-password", after: "alice-password", roles: reader, change: func(ctx context.Context) error {
				_, err := here.store.Update(ctx, tenant, u.ID, UserPatch{Roles: &reader})
				return err
			}},
			{desc: "password", before: "alice-password", after: "", change: func(ctx context.Context) error {
				_, err := here.store.ChangePassword(ctx, tenant, u.ID, "new-password")
				return err
			}},
			{desc: "disable", before: "new-password", after: "", change: func(ctx context.Context) error {
				_, err := here.store.Disable(ctx, tenant, u.ID)
				return err
			}},
			{desc: "enable", before: "", after: "new-password", roles: reader, change: func(ctx context.Context) error {
				_, err := here.store.Update(ctx, tenant, u.ID, UserPatch{Enabled: &enabled})
				return err
			}},
			{desc: "delete", before: "new-password", after: "", change: func(ctx context.Context) error {
				return here.store.Delete(ctx, tenant, u.ID)
			}},
		}
		for _, st := range steps {
			t.Run(st.desc, func(t *testing.T) {
				if st.before != "" {
					for _, r := range []*replica{here, there} {
						_, err, _ := r.auth("alice", st.before)
						require.NoError(t, err, "cached before the change")
					}
				}
				require.NoError(t, st.change(ctx))
				expect := func(r *replica, who string) {
					t.Helper()
					if st.after == "" {
						_, err, _ := r.auth("alice", st.before)
						require.ErrorIs(t, err, authn.ErrInvalidCredentials, "%s: refused", who)
						return
					}
					p, err, _ := r.auth("alice", st.after)
					require.NoError(t, err, who)
					assert.Equal(t, st.roles, p.Roles, who)
				}
				expect(here, "the replica that made the change, at once")

				clk.Advance(credential.DefaultFreshness - time.Second)
				if st.before != "" {
					p, err, statements := there.auth("alice", st.before)
					require.NoError(t, err, "the other replica, within the interval, still answers from its cache")
					assert.Zero(t, statements)
					assert.NotEqual(t, st.roles, p.Roles)
				}
				clk.Advance(time.Second)
				expect(there, "the other replica, after the interval")
			})
		}
	})
}
