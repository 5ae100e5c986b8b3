package db_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

type migrationRow struct {
	Set     string `gorm:"column:set"`
	Version int
	Name    string
}

func appliedRows(t *testing.T, g *gorm.DB, set string) []migrationRow {
	t.Helper()
	var rows []migrationRow
	require.NoError(t, g.Table("schema_migrations").Where(`"set" = ?`, set).Order("version").Find(&rows).Error)
	return rows
}

func createTable(name string) func(tx *gorm.DB) error {
	return func(tx *gorm.DB) error {
		return tx.Exec("CREATE TABLE " + name + " (id INTEGER PRIMARY KEY, note VARCHAR(255))").Error
	}
}

func TestMigrate(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		v1 := db.Migration{Version: 1, Name: "create widgets", Up: createTable("widgets")}
		v2 := db.Migration{Version: 2, Name: "create gadgets", Up: createTable("gadgets")}
		v3 := db.Migration{Version: 5, Name: "seed widgets", Up: func(tx *gorm.DB) error {
			return tx.Exec("INSERT INTO widgets (id, note) VALUES (1, 'seeded')").Error
		}}
		tests := []struct {
			desc string
			// steps run in order on one fresh database; the last one's error is checked.
			steps   [][]db.Migration
			wantErr string
			// want lists the versions recorded afterwards.
			want []int
		}{
			{desc: "fresh database applies all", steps: [][]db.Migration{{v1, v2}}, want: []int{1, 2}},
			{desc: "second run is a no-op", steps: [][]db.Migration{{v1, v2, v3}, {v1, v2, v3}}, want: []int{1, 2, 5}},
			{desc: "new migrations apply on top", steps: [][]db.Migration{{v1}, {v1, v2, v3}}, want: []int{1, 2, 5}},
			{desc: "empty list creates the table only", steps: [][]db.Migration{{}}, want: nil},
			{
				desc:    "renamed migration is refused",
				steps:   [][]db.Migration{{v1}, {{Version: 1, Name: "something else", Up: v1.Up}}},
				wantErr: `recorded as "create widgets" but the code names it "something else"`,
				want:    []int{1},
			},
			{
				desc:    "database newer than the code is refused",
				steps:   [][]db.Migration{{v1, v2}, {v1}},
				wantErr: "version 2 (create gadgets), unknown to this program",
				want:    []int{1, 2},
			},
			{
				desc: "failing migration rolls back and stops",
				steps: [][]db.Migration{{v1, {Version: 2, Name: "half done", Up: func(tx *gorm.DB) error {
					if err := createTable("gadgets")(tx); err != nil {
						return err
					}
					return errors.New("boom")
				}}, v3}},
				wantErr: "version 2 (half done): boom",
				want:    []int{1},
			},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				t.Parallel()
				g := dbtest.Open(t, b).Gorm()
				var err error
				for _, step := range tc.steps {
					err = db.Migrate(t.Context(), g, "test", step)
				}
				if tc.wantErr != "" {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tc.wantErr)
				} else {
					require.NoError(t, err)
				}
				var got []int
				for _, r := range appliedRows(t, g, "test") {
					got = append(got, r.Version)
				}
				assert.Equal(t, tc.want, got)
				if tc.desc == "failing migration rolls back and stops" {
					assert.False(t, g.Migrator().HasTable("gadgets"), "the failed migration's table must be rolled back")
				}
				if len(got) == 3 {
					var n int64
					require.NoError(t, g.Table("widgets").Count(&n).Error)
					assert.Equal(t, int64(1), n, "the seed migration must have run exactly once")
				}
			})
		}
	})
}

func TestMigrateSetsAreIndependent(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		g := dbtest.Open(t, b).Gorm()
		require.NoError(t, db.Migrate(t.Context(), g, "kms", []db.Migration{{Version: 1, Name: "kms one", Up: createTable("kms_one")}}))
		require.NoError(t, db.Migrate(t.Context(), g, "identity", []db.Migration{{Version: 1, Name: "identity one", Up: createTable("identity_one")}}))
		assert.Equal(t, []migrationRow{{Set: "kms", Version: 1, Name: "kms one"}}, appliedRows(t, g, "kms"))
		assert.Equal(t, []migrationRow{{Set: "identity", Version: 1, Name: "identity one"}}, appliedRows(t, g, "identity"))
	})
}

func TestMigrateRejectsMalformedLists(t *testing.T) {
	up := func(*gorm.DB) error { return nil }
	tests := []struct {
		desc       string
		set        string
		migrations []db.Migration
		wantErr    string
	}{
		{desc: "empty set name", set: "", migrations: nil, wantErr: "set name"},
		{desc: "set name with control character", set: "a\nb", migrations: nil, wantErr: "set name: invalid value: name contains a control character"},
		{desc: "set name too long", set: strings.Repeat("s", 256), migrations: nil, wantErr: "set name: invalid value: name is 256 bytes, at most 255 allowed"},
		{desc: "set name not UTF-8", set: "s\xff", migrations: nil, wantErr: "set name: invalid value: name is not valid UTF-8"},
		{desc: "version zero", set: "s", migrations: []db.Migration{{Version: 0, Name: "x", Up: up}}, wantErr: "version 0, want greater than 0"},
		{desc: "versions out of order", set: "s", migrations: []db.Migration{{Version: 2, Name: "a", Up: up}, {Version: 1, Name: "b", Up: up}}, wantErr: "version 1, want greater than 2"},
		{desc: "duplicate version", set: "s", migrations: []db.Migration{{Version: 1, Name: "a", Up: up}, {Version: 1, Name: "b", Up: up}}, wantErr: "want greater than 1"},
		{desc: "missing name", set: "s", migrations: []db.Migration{{Version: 1, Up: up}}, wantErr: "migration 1 name: invalid value: name must not be empty"},
		{desc: "name with a line break", set: "s", migrations: []db.Migration{{Version: 1, Name: "a\nb", Up: up}}, wantErr: "migration 1 name: invalid value: name contains a control character"},
		{desc: "missing Up", set: "s", migrations: []db.Migration{{Version: 1, Name: "a"}}, wantErr: "no Up function"},
	}
	g := dbtest.Open(t, dbtest.SQLite).Gorm()
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := db.Migrate(t.Context(), g, tc.set, tc.migrations)
			require.ErrorIs(t, err, db.ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.False(t, g.Migrator().HasTable("schema_migrations"), "a malformed list must change nothing")
		})
	}
}

func TestMigrateConcurrently(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		opts := dbtest.Options(t, b)
		// Every Up appends a row: a migration applied twice would show up
		// as a duplicate row (and, for the CREATE TABLE, as an error).
		migrations := []db.Migration{
			{Version: 1, Name: "create log", Up: func(tx *gorm.DB) error {
				return tx.Exec("CREATE TABLE migration_log (version INTEGER NOT NULL)").Error
			}},
			{Version: 2, Name: "log two", Up: func(tx *gorm.DB) error {
				return tx.Exec("INSERT INTO migration_log (version) VALUES (2)").Error
			}},
			{Version: 3, Name: "log three", Up: func(tx *gorm.DB) error {
				return tx.Exec("INSERT INTO migration_log (version) VALUES (3)").Error
			}},
		}
		// Each migrator opens its own DB on the same database, like
		// service replicas starting at once.
		const migrators = 6
		handles := make([]*db.DB, migrators)
		for i := range handles {
			d, err := db.Open(t.Context(), opts)
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Close() })
			handles[i] = d
		}
		var wg sync.WaitGroup
		errs := make([]error, migrators)
		for i, d := range handles {
			wg.Go(func() { errs[i] = db.Migrate(t.Context(), d.Gorm(), "race", migrations) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "migrator %d", i)
		}
		g := handles[0].Gorm()
		var versions []int
		require.NoError(t, g.Raw("SELECT version FROM migration_log ORDER BY version").Scan(&versions).Error)
		assert.Equal(t, []int{2, 3}, versions)
		assert.Len(t, appliedRows(t, g, "race"), 3)
	})
}

// TestMigrateDifferentSetsConcurrently starts several sets on one fresh
// database at once (the barrier's set and a service's own set on first start,
// or several replicas). They share schema_migrations, whose creation must be
// serialised across sets: on PostgreSQL two concurrent CREATE TABLE IF NOT
// EXISTS collide on the catalog and one of them fails.
func TestMigrateDifferentSetsConcurrently(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		opts := dbtest.Options(t, b)
		const sets = 8
		handles := make([]*db.DB, sets)
		for i := range handles {
			d, err := db.Open(t.Context(), opts)
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Close() })
			handles[i] = d
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, sets)
		for i, d := range handles {
			set := fmt.Sprintf("set%d", i)
			wg.Go(func() {
				<-start
				errs[i] = db.Migrate(t.Context(), d.Gorm(), set, []db.Migration{{Version: 1, Name: "create " + set, Up: createTable(set + "_table")}})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "set%d", i)
		}
		for i := range sets {
			set := fmt.Sprintf("set%d", i)
			assert.Equal(t, []migrationRow{{Set: set, Version: 1, Name: "create " + set}}, appliedRows(t, handles[0].Gorm(), set))
		}
	})
}
