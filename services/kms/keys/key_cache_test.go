package keys

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/testkit/clock"
)

// generationStore serves one key without versions and a generation; it
// counts key reads, and while gate is set a generation read waits for it.
type generationStore struct {
	kms.KeyStore
	mu       sync.Mutex
	gen      int64
	err      error
	gate     chan struct{}
	keyReads int
}

func (s *generationStore) KeyGeneration(ctx context.Context, _ uuid.UUID) (int64, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.err
}

func (s *generationStore) KeyWithPrimary(_ context.Context, tenant, id uuid.UUID) (*kms.ElasticKey, *kms.MaterialKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyReads++
	return &kms.ElasticKey{ID: id, TenantID: tenant}, nil, nil
}

func (s *generationStore) set(f func(s *generationStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *generationStore) reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyReads
}

// TestCacheGenerationSemantics: a moved generation and a failed
// generation read drop the tenant's keys; a request that ends while it
// waits for the read drops nothing.
func TestCacheGenerationSemantics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &generationStore{gen: 1}
		clk := clock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		c := newKeyCache(store, nil, clk.Now, CacheOptions{GenerationRefresh: time.Second})
		tenant, id := uuid.New(), uuid.New()
		get := func(ctx context.Context) error {
			_, err := c.get(ctx, tenant, id)
			return err
		}

		require.NoError(t, get(t.Context()))
		require.NoError(t, get(t.Context()))
		assert.Equal(t, 1, store.reads(), "cached")

		clk.Advance(time.Second)
		store.set(func(s *generationStore) { s.gate = make(chan struct{}) })
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		var err error
		wg.Go(func() { err = get(ctx) })
		synctest.Wait()
		cancel()
		wg.Wait()
		require.ErrorIs(t, err, context.Canceled)
		store.set(func(s *generationStore) { close(s.gate); s.gate = nil })
		synctest.Wait()
		require.NoError(t, get(t.Context()))
		assert.Equal(t, 1, store.reads(), "a request that left while waiting dropped nothing")

		clk.Advance(time.Second)
		store.set(func(s *generationStore) { s.gen = 2 })
		require.NoError(t, get(t.Context()))
		assert.Equal(t, 2, store.reads(), "a moved generation drops the keys")

		clk.Advance(time.Second)
		gone := kms.New(kms.NotFound, "no such tenant")
		store.set(func(s *generationStore) { s.err = gone })
		require.True(t, errors.Is(get(t.Context()), gone))
		store.set(func(s *generationStore) { s.err = nil })
		require.NoError(t, get(t.Context()))
		assert.Equal(t, 3, store.reads(), "a failed read drops the keys, even with the generation unchanged")
	})
}
