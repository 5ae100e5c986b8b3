package keys_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// replica is one KMS process: its own database handles (and so its own
// connections), store, barrier and key cache, over a database it may share.
type replica struct {
	svc        *keys.Service
	store      *sqlstore.Store
	statements atomic.Int64 // SQL statements run on its handles
}

// newReplica opens a replica on the database opts describes (the same opts
// give two replicas one database).
func newReplica(t *testing.T, opts db.Options, now func() time.Time, cache keys.CacheOptions) *replica {
	t.Helper()
	ctx := t.Context()
	r := &replica{}
	opts.OnQuery = func() { r.statements.Add(1) }
	d, err := db.Open(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("a-test-unseal-secret-of-32-bytes!!")}, Now: now})
	require.NoError(t, err)
	r.store, err = sqlstore.New(ctx, d)
	require.NoError(t, err)
	r.svc, err = keys.New(ctx, keys.Options{Store: r.store, Barrier: br, Now: now, Cache: cache})
	require.NoError(t, err)
	t.Cleanup(r.svc.Close)
	return r
}

// statementsOf returns how many SQL statements fn ran on r's handles.
func (r *replica) statementsOf(fn func()) int64 {
	before := r.statements.Load()
	fn()
	return r.statements.Load() - before
}

func (r *replica) encrypt(t *testing.T, tenant, id uuid.UUID) (jwe, kid string, err error) {
	t.Helper()
	return r.svc.Encrypt(t.Context(), tenant, id, []byte("secret"), nil)
}

var epoch = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// TestCacheAcrossReplicas: two replicas (separate caches, separate
// database handles) over one database. A change made on A is seen by A at
// once and by B once GenerationRefresh has passed, and not before: until
// then B serves its cached key without reading the database, which is what
// the cache is for and what the documented bound allows.
func TestCacheAcrossReplicas(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := clock.New(epoch)
		const refresh = 2 * time.Second
		opts := dbtest.Options(t, b)
		cache := keys.CacheOptions{GenerationRefresh: refresh}
		a, r := newReplica(t, opts, clk.Now, cache), newReplica(t, opts, clk.Now, cache)
		tn, err := a.svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
		require.NoError(t, err)
		tenant := tn.ID
		k, err := a.svc.CreateKey(ctx, tenant, kms.NewKey{Name: factory.Name("key"), Algorithm: "A256GCM", VersioningAllowed: true})
		require.NoError(t, err)

		ct1, kid1, err := r.encrypt(t, tenant, k.ID)
		require.NoError(t, err)

		// Rotation: A encrypts with the new version at once, B once the
		// interval has passed; B still opens what the old version made.
		v2, err := a.svc.Rotate(ctx, tenant, k.ID)
		require.NoError(t, err)
		_, kid, err := a.encrypt(t, tenant, k.ID)
		require.NoError(t, err)
		assert.Equal(t, v2.Kid(), kid, "A uses the new primary at once")
		_, kid, err = r.encrypt(t, tenant, k.ID)
		require.NoError(t, err)
		assert.Equal(t, kid1, kid, "B serves its cached primary within the interval")
		clk.Advance(refresh)
		_, kid, err = r.encrypt(t, tenant, k.ID)
		require.NoError(t, err)
		assert.Equal(t, v2.Kid(), kid, "B uses the new primary once the interval passed")
		pt, err := r.svc.Decrypt(ctx, tenant, k.ID, ct1, nil)
		require.NoError(t, err)
		assert.Equal(t, "secret", string(pt), "an older version's kid still decrypts")

		// A version status change.
		_, err = a.svc.SetVersionStatus(ctx, tenant, k.ID, uuid.MustParse(kid1), kms.StatusDisabled)
		require.NoError(t, err)
		_, err = a.svc.Decrypt(ctx, tenant, k.ID, ct1, nil)
		requireCode(t, err, kms.VersionDisabled)
		_, err = r.svc.Decrypt(ctx, tenant, k.ID, ct1, nil)
		require.NoError(t, err, "B serves its cached version within the interval")
		clk.Advance(refresh)
		_, err = r.svc.Decrypt(ctx, tenant, k.ID, ct1, nil)
		requireCode(t, err, kms.VersionDisabled)

		// Disabling the key.
		disabled, enabled := kms.StatusDisabled, kms.StatusEnabled
		_, err = a.svc.UpdateKey(ctx, tenant, k.ID, kms.KeyPatch{Status: &disabled})
		require.NoError(t, err)
		_, _, err = a.encrypt(t, tenant, k.ID)
		requireCode(t, err, kms.KeyDisabled)
		_, _, err = r.encrypt(t, tenant, k.ID)
		require.NoError(t, err, "B serves its cached key within the interval")
		clk.Advance(refresh - time.Nanosecond)
		_, _, err = r.encrypt(t, tenant, k.ID)
		require.NoError(t, err, "still within the interval")
		clk.Advance(time.Nanosecond)
		_, _, err = r.encrypt(t, tenant, k.ID)
		requireCode(t, err, kms.KeyDisabled)

		// Destroying it.
		_, err = a.svc.UpdateKey(ctx, tenant, k.ID, kms.KeyPatch{Status: &enabled})
		require.NoError(t, err)
		clk.Advance(refresh)
		_, _, err = r.encrypt(t, tenant, k.ID)
		require.NoError(t, err)
		_, err = a.svc.DestroyKey(ctx, tenant, k.ID)
		require.NoError(t, err)
		_, _, err = a.encrypt(t, tenant, k.ID)
		requireCode(t, err, kms.KeyDestroyed)
		_, _, err = r.encrypt(t, tenant, k.ID)
		require.NoError(t, err, "B serves its cached key within the interval")
		clk.Advance(refresh)
		_, _, err = r.encrypt(t, tenant, k.ID)
		requireCode(t, err, kms.KeyDestroyed)
	})
}

// TestWarmRequestRunsOneStatement: once a key is cached, encrypt, decrypt,
// sign and verify run one SQL statement each, the audit INSERT; the first
// use of a key reads it once more, and the generation re-read costs one
// statement per interval.
func TestWarmRequestRunsOneStatement(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := clock.New(epoch)
		r := newReplica(t, dbtest.Options(t, b), clk.Now, keys.CacheOptions{})
		tn, err := r.svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
		require.NoError(t, err)
		enc, err := r.svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "A256GCM"})
		require.NoError(t, err)
		sig, err := r.svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "ES256"})
		require.NoError(t, err)

		var jwe, jws string
		cold := r.statementsOf(func() {
			jwe, _, err = r.encrypt(t, tn.ID, enc.ID)
			require.NoError(t, err)
		})
		assert.Equal(t, int64(3), cold, "generation, key with its primary, audit")
		steps := []struct {
			desc string
			run  func() error
		}{
			{desc: "encrypt", run: func() (err error) { _, _, err = r.encrypt(t, tn.ID, enc.ID); return err }},
			{desc: "decrypt", run: func() (err error) { _, err = r.svc.Decrypt(ctx, tn.ID, enc.ID, jwe, nil); return err }},
			{desc: "sign", run: func() (err error) { jws, _, err = r.svc.Sign(ctx, tn.ID, sig.ID, []byte("p")); return err }},
			{desc: "verify", run: func() (err error) { _, err = r.svc.Verify(ctx, tn.ID, sig.ID, jws); return err }},
		}
		require.NoError(t, steps[2].run(), "warm the signing key")
		for _, s := range steps {
			n := r.statementsOf(func() { require.NoError(t, s.run(), s.desc) })
			assert.Equal(t, int64(1), n, "%s on a cached key runs only the audit INSERT", s.desc)
		}
		clk.Advance(keys.DefaultGenerationRefresh)
		n := r.statementsOf(func() { require.NoError(t, steps[0].run()) })
		assert.Equal(t, int64(2), n, "the due generation re-read, then the audit INSERT")
	})
}

// TestCacheBounds: MaxAge bounds what the generation cannot tell (here a
// change written behind the service's back with a long refresh), and
// MaxKeys evicts the least recently used key.
func TestCacheBounds(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := clock.New(epoch)
		const maxAge = time.Minute
		r := newReplica(t, dbtest.Options(t, b), clk.Now, keys.CacheOptions{MaxKeys: 2, MaxAge: maxAge, GenerationRefresh: time.Hour})
		tn, err := r.svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
		require.NoError(t, err)
		var ids []uuid.UUID
		for range 3 {
			k, err := r.svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "HS256"})
			require.NoError(t, err)
			ids = append(ids, k.ID)
		}
		mac := func(id uuid.UUID) int64 {
			return r.statementsOf(func() {
				_, _, err := r.svc.MAC(ctx, tn.ID, id, []byte("p"))
				require.NoError(t, err)
			})
		}
		mac(ids[0])
		mac(ids[1])
		assert.Equal(t, int64(1), mac(ids[0]), "cached")
		assert.Equal(t, int64(2), mac(ids[2]), "a third key is read, evicting the least recently used (the second)")
		assert.Equal(t, int64(1), mac(ids[0]), "the first stayed")
		assert.Equal(t, int64(2), mac(ids[1]), "the second was evicted")

		// Disabled in the store directly: the service's cache is not told.
		_, err = r.store.UpdateKey(ctx, tn.ID, ids[1], func(k *kms.ElasticKey) error {
			k.Status = kms.StatusDisabled
			return nil
		})
		require.NoError(t, err)
		clk.Advance(maxAge - time.Nanosecond)
		_, _, err = r.svc.MAC(ctx, tn.ID, ids[1], []byte("p"))
		require.NoError(t, err, "younger than MaxAge")
		clk.Advance(time.Nanosecond)
		_, _, err = r.svc.MAC(ctx, tn.ID, ids[1], []byte("p"))
		requireCode(t, err, kms.KeyDisabled)
	})
}

// TestGenerationReadIsShared: concurrent requests of one tenant that find
// the generation due read it once between them.
func TestGenerationReadIsShared(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := clock.New(epoch)
		d := dbtest.Open(t, b)
		br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("a-test-unseal-secret-of-32-bytes!!")}})
		require.NoError(t, err)
		store, err := sqlstore.New(ctx, d)
		require.NoError(t, err)
		counting := &generationCounter{KeyStore: store}
		svc, err := keys.New(ctx, keys.Options{Store: counting, Barrier: br, Now: clk.Now})
		require.NoError(t, err)
		tn, err := svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
		require.NoError(t, err)
		k, err := svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "A256GCM"})
		require.NoError(t, err)
		_, _, err = svc.Encrypt(ctx, tn.ID, k.ID, []byte("x"), nil)
		require.NoError(t, err)
		clk.Advance(keys.DefaultGenerationRefresh)
		before := counting.reads.Load()
		const n = 16
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, _, err := svc.Encrypt(ctx, tn.ID, k.ID, []byte("x"), nil)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		// The clock stands still, so whoever comes after the read finds it fresh.
		assert.Equal(t, int64(1), counting.reads.Load()-before)
		events, _, err := svc.ListAudit(ctx, tn.ID, &k.ID, kms.Page{Size: 100})
		require.NoError(t, err)
		assert.Len(t, events, n+2, "create, the first encrypt and one event per concurrent encrypt")
	})
}

// generationCounter counts the generation reads of a store.
type generationCounter struct {
	kms.KeyStore
	reads atomic.Int64
}

func (g *generationCounter) KeyGeneration(ctx context.Context, tenant uuid.UUID) (int64, error) {
	g.reads.Add(1)
	return g.KeyStore.KeyGeneration(ctx, tenant)
}

// TestDeletedTenantIsForgotten: deleting a tenant drops its cached keys at
// once, so a tenant registered again under the same id starts with none of
// the old one's keys, even within the generation interval.
func TestDeletedTenantIsForgotten(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := clock.New(epoch)
		r := newReplica(t, dbtest.Options(t, b), clk.Now, keys.CacheOptions{})
		tn, err := r.svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
		require.NoError(t, err)
		k, err := r.svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "A256GCM"})
		require.NoError(t, err)
		_, _, err = r.encrypt(t, tn.ID, k.ID)
		require.NoError(t, err)
		require.NoError(t, r.svc.DeleteTenant(ctx, tn.ID))
		_, _, err = r.encrypt(t, tn.ID, k.ID)
		requireCode(t, err, kms.NotFound)

		_, err = r.svc.CreateTenant(ctx, tn.ID, tn.Name, false)
		require.NoError(t, err)
		_, _, err = r.encrypt(t, tn.ID, k.ID)
		requireCode(t, err, kms.NotFound)
	})
}

// TestReRegisteredTenantOnAnotherReplica: a tenant deleted on replica A
// and registered again under the same id, with as many key changes since as
// the old one had when B cached its key, does not bring back the old
// tenant's generation, so B drops the key once its interval passes instead
// of serving material the deletion erased. A counter starting at 0 would
// read the same value again and B would go on encrypting with the old key.
func TestReRegisteredTenantOnAnotherReplica(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		clk := clock.New(epoch)
		const refresh = 2 * time.Second
		opts := dbtest.Options(t, b)
		cache := keys.CacheOptions{GenerationRefresh: refresh}
		a, r := newReplica(t, opts, clk.Now, cache), newReplica(t, opts, clk.Now, cache)
		tn, err := a.svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
		require.NoError(t, err)
		k, err := a.svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "A256GCM"})
		require.NoError(t, err)
		_, _, err = r.encrypt(t, tn.ID, k.ID)
		require.NoError(t, err, "B caches the key")
		old, err := a.store.KeyGeneration(ctx, tn.ID)
		require.NoError(t, err)

		require.NoError(t, a.svc.DeleteTenant(ctx, tn.ID))
		// The counter starts at the database's clock, which SQLite reads
		// to the millisecond: register again only once that clock has
		// surely moved past the old tenant's start (in practice at once).
		require.Eventually(t, func() bool { return time.Now().UnixMicro() > old+1000 },
			10*time.Second, time.Millisecond)
		_, err = a.svc.CreateTenant(ctx, tn.ID, tn.Name, false)
		require.NoError(t, err)
		_, err = a.svc.CreateKey(ctx, tn.ID, kms.NewKey{Name: factory.Name("key"), Algorithm: "A256GCM"})
		require.NoError(t, err, "one key change, as the old tenant had")
		gen, err := a.store.KeyGeneration(ctx, tn.ID)
		require.NoError(t, err)
		assert.NotEqual(t, old, gen, "the same number of changes does not repeat the old generation")

		if b == dbtest.SQLite {
			// B's open handle on SQLite still reads the deleted tenant
			// file, not the new one, so what B serves there does not
			// depend on the counter.
			return
		}
		clk.Advance(refresh)
		_, _, err = r.encrypt(t, tn.ID, k.ID)
		requireCode(t, err, kms.NotFound)
	})
}

// TestCloseFailsLaterOperations: after Close no event can be recorded, so
// an operation that succeeded is still not acknowledged: it fails as any
// operation whose audit event cannot be written does.
func TestCloseFailsLaterOperations(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k := e.key(t, "A256GCM", false)
		_, _, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
		require.NoError(t, err)
		e.svc.Close()
		_, _, err = e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
		requireCode(t, err, kms.NotReady)
		events, _, err := e.svc.ListAudit(ctx, e.tenant, &k.ID, kms.Page{Size: 10})
		require.NoError(t, err)
		assert.Len(t, events, 2, "create and the acknowledged encrypt only")
	})
}
