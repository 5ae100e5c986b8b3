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
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

var errBoom = errors.New("boom")

// newStoreDB is newStore that also returns the database, for tests that
// watch its sessions.
func newStoreDB(t *testing.T, b dbtest.Backend) (*store.Store, *db.DB, uuid.UUID) {
	t.Helper()
	d := dbtest.Open(t, b)
	st, err := store.New(t.Context(), d)
	require.NoError(t, err)
	tenant := factory.TenantID()
	require.NoError(t, st.CreateTenant(t.Context(), tenant, "t", true))
	return st, d, tenant
}

func newCode(t *testing.T, st *store.Store, tenant uuid.UUID, user uuid.UUID, now time.Time) *identity.AuthCode {
	t.Helper()
	c := &identity.AuthCode{IDHash: factory.Name("code"), ClientID: "c", UserID: user, RedirectURI: "r", Scope: "s", CodeChallenge: "x", Audience: "a", ExpiresAt: now.Add(time.Minute)}
	require.NoError(t, st.SaveCode(t.Context(), tenant, c))
	return c
}

func TestWithTx(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		now := time.Now().UTC()
		access := func(jti string) *identity.AccessToken {
			return &identity.AccessToken{JTI: jti, ClientID: "c", Subject: userU.String(), ExpiresAt: now.Add(time.Minute)}
		}
		saved := func(jti string) bool {
			_, err := st.Access(ctx, tenant, jti)
			if !errors.Is(err, store.ErrNotFound) {
				require.NoError(t, err)
			}
			return err == nil
		}

		t.Run("commit keeps every write", func(t *testing.T) {
			code, jti := newCode(t, st, tenant, userU, now), factory.Name("at")
			require.NoError(t, st.WithTx(ctx, tenant, func(ctx context.Context) error {
				if _, err := st.ConsumeCode(ctx, tenant, code.IDHash, now); err != nil {
					return err
				}
				return st.SaveAccess(ctx, tenant, access(jti))
			}))
			assert.True(t, saved(jti))
			_, err := st.ConsumeCode(ctx, tenant, code.IDHash, now)
			assert.ErrorIs(t, err, store.ErrAlreadyUsed)
		})
		t.Run("an error rolls every write back and is returned as is", func(t *testing.T) {
			code, jti := newCode(t, st, tenant, userU, now), factory.Name("at")
			err := st.WithTx(ctx, tenant, func(ctx context.Context) error {
				if _, err := st.ConsumeCode(ctx, tenant, code.IDHash, now); err != nil {
					return err
				}
				if err := st.SaveAccess(ctx, tenant, access(jti)); err != nil {
					return err
				}
				return errBoom
			})
			assert.Same(t, errBoom, err)
			assert.False(t, saved(jti), "the access token was rolled back")
			_, err = st.ConsumeCode(ctx, tenant, code.IDHash, now)
			assert.NoError(t, err, "the code is still unused")
		})
		t.Run("a panic rolls back", func(t *testing.T) {
			jti := factory.Name("at")
			assert.Panics(t, func() {
				_ = st.WithTx(ctx, tenant, func(ctx context.Context) error {
					require.NoError(t, st.SaveAccess(ctx, tenant, access(jti)))
					panic("boom")
				})
			})
			assert.False(t, saved(jti))
		})
		t.Run("a nested WithTx joins the outer transaction", func(t *testing.T) {
			jti := factory.Name("at")
			err := st.WithTx(ctx, tenant, func(ctx context.Context) error {
				if err := st.WithTx(ctx, tenant, func(ctx context.Context) error {
					return st.SaveAccess(ctx, tenant, access(jti))
				}); err != nil {
					return err
				}
				return errBoom
			})
			assert.ErrorIs(t, err, errBoom)
			assert.False(t, saved(jti), "the inner write rolled back with the outer transaction")
		})
		t.Run("another tenant is refused inside a transaction", func(t *testing.T) {
			other := factory.TenantID()
			require.NoError(t, st.CreateTenant(ctx, other, "o", false))
			err := st.WithTx(ctx, tenant, func(ctx context.Context) error {
				if err := st.SaveAccess(ctx, other, access(factory.Name("at"))); err == nil {
					return errors.New("a write to another tenant's database joined the transaction")
				}
				return st.WithTx(ctx, other, func(context.Context) error { return nil })
			})
			assert.ErrorContains(t, err, "one tenant's database")
		})
		t.Run("a locking read outside a transaction is refused", func(t *testing.T) {
			_, err := st.RefreshForUpdate(ctx, tenant, "x")
			assert.ErrorContains(t, err, "inside WithTx")
			err = st.WithTx(ctx, tenant, func(ctx context.Context) error {
				_, err := st.RefreshForUpdate(ctx, tenant, "x")
				return err
			})
			assert.ErrorIs(t, err, store.ErrNotFound)
		})
	})
}

// TestRedemptionsSerialise runs the store side of the token endpoint's
// grants concurrently: of n transactions consuming one code and saving a
// token each, exactly one commits.
func TestRedemptionsSerialise(t *testing.T) {
	const n = 8
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, d, tenant := newStoreDB(t, b)
		now := time.Now().UTC()
		code := newCode(t, st, tenant, userU, now)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = st.WithTx(ctx, tenant, func(ctx context.Context) error {
					if _, err := st.ConsumeCode(ctx, tenant, code.IDHash, now); err != nil {
						return err
					}
					return st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: factory.Name("at"), ClientID: "c", Subject: userU.String(), CodeHash: code.IDHash, ExpiresAt: now.Add(time.Minute)})
				})
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			assert.ErrorIs(t, err, store.ErrAlreadyUsed, "transaction %d", i)
		}
		assert.Equal(t, 1, wins)
		g, err := d.Tenant(ctx, tenant)
		require.NoError(t, err)
		var saved int64
		require.NoError(t, g.Model(&identity.AccessToken{}).Where("code_hash = ?", code.IDHash).Count(&saved).Error)
		assert.Equal(t, int64(1), saved, "only the winner's token is stored")
	})
}

// TestRevocationCatchesGrantInFlight holds a grant's transaction open after
// it consumed its code or refresh token and saved new tokens, starts a
// revocation that must wait for it, and lets the grant commit only then:
// the revocation must reach the new tokens, committed after it began.
func TestRevocationCatchesGrantInFlight(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, d, tenant := newStoreDB(t, b)
		now := time.Now().UTC()
		// The grants consume what they are given and return the family
		// they continue or start.
		rotate := func(ctx context.Context, _ *identity.AuthCode, old *identity.RefreshToken) (uuid.UUID, error) {
			if _, err := st.RefreshForUpdate(ctx, tenant, old.IDHash); err != nil {
				return uuid.Nil, err
			}
			return old.FamilyID, st.ConsumeRefresh(ctx, tenant, old.IDHash, now)
		}
		redeem := func(ctx context.Context, code *identity.AuthCode, _ *identity.RefreshToken) (uuid.UUID, error) {
			_, err := st.ConsumeCode(ctx, tenant, code.IDHash, now)
			return ids.NewEntity(), err
		}
		for _, tc := range []struct {
			desc   string
			grant  func(ctx context.Context, code *identity.AuthCode, old *identity.RefreshToken) (uuid.UUID, error)
			revoke func(code *identity.AuthCode, old *identity.RefreshToken) error
		}{
			{
				desc:  "rotation, then the family is revoked",
				grant: rotate,
				revoke: func(_ *identity.AuthCode, old *identity.RefreshToken) error {
					return st.RevokeFamily(ctx, tenant, old.FamilyID, now)
				},
			},
			{
				desc:  "rotation, then the user's grants are revoked",
				grant: rotate,
				revoke: func(_ *identity.AuthCode, old *identity.RefreshToken) error {
					return st.RevokeUserGrants(ctx, tenant, old.UserID, now)
				},
			},
			{
				desc:  "redemption, then the code is replayed",
				grant: redeem,
				revoke: func(code *identity.AuthCode, _ *identity.RefreshToken) error {
					return st.WithTx(ctx, tenant, func(ctx context.Context) error {
						if _, err := st.ConsumeCode(ctx, tenant, code.IDHash, now); !errors.Is(err, store.ErrAlreadyUsed) {
							return errors.Join(errors.New("the replay did not see the code used"), err)
						}
						return st.RevokeCodeGrants(ctx, tenant, code.IDHash, now)
					})
				},
			},
			{
				desc:  "redemption, then the user's grants are revoked",
				grant: redeem,
				revoke: func(code *identity.AuthCode, _ *identity.RefreshToken) error {
					return st.RevokeUserGrants(ctx, tenant, code.UserID, now)
				},
			},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				user := ids.NewEntity()
				code := newCode(t, st, tenant, user, now)
				old := &identity.RefreshToken{IDHash: factory.Name("rt"), FamilyID: ids.NewEntity(), ClientID: "c", UserID: user, Scope: "s", Audience: "a", ExpiresAt: now.Add(time.Hour)}
				require.NoError(t, st.SaveRefresh(ctx, tenant, old))
				newRT, newAT := factory.Name("rt"), factory.Name("at")

				paused, release := make(chan struct{}), make(chan struct{})
				grantDone := make(chan error, 1)
				go func() {
					grantDone <- st.WithTx(ctx, tenant, func(ctx context.Context) error {
						family, err := tc.grant(ctx, code, old)
						if err != nil {
							return err
						}
						if err := st.SaveRefresh(ctx, tenant, &identity.RefreshToken{IDHash: newRT, FamilyID: family, ClientID: "c", UserID: user, Scope: "s", Audience: "a", CodeHash: code.IDHash, ExpiresAt: now.Add(time.Hour)}); err != nil {
							return err
						}
						if err := st.SaveAccess(ctx, tenant, &identity.AccessToken{JTI: newAT, ClientID: "c", Subject: user.String(), FamilyID: family, CodeHash: code.IDHash, ExpiresAt: now.Add(time.Minute)}); err != nil {
							return err
						}
						close(paused)
						<-release
						return nil
					})
				}()
				select {
				case <-paused:
				case err := <-grantDone:
					t.Fatalf("the grant ended before it paused: %v", err)
				}
				revokeDone := make(chan error, 1)
				go func() { revokeDone <- tc.revoke(code, old) }()
				dbtest.WaitForLockWaiters(ctx, t, d, 1)
				close(release)
				require.NoError(t, <-grantDone)
				require.NoError(t, <-revokeDone)

				rt, err := st.Refresh(ctx, tenant, newRT)
				require.NoError(t, err)
				assert.NotNil(t, rt.RevokedAt, "the grant's refresh token escaped the revocation")
				at, err := st.Access(ctx, tenant, newAT)
				require.NoError(t, err)
				assert.NotNil(t, at.RevokedAt, "the grant's access token escaped the revocation")
			})
		}
	})
}
