package db_test

import (
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestOnQueryCountsEveryHandle: the hook sees statements on the system
// handle and on tenant handles opened later, one call per statement.
func TestOnQueryCountsEveryHandle(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		var n atomic.Int64
		opts := dbtest.Options(t, b)
		opts.OnQuery = func() { n.Add(1) }
		d, err := db.Open(t.Context(), opts)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })

		before := n.Load()
		require.NoError(t, d.Gorm().Exec("SELECT 1").Error)
		assert.Equal(t, before+1, n.Load(), "one statement on the system handle")

		tenant := uuid.New()
		require.NoError(t, d.CreateTenant(t.Context(), tenant))
		g, err := d.Tenant(t.Context(), tenant)
		require.NoError(t, err)
		before = n.Load()
		require.NoError(t, g.Exec("SELECT 1").Error)
		require.NoError(t, g.Exec("SELECT 2").Error)
		assert.Equal(t, before+2, n.Load(), "two statements on the tenant handle")
	})
}
