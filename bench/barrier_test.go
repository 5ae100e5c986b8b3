package bench

import (
	"crypto/rand"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
)

// The barrier wraps every stored key. Tenant KEKs are cached unwrapped after
// first use, so steady-state Wrap and Unwrap must cost one AES-GCM and no
// query: queries/op proves the cache, allocs/op the cost.

const barrierPurpose = "kms/material-key"

// openBarrier opens a barrier on a fresh SQLite system database under
// b.TempDir() and warms the tenant's KEK, returning the query counter of that
// database.
func openBarrier(b *testing.B, tenant uuid.UUID) (*barrier.Barrier, *queryCounter) {
	b.Helper()
	ctx := b.Context()
	d, err := db.Open(ctx, db.Options{Driver: db.DriverSQLite, Namespace: "bench", Dir: b.TempDir()})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, d.Close()) })
	secret := make([]byte, barrier.MinSecretSize)
	_, err = rand.Read(secret)
	require.NoError(b, err)
	br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{secret}})
	require.NoError(b, err)
	// First use creates and caches the KEK: that is setup, not the hot path.
	_, err = br.Wrap(ctx, tenant, barrierPurpose, benchPlaintext)
	require.NoError(b, err)
	return br, countQueries(b, d.Gorm())
}

func BenchmarkBarrierWrap(b *testing.B) {
	tenant := uuid.New()
	br, queries := openBarrier(b, tenant)
	ctx := b.Context()
	b.ReportAllocs()
	start := queries.n.Load()
	for b.Loop() {
		if _, err := br.Wrap(ctx, tenant, barrierPurpose, benchPlaintext); err != nil {
			b.Fatal(err)
		}
	}
	queries.report(b, start)
}

func BenchmarkBarrierUnwrap(b *testing.B) {
	tenant := uuid.New()
	br, queries := openBarrier(b, tenant)
	ctx := b.Context()
	wrapped, err := br.Wrap(ctx, tenant, barrierPurpose, benchPlaintext)
	require.NoError(b, err)
	b.ReportAllocs()
	start := queries.n.Load()
	for b.Loop() {
		if _, err := br.Unwrap(ctx, tenant, barrierPurpose, wrapped); err != nil {
			b.Fatal(err)
		}
	}
	queries.report(b, start)
}
