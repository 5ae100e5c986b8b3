package oauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/passthru-dev/passthru/services/identity"
)

// clientCache keeps the client records that client authentication and
// token validation read on every request (secret hash, authentication
// method, grant types, audiences, disabled), so a busy client costs no
// database read. Each entry carries the stamp of its tenant taken before
// the record was read and is used only while the stamp is current: every
// admin change of a client raises its tenant's change count, so this
// replica re-reads the client at once, and another replica once it reads
// the tenant's generation again (within the tracker's interval). Unknown
// clients are not cached. The records are shared: callers only read them.
//
// A client missing from the cache, or whose entry's stamp is outdated, is
// read through a single flight per tenant, client id and stamp, so a burst
// of requests for a busy client after a change of its tenant costs one
// read. The stamp is part of the flight's key: a request that saw a later
// change than a flight already running reads for itself rather than take
// that flight's older answer.
type clientCache struct {
	changes *changeTracker
	store   ClientStore
	flight  singleflight.Group
	clients *boundedMap[string, cachedClient]
}

type cachedClient struct {
	client *identity.Client
	st     stamp
}

func newClientCache(changes *changeTracker, store ClientStore, size int) *clientCache {
	return &clientCache{changes: changes, store: store, clients: newBoundedMap[string, cachedClient](size)}
}

// Client finds a client by client_id in whichever tenant owns it, as
// ClientStore.Client does.
func (c *clientCache) Client(ctx context.Context, id string) (*identity.Client, error) {
	if e, ok := c.clients.get(id); ok {
		client, err := c.TenantClient(ctx, e.client.TenantID, id)
		if err == nil {
			return client, nil
		}
		// Gone from that tenant (deleted, perhaps created again in
		// another): look for it afresh.
	}
	found, err := c.store.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	// Read again under a stamp taken first, so a change between the two
	// reads is not cached as current.
	return c.TenantClient(ctx, found.TenantID, id)
}

// TenantClient finds a client of one tenant, as ClientStore.TenantClient
// does.
func (c *clientCache) TenantClient(ctx context.Context, tenant uuid.UUID, id string) (*identity.Client, error) {
	st, stErr := c.changes.stamp(ctx, tenant)
	if e, ok := c.clients.get(id); ok && stErr == nil && e.st == st && e.client.TenantID == tenant {
		return e.client, nil
	}
	// A stale entry that is not replaced here is never served again (its
	// stamp is outdated for good) and goes when the cache needs room.
	if stErr != nil {
		return c.store.TenantClient(ctx, tenant, id) // nothing to cache it under
	}
	key := fmt.Sprintf("%s/%d/%d/%s", tenant, st.local, st.gen, id)
	for {
		res, err, _ := c.flight.Do(key, func() (any, error) {
			client, err := c.store.TenantClient(ctx, tenant, id)
			if err != nil {
				return nil, err
			}
			c.clients.put(id, cachedClient{client: client, st: st})
			return client, nil
		})
		// The flight ran under its first caller's context: when that
		// caller went away, one still waiting reads again.
		if (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		return res.(*identity.Client), nil
	}
}
