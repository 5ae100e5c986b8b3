package conformance

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// RunConcurrency runs the guarantees kms.KeyStore gives to concurrent
// callers: changes to one key are serialised under its lock.
func RunConcurrency(t *testing.T, newStore NewStore) {
	tests := []subtest{
		{"AddVersionNumbersAreConsecutive", testConcurrentAddVersion},
		{"AddVersionRacingDestroy", testAddVersionRacingDestroy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

// race starts n calls of fn at once and waits for them.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testConcurrentAddVersion(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, _ := createKey(t, s, tn, keycrypto.HS256, factory.Name("key"))
	const n = 10
	got := make([]int, n)
	race(n, func(i int) {
		v, err := s.AddVersion(ctx, tn, k.ID, func(*kms.ElasticKey) error { return nil }, newVersion(k.ID))
		if assert.NoError(t, err, "every concurrent AddVersion succeeds") {
			got[i] = v.Version
		}
	})
	slices.Sort(got)
	want := make([]int, 0, n)
	for v := 2; v <= n+1; v++ {
		want = append(want, v)
	}
	assert.Equal(t, want, got, "distinct, consecutive numbers after version 1")
	key, err := s.Key(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, n+1, key.PrimaryVersion)
}

// testAddVersionRacingDestroy: the check of AddVersion sees the key as the
// destroy left it, so no live version is added to a destroyed key.
func testAddVersionRacingDestroy(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	refuseDestroyed := func(k *kms.ElasticKey) error {
		if k.Status == kms.StatusDestroyed {
			return kms.New(kms.KeyDestroyed, "destroyed")
		}
		return nil
	}
	for range 5 {
		k, _ := createKey(t, s, tn, keycrypto.HS256, factory.Name("key"))
		race(5, func(i int) {
			if i == 0 {
				_, err := s.UpdateKey(ctx, tn, k.ID, func(k *kms.ElasticKey) error { k.Status = kms.StatusDestroyed; return nil })
				assert.NoError(t, err)
				return
			}
			if _, err := s.AddVersion(ctx, tn, k.ID, refuseDestroyed, newVersion(k.ID)); err != nil {
				assert.Equal(t, kms.KeyDestroyed, kms.CodeOf(err), "before the destroy a version is added; after it, refused: %v", err)
			}
		})
		vs, _, err := s.Versions(ctx, tn, k.ID, kms.Page{Size: 100})
		require.NoError(t, err)
		for _, v := range vs {
			assert.Equal(t, kms.StatusDestroyed, v.Status, "version %d of a destroyed key", v.Version)
			assert.Nil(t, v.Wrapped, "version %d keeps no material", v.Version)
		}
	}
}
