package keys_test

import (
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestConcurrentRotate: rotations of one key at the same time all succeed
// with distinct, consecutive version numbers, on both backends.
func TestConcurrentRotate(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k := e.key(t, keycrypto.HS256, true)
		const n = 12
		var wg sync.WaitGroup
		versions := make(chan int, n)
		errs := make(chan error, n)
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				m, err := e.svc.Rotate(ctx, e.tenant, k.ID)
				if err != nil {
					errs <- err
					return
				}
				versions <- m.Version
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		close(versions)
		for err := range errs {
			require.NoError(t, err, "every concurrent rotation succeeds")
		}
		var got []int
		for v := range versions {
			got = append(got, v)
		}
		sort.Ints(got)
		want := make([]int, 0, n)
		for v := 2; v <= n+1; v++ {
			want = append(want, v)
		}
		assert.Equal(t, want, got, "distinct consecutive versions after version 1")
		list, _, err := e.svc.ListVersions(ctx, e.tenant, k.ID, kms.Page{Size: 100})
		require.NoError(t, err)
		require.Len(t, list, n+1)
		assert.Equal(t, n+1, list[0].Version)
		assert.True(t, list[0].Primary)
	})
}

// TestRotateRacingDestroy: a rotation racing a destroy never leaves live
// material behind in a destroyed key.
func TestRotateRacingDestroy(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		g, err := e.db.Tenant(ctx, e.tenant)
		require.NoError(t, err)
		for range 8 {
			k := e.key(t, keycrypto.HS256, true)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 4 {
				wg.Go(func() {
					<-start
					// Before the destroy a rotation succeeds; after it, the
					// key is gone: nothing else is an acceptable answer.
					if _, err := e.svc.Rotate(ctx, e.tenant, k.ID); err != nil {
						assert.Equal(t, kms.KeyDestroyed, kms.CodeOf(err), "rotate racing destroy: %v", err)
					}
				})
			}
			wg.Go(func() {
				<-start
				_, err := e.svc.DestroyKey(ctx, e.tenant, k.ID)
				assert.NoError(t, err)
			})
			close(start)
			wg.Wait()
			var live int64
			require.NoError(t, g.Table("kms_material_keys").
				Where("elastic_key_id = ? AND (wrapped IS NOT NULL OR status <> ?)", k.ID.String(), "destroyed").
				Count(&live).Error)
			assert.Zero(t, live, "a destroyed key keeps no material and no live version")
		}
	})
}

// TestConcurrentCachedUse: encrypts with the cached primary, decrypts by
// older kids (filling the key's cached versions) and rotations (dropping
// the key) at the same time all succeed; under -race this also checks that
// the cache shares nothing unguarded between them.
func TestConcurrentCachedUse(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k := e.key(t, keycrypto.A256GCM, true)
		var old []string
		for range 3 {
			jwe, _, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("old"), nil)
			require.NoError(t, err)
			old = append(old, jwe)
			_, err = e.svc.Rotate(ctx, e.tenant, k.ID)
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		for i := range 24 {
			wg.Go(func() {
				switch i % 4 {
				case 0:
					_, _, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("new"), nil)
					assert.NoError(t, err)
				case 3:
					if i < 12 {
						_, err := e.svc.Rotate(ctx, e.tenant, k.ID)
						assert.NoError(t, err)
						return
					}
					fallthrough
				default:
					pt, err := e.svc.Decrypt(ctx, e.tenant, k.ID, old[i%len(old)], nil)
					assert.NoError(t, err)
					assert.Equal(t, "old", string(pt))
				}
			})
		}
		wg.Wait()
	})
}
