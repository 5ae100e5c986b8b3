package db

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// gatedBackend is the real SQLite backend with a gate in front of
// openTenant: a test can hold one tenant's pool "connecting" (as a slow
// PostgreSQL connect would) and observe what everything else does
// meanwhile. It also counts opens, to prove one pool per tenant.
type gatedBackend struct {
	backend
	mu      sync.Mutex
	opens   map[uuid.UUID]int
	pools   []*gorm.DB
	gate    uuid.UUID     // the tenant whose first open waits
	entered chan struct{} // closed when that open reaches the gate
	release chan struct{} // closing it lets that open proceed
	// dropEntered and dropRelease, when set, hold dropTenant the same way.
	dropEntered, dropRelease chan struct{}
}

func (b *gatedBackend) dropTenant(ctx context.Context, tenant uuid.UUID) error {
	if b.dropRelease != nil {
		close(b.dropEntered)
		<-b.dropRelease
	}
	return b.backend.dropTenant(ctx, tenant)
}

func (b *gatedBackend) openTenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	b.mu.Lock()
	b.opens[tenant]++
	gated := tenant == b.gate && b.opens[tenant] == 1
	b.mu.Unlock()
	if gated {
		close(b.entered)
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g, err := b.backend.openTenant(ctx, tenant)
	if err == nil {
		b.mu.Lock()
		b.pools = append(b.pools, g)
		b.mu.Unlock()
	}
	return g, err
}

func (b *gatedBackend) openCount(tenant uuid.UUID) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opens[tenant]
}

// openGated opens a SQLite DB whose backend gates the first open of a new
// tenant (returned created, not yet opened), plus one cached tenant.
func openGated(t *testing.T) (d *DB, gb *gatedBackend, cached uuid.UUID, cachedG *gorm.DB, gated uuid.UUID) {
	t.Helper()
	d, err := Open(t.Context(), Options{Driver: DriverSQLite, Namespace: "test", Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	gated, cached = uuid.New(), uuid.New()
	gb = &gatedBackend{backend: d.backend, opens: map[uuid.UUID]int{}, gate: gated,
		entered: make(chan struct{}), release: make(chan struct{})}
	d.backend = gb
	require.NoError(t, d.CreateTenant(t.Context(), cached))
	require.NoError(t, d.CreateTenant(t.Context(), gated))
	cachedG, err = d.Tenant(t.Context(), cached)
	require.NoError(t, err)
	return d, gb, cached, cachedG, gated
}

// doneSignal reports the first call of Done: a goroutine about to block on
// the context, observed without sleeping.
type doneSignal struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func (c *doneSignal) Done() <-chan struct{} {
	c.once.Do(func() { close(c.asked) })
	return c.Context.Done()
}

type tenantResult struct {
	g   *gorm.DB
	err error
}

func tenantAsync(ctx context.Context, d *DB, tenant uuid.UUID) <-chan tenantResult {
	ch := make(chan tenantResult, 1)
	go func() {
		g, err := d.Tenant(ctx, tenant)
		ch <- tenantResult{g, err}
	}()
	return ch
}

func TestTenantOpeningDoesNotBlockOthers(t *testing.T) {
	d, gb, cached, cachedG, gated := openGated(t)
	leader := tenantAsync(t.Context(), d, gated)
	<-gb.entered // the gated tenant's pool is now "connecting"

	// Under the old global mutex these would wait for the gated connect
	// forever; now they must answer while it is still held.
	g, err := d.Tenant(t.Context(), cached)
	require.NoError(t, err)
	assert.Same(t, cachedG, g, "cached tenant answered during another tenant's connect")
	other := uuid.New()
	require.NoError(t, d.CreateTenant(t.Context(), other))
	og, err := d.Tenant(t.Context(), other)
	require.NoError(t, err, "another tenant can even open its own pool meanwhile")
	require.NoError(t, og.Exec("SELECT 1").Error)

	// A second caller of the gated tenant joins the connect in flight; one
	// whose context ends gives up without disturbing it.
	follower := tenantAsync(t.Context(), d, gated)
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = d.Tenant(cctx, gated)
	require.ErrorIs(t, err, context.Canceled)

	close(gb.release)
	lr, fr := <-leader, <-follower
	require.NoError(t, lr.err)
	require.NoError(t, fr.err)
	assert.Same(t, lr.g, fr.g, "both callers share one handle")
	assert.Equal(t, 1, gb.openCount(gated), "exactly one pool opened for the tenant")
	again, err := d.Tenant(t.Context(), gated)
	require.NoError(t, err)
	assert.Same(t, lr.g, again)
}

func TestTenantRetriesWhenOpenerContextEnds(t *testing.T) {
	d, gb, _, _, gated := openGated(t)
	lctx, cancel := context.WithCancel(t.Context())
	leader := tenantAsync(lctx, d, gated)
	<-gb.entered
	// The follower's first use of its context is the wait on the leader's
	// entry (the leader holds the slot, so it cannot open itself yet):
	// once Done is asked for, it is waiting, and the leader can fail.
	fctx := &doneSignal{Context: t.Context(), asked: make(chan struct{})}
	follower := tenantAsync(fctx, d, gated)
	<-fctx.asked
	cancel()
	lr := <-leader
	require.ErrorIs(t, lr.err, context.Canceled)
	fr := <-follower
	require.NoError(t, fr.err, "a caller with a live context is not failed by the opener's cancellation")
	require.NoError(t, fr.g.Exec("SELECT 1").Error)
	assert.Equal(t, 2, gb.openCount(gated), "the failed open was retried once")
	gb.mu.Lock()
	defer gb.mu.Unlock()
	assert.Len(t, gb.pools, 2, "the cached tenant's pool and this one: nothing else was opened")
}

func TestDropTenantWaitsForOpeningPool(t *testing.T) {
	d, gb, cached, cachedG, gated := openGated(t)
	leader := tenantAsync(t.Context(), d, gated)
	<-gb.entered
	dropped := make(chan error, 1)
	go func() { dropped <- d.DropTenant(t.Context(), gated) }()
	g, err := d.Tenant(t.Context(), cached)
	require.NoError(t, err)
	assert.Same(t, cachedG, g)

	close(gb.release)
	lr := <-leader
	require.NoError(t, <-dropped)
	// The tenant existed when the open began, so it succeeds; the drop
	// waited for it and then closed that pool.
	require.NoError(t, lr.err)
	assert.Error(t, lr.g.Exec("SELECT 1").Error, "pool opened before the drop is closed by it")
	_, err = d.Tenant(t.Context(), gated)
	require.ErrorIs(t, err, ErrUnknownTenant, "dropped tenant stays gone")
	_, statErr := os.Stat(d.backend.(*gatedBackend).backend.(*sqliteBackend).tenantPath(gated))
	assert.ErrorIs(t, statErr, os.ErrNotExist, "the open did not recreate the dropped file")
}

func TestCloseWaitsForOpeningPool(t *testing.T) {
	d, gb, _, cachedG, gated := openGated(t)
	leader := tenantAsync(t.Context(), d, gated)
	<-gb.entered
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	close(gb.release)
	lr := <-leader
	require.NoError(t, <-closed)
	gb.mu.Lock()
	defer gb.mu.Unlock()
	for _, p := range gb.pools {
		sqlDB, err := p.DB()
		require.NoError(t, err)
		assert.Error(t, sqlDB.Ping(), "no pool outlives Close, not even one opened during it")
	}
	require.Len(t, gb.pools, 2)
	assert.Error(t, cachedG.Exec("SELECT 1").Error)
	if lr.err != nil {
		assert.ErrorIs(t, lr.err, errClosed)
	}
}

func TestCreateTenantWaitsForDropInProgress(t *testing.T) {
	d, gb, cached, cachedG, gated := openGated(t)
	close(gb.release) // no open is held in this test
	gb.dropEntered, gb.dropRelease = make(chan struct{}), make(chan struct{})
	dropped := make(chan error, 1)
	go func() { dropped <- d.DropTenant(t.Context(), cached) }()
	<-gb.dropEntered // the cached tenant's storage is being removed

	g, err := d.Tenant(t.Context(), gated)
	require.NoError(t, err, "other tenants open while a drop is in progress")
	require.NoError(t, g.Exec("SELECT 1").Error)

	cctx := &doneSignal{Context: t.Context(), asked: make(chan struct{})}
	created := make(chan error, 1)
	go func() { created <- d.CreateTenant(cctx, cached) }()
	<-cctx.asked // CreateTenant is waiting for the drop
	close(gb.dropRelease)
	require.NoError(t, <-dropped)
	require.NoError(t, <-created)

	assert.Error(t, cachedG.Exec("SELECT 1").Error, "the dropped tenant's old handle is closed")
	fresh, err := d.Tenant(t.Context(), cached)
	require.NoError(t, err, "created again after the drop, not before it")
	assert.NotSame(t, cachedG, fresh)
	require.NoError(t, fresh.Exec("SELECT 1").Error)
}
