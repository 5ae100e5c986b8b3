package oauth

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/changegen"
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
// past it the least recently used one is forgotten (and costs one read
// again when it comes back).
const maxTrackedTenants = 10_000

// changeTracker gives the current stamp of a tenant: its local change
// count, exact at every call, and its database generation, read again once
// every has passed since the last read started (changegen.Tracker). A
// change made through this replica's store is therefore seen at once; one
// made by another replica once that read happens, within every.
type changeTracker struct {
	feed ChangeFeed
	gens *changegen.Tracker
}

func newChangeTracker(feed ChangeFeed, now func() time.Time, every time.Duration) *changeTracker {
	return &changeTracker{feed: feed, gens: changegen.New(feed.Generation, now, every, maxTrackedTenants)}
}

// stamp returns tenant's current stamp. An error (the database failed, the
// tenant is gone) means nothing of the tenant may be served from a cache.
func (c *changeTracker) stamp(ctx context.Context, tenant uuid.UUID) (stamp, error) {
	// The local count is read first: a local change committing after it
	// raises the count, so what is read under this stamp goes stale.
	local := c.feed.LocalChanges(tenant)
	gen, err := c.gens.Generation(ctx, tenant)
	if err != nil {
		return stamp{}, err
	}
	return stamp{local: local, gen: gen}, nil
}
