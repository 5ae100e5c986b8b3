package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Callers may cache what they validated from a tenant's state (a verified
// access token, a client record) only if they learn when it changes. Every
// change that withdraws something such a cache may hold (a revoked access
// token, refresh family or code grant; an updated, disabled or deleted
// client; an updated, disabled or deleted user) therefore raises two
// counters of its tenant:
//
//   - the change generation, a row of the tenant's database that the change's
//     own transaction raises (as its last statement, so no transaction
//     waits for another while holding it), which every replica on the
//     database can read;
//   - a counter of this Store value, raised once the change has committed
//     (or failed), which costs nothing to read.
//
// A cache stamps an entry with both before it reads what it caches, and
// trusts the entry only while both are unchanged: a change through this
// Store is seen at once, one by another replica when the cache reads the
// generation again.

// changeCounters counts the changes each tenant went through on this Store.
type changeCounters struct {
	m sync.Map // uuid.UUID -> *atomic.Uint64
}

func (c *changeCounters) load(tenant uuid.UUID) uint64 {
	if n, ok := c.m.Load(tenant); ok {
		return n.(*atomic.Uint64).Load()
	}
	return 0
}

func (c *changeCounters) add(tenant uuid.UUID) {
	n, ok := c.m.Load(tenant)
	if !ok {
		n, _ = c.m.LoadOrStore(tenant, new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
}

// LocalChanges is how many changes of tenant (see Generation) went through
// this Store value. It is raised after the change's transaction ended, so
// an entry stamped with an earlier value may hold what the change withdrew.
func (s *Store) LocalChanges(tenant uuid.UUID) uint64 { return s.changes.load(tenant) }

// Generation reads tenant's change generation: a counter its database
// raises in the same transaction as every change that withdraws a token, a
// client or a user's standing, whichever replica made it. ErrNotFound for
// an unknown (or deleted) tenant.
func (s *Store) Generation(ctx context.Context, tenant uuid.UUID) (int64, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return 0, err
	}
	var row generationRow
	if err := g.Where("id = ?", 1).Take(&row).Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, fmt.Errorf("read change generation of tenant %s: %w", tenant, err)
	}
	return row.Value, nil
}

// raiseGeneration raises the change generation in tx. It upserts, so a
// database that lost the row still counts.
func raiseGeneration(tx *gorm.DB) error {
	err := tx.Exec(`INSERT INTO "change_generation" ("id", "value") VALUES (1, 1) ` +
		`ON CONFLICT ("id") DO UPDATE SET "value" = "change_generation"."value" + 1`).Error
	if err != nil {
		return fmt.Errorf("raise change generation: %w", err)
	}
	return nil
}

// change runs fn, a change of tenant that withdraws something callers may
// have cached, in one transaction that also raises the change generation,
// then counts it on this Store. Inside WithTx, fn joins that transaction,
// which raises the generation just before it commits and counts the change
// after.
func (s *Store) change(ctx context.Context, tenant uuid.UUID, fn func(tx *gorm.DB) error) error {
	if tx := s.txOf(ctx); tx != nil {
		if tx.tenant != tenant {
			return fmt.Errorf("tenant %s inside a transaction on tenant %s: %w", tenant, tx.tenant, errOtherTenant)
		}
		// Marked before fn runs: a failing fn may have changed rows that
		// a refusal still commits.
		tx.changed = true
		return fn(tx.g.WithContext(ctx))
	}
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	// Counted even when the transaction fails: a failed COMMIT may still
	// have committed, and a needless count only costs a cache miss.
	defer s.changes.add(tenant)
	return g.Transaction(func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		return raiseGeneration(tx)
	})
}
