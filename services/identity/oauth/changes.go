package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ChangeFeed tells the endpoints' caches (verified access tokens, client
// records) when what they hold of a tenant may have changed.
type ChangeFeed interface {
	// Generation reads the tenant's change generation from the database:
	// a counter raised in the same transaction as every change that
	// withdraws a token, a client or a user's standing (revocations,
	// client and user updates and deletions), whichever replica made it.
	// identity.ErrNotFound for an unknown tenant.
	Generation(ctx context.Context, tenant uuid.UUID) (int64, error)
	// LocalChanges counts those changes made through this store value,
	// each raising it once it has committed. Reading it costs no I/O.
	LocalChanges(tenant uuid.UUID) uint64
}

// stamp is what a cache entry was validated under: the tenant's local
// change count and database generation, both read before the entry's data.
// The entry is trusted while the tenant's current stamp equals it.
type stamp struct {
	local uint64
	gen   int64
}

// maxTrackedTenants bounds the tenants whose generation is remembered;
// past it the table starts afresh (each tenant then costs one read again).
const maxTrackedTenants = 10_000

// changeTracker gives the current stamp of a tenant: its local change
// count, exact at every call, and its database generation, read again when
// the last read is older than every. A change made through this replica's
// store is therefore seen at once; one made by another replica once that
// read happens, within every.
type changeTracker struct {
	feed  ChangeFeed
	now   func() time.Time
	every time.Duration

	mu      sync.Mutex
	tenants map[uuid.UUID]*tenantGeneration
}

type tenantGeneration struct {
	// mu is held across the database read, so one read serves every
	// request that finds the generation due at the same moment.
	mu     sync.Mutex
	gen    int64
	readAt time.Time // zero: never read
}

func newChangeTracker(feed ChangeFeed, now func() time.Time, every time.Duration) *changeTracker {
	return &changeTracker{feed: feed, now: now, every: every, tenants: map[uuid.UUID]*tenantGeneration{}}
}

// stamp returns tenant's current stamp. An error (the database failed, the
// tenant is gone) means nothing of the tenant may be served from a cache.
func (c *changeTracker) stamp(ctx context.Context, tenant uuid.UUID) (stamp, error) {
	local := c.feed.LocalChanges(tenant)
	c.mu.Lock()
	t := c.tenants[tenant]
	if t == nil {
		if len(c.tenants) >= maxTrackedTenants {
			clear(c.tenants)
		}
		t = &tenantGeneration{}
		c.tenants[tenant] = t
	}
	c.mu.Unlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	// The time is taken before the read: a change committed during the
	// read then counts as not yet seen.
	now := c.now()
	if t.readAt.IsZero() || now.Sub(t.readAt) >= c.every || now.Before(t.readAt) {
		gen, err := c.feed.Generation(ctx, tenant)
		if err != nil {
			t.readAt = time.Time{}
			return stamp{}, err
		}
		t.gen, t.readAt = gen, now
	}
	return stamp{local: local, gen: t.gen}, nil
}
