package keys

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/changegen"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// Cache defaults; see CacheOptions.
const (
	DefaultCacheMaxKeys      = 4096
	DefaultCacheMaxVersions  = 4
	DefaultCacheMaxAge       = 5 * time.Minute
	DefaultGenerationRefresh = time.Second
)

// CacheOptions bound the cache of keys and their unwrapped material that
// serves encrypt, decrypt, sign, verify and MAC without a database read.
//
// A change made through this Service is seen by its next request. A change
// made by another replica is seen by the next request after the store's
// notification of it arrived (Service.KeysChanged; on PostgreSQL the
// notification is sent at the change's commit), and within
// GenerationRefresh at the latest, should the notification be lost: each
// tenant's key generation (which every key change increases in its own
// transaction) is re-read at most once per GenerationRefresh, by the first
// request that finds it due while the others of that tenant wait for the
// answer, and a changed generation drops every cached key of the tenant.
// The generations of at most changegen.DefaultMaxTenants tenants are
// remembered; the least recently used tenant past that reads it again.
type CacheOptions struct {
	// MaxKeys bounds the elastic keys cached over all tenants; the least
	// recently used goes first. Default DefaultCacheMaxKeys.
	MaxKeys int
	// MaxVersions bounds the older versions (decrypt and verify by kid)
	// cached per key besides its primary; further ones are read from the
	// store on every use. Default DefaultCacheMaxVersions.
	MaxVersions int
	// MaxAge is how long a key stays cached however often it is used; it
	// bounds what the generation check cannot see. Default
	// DefaultCacheMaxAge.
	MaxAge time.Duration
	// GenerationRefresh bounds how long a key change made by another
	// replica takes to be seen here. Default DefaultGenerationRefresh.
	GenerationRefresh time.Duration
}

func (o *CacheOptions) withDefaults() {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultCacheMaxKeys
	}
	if o.MaxVersions <= 0 {
		o.MaxVersions = DefaultCacheMaxVersions
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultCacheMaxAge
	}
	if o.GenerationRefresh <= 0 {
		o.GenerationRefresh = DefaultGenerationRefresh
	}
}

// loader unwraps and loads a version's material (Service.load).
type loader func(ctx context.Context, tenant uuid.UUID, k *kms.ElasticKey, m *kms.MaterialKey) (*keycrypto.Key, error)

// keyCache holds elastic keys with their versions' loaded material, by
// tenant. It is safe for concurrent use.
type keyCache struct {
	store kms.KeyStore
	load  loader
	now   func() time.Time
	opts  CacheOptions

	gens *changegen.Tracker // the tenants' key generations

	mu      sync.Mutex
	tenants map[uuid.UUID]*tenantKeys
	lru     *list.List // of *cachedKey, most recently used first
}

// tenantKeys is one tenant's part of the cache.
type tenantKeys struct {
	keys map[uuid.UUID]*cachedKey
	// epoch increases whenever keys are dropped. A fill read from the
	// store before a drop must not be stored after it, so a fill stores
	// its key only when the tenant's epoch (and tenantKeys) is the one it
	// started under.
	epoch uint64
	// generation is the key generation the cached keys were read under:
	// the one seen when the tenant was added or its keys last dropped.
	generation int64
}

// cachedKey is a key with its versions read so far. Its fields are
// written only before it is shared, except versions, guarded by
// keyCache.mu. Callers must not modify key.
type cachedKey struct {
	tenant   uuid.UUID
	key      *kms.ElasticKey
	primary  *cachedVersion // nil when no version is enabled
	loadedAt time.Time
	elem     *list.Element
	versions map[uuid.UUID]*cachedVersion
}

// cachedVersion is a version's metadata (without its wrapped material) and,
// when it is enabled and its key too, its loaded material.
type cachedVersion struct {
	m   *kms.MaterialKey
	key *keycrypto.Key
}

func newKeyCache(store kms.KeyStore, load loader, now func() time.Time, opts CacheOptions) *keyCache {
	opts.withDefaults()
	return &keyCache{
		store: store, load: load, now: now, opts: opts,
		gens:    changegen.New(store.KeyGeneration, now, opts.GenerationRefresh, 0),
		tenants: map[uuid.UUID]*tenantKeys{}, lru: list.New(),
	}
}

// get returns key id of tenant with its primary version loaded, from the
// cache when it is there and young enough, else from the store.
func (c *keyCache) get(ctx context.Context, tenant, id uuid.UUID) (*cachedKey, error) {
	if err := c.checkGeneration(ctx, tenant); err != nil {
		return nil, err
	}
	now := c.now()
	c.mu.Lock()
	t := c.tenants[tenant]
	if t == nil {
		// Deleted on this replica since the check: serve from the store
		// (which answers not_found) and cache nothing.
		c.mu.Unlock()
		return c.fill(ctx, tenant, id, now)
	}
	if e := t.keys[id]; e != nil {
		if now.Sub(e.loadedAt) < c.opts.MaxAge {
			c.lru.MoveToFront(e.elem)
			c.mu.Unlock()
			return e, nil
		}
		c.removeLocked(t, e)
	}
	epoch := t.epoch
	c.mu.Unlock()

	e, err := c.fill(ctx, tenant, id, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.tenants[tenant]; cur == t && cur.epoch == epoch && cur.keys[id] == nil {
		e.elem = c.lru.PushFront(e)
		t.keys[id] = e
		for c.lru.Len() > c.opts.MaxKeys {
			old := c.lru.Back().Value.(*cachedKey)
			c.removeLocked(c.tenants[old.tenant], old)
		}
	}
	return e, nil
}

// fill reads key id and its primary version from the store (one
// statement) and loads the primary's material when the key is enabled.
func (c *keyCache) fill(ctx context.Context, tenant, id uuid.UUID, now time.Time) (*cachedKey, error) {
	k, m, err := c.store.KeyWithPrimary(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	e := &cachedKey{tenant: tenant, key: k, loadedAt: now, versions: map[uuid.UUID]*cachedVersion{}}
	if m == nil {
		return e, nil
	}
	v, err := c.loaded(ctx, tenant, k, m)
	if err != nil {
		return nil, err
	}
	e.primary, e.versions[m.ID] = v, v
	return e, nil
}

// loaded returns m as cached: without its wrapped material, loaded when
// both m and k are enabled (a disabled key serves nothing, so its
// material is not unwrapped).
func (c *keyCache) loaded(ctx context.Context, tenant uuid.UUID, k *kms.ElasticKey, m *kms.MaterialKey) (*cachedVersion, error) {
	v := &cachedVersion{m: m}
	if k.Status == kms.StatusEnabled && m.Status == kms.StatusEnabled {
		key, err := c.load(ctx, tenant, k, m)
		if err != nil {
			return nil, err
		}
		v.key = key
	}
	m.Wrapped = nil
	return v, nil
}

// version returns version mid of e's key, read from the store on a miss
// and cached while the key has room for it; nil when the key has no such
// version.
func (c *keyCache) version(ctx context.Context, e *cachedKey, mid uuid.UUID) (*cachedVersion, error) {
	c.mu.Lock()
	v := e.versions[mid]
	c.mu.Unlock()
	if v != nil {
		return v, nil
	}
	m, err := c.store.Version(ctx, e.tenant, e.key.ID, mid)
	if kms.Is(err, kms.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up kid: %w", err)
	}
	if v, err = c.loaded(ctx, e.tenant, e.key, m); err != nil {
		return nil, err
	}
	c.mu.Lock()
	// An entry dropped meanwhile may still take it: nothing reads a
	// dropped entry once its current requests are done.
	if len(e.versions) < c.opts.MaxVersions+1 {
		e.versions[mid] = v
	}
	c.mu.Unlock()
	return v, nil
}

// checkGeneration drops the tenant's keys when its key generation (read
// again at most once per GenerationRefresh, by one request of the tenant
// for all) is not the one they were cached under. A failed read (the
// tenant may have been deleted by another replica) drops them too; a
// request that merely ended while it waited drops nothing, as the read
// goes on for the others.
//
// Requests racing across a re-read may come back with the older and the
// newer generation in either order; each difference drops the keys again,
// which costs store reads, never freshness.
func (c *keyCache) checkGeneration(ctx context.Context, tenant uuid.UUID) error {
	gen, err := c.gens.Generation(ctx, tenant)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			c.forgetTenantLocked(tenant)
		}
		return err
	}
	t := c.tenants[tenant]
	if t == nil {
		c.tenants[tenant] = &tenantKeys{keys: map[uuid.UUID]*cachedKey{}, generation: gen}
		return nil
	}
	if gen != t.generation {
		c.dropLocked(t)
		t.generation = gen
	}
	return nil
}

// changedElsewhere makes the next request of tenant (of every tenant for
// uuid.Nil) read its key generation again, rather than trust the last read
// until GenerationRefresh has passed: another replica changed its keys.
func (c *keyCache) changedElsewhere(tenant uuid.UUID) {
	if tenant == uuid.Nil {
		c.gens.ForgetAll()
		return
	}
	c.gens.Forget(tenant)
}

// forget drops key id of tenant, after a change to it on this replica.
func (c *keyCache) forget(tenant, id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tenants[tenant]
	if t == nil {
		return
	}
	t.epoch++
	if e := t.keys[id]; e != nil {
		c.removeLocked(t, e)
	}
}

// forgetTenant drops every key of tenant and its generation, after the
// tenant was deleted on this replica.
func (c *keyCache) forgetTenant(tenant uuid.UUID) {
	c.gens.Forget(tenant)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetTenantLocked(tenant)
}

func (c *keyCache) forgetTenantLocked(tenant uuid.UUID) {
	if t := c.tenants[tenant]; t != nil {
		c.dropLocked(t)
		delete(c.tenants, tenant)
	}
}

// dropLocked removes every key of t and starts a new epoch.
func (c *keyCache) dropLocked(t *tenantKeys) {
	t.epoch++
	for _, e := range t.keys {
		c.removeLocked(t, e)
	}
}

func (c *keyCache) removeLocked(t *tenantKeys, e *cachedKey) {
	c.lru.Remove(e.elem)
	delete(t.keys, e.key.ID)
}
