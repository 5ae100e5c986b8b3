package db_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func TestHasTable(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d := dbtest.Open(t, b)
		g := d.Gorm()
		require.NoError(t, g.Exec("CREATE TABLE present (id INTEGER PRIMARY KEY)").Error)
		ok, err := db.HasTable(ctx, g, "present")
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = db.HasTable(ctx, g, "absent")
		require.NoError(t, err)
		assert.False(t, ok)

		// A lookup that cannot run is an error, not "no table" (and no
		// panic, which gorm's own HasTable gives on SQLite's statement cache).
		closed := dbtest.Open(t, b)
		require.NoError(t, closed.Close())
		_, err = db.HasTable(ctx, closed.Gorm(), "present")
		assert.ErrorContains(t, err, "look for table present: ")
	})
}
