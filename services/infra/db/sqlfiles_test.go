package db_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func sqlFile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// goodSQL is a two-version set whose dialects differ, so a test can tell
// which file ran.
func goodSQL() fstest.MapFS {
	return fstest.MapFS{
		"m/sqlite/0001_widgets.sql": sqlFile("-- name: create widgets, with notes\n" +
			"-- a comment line\nCREATE TABLE widgets (\n\tid INTEGER PRIMARY KEY,\n\tnote VARCHAR(255)\n);\n\n" +
			"INSERT INTO widgets (id, note) VALUES (1, 'sqlite');\n"),
		"m/postgres/0001_widgets.sql": sqlFile("-- name: create widgets, with notes\n" +
			"CREATE TABLE widgets (id INTEGER PRIMARY KEY, note VARCHAR(255));\n" +
			"INSERT INTO widgets (id, note) VALUES (1, 'postgres');\n"),
		"m/sqlite/0002_gadgets.sql":   sqlFile("-- name: gadgets\nCREATE TABLE gadgets (id INTEGER PRIMARY KEY);\n"),
		"m/postgres/0002_gadgets.sql": sqlFile("-- name: gadgets\nCREATE TABLE gadgets (id INTEGER PRIMARY KEY);\n"),
	}
}

func TestSQLMigrationsRunTheBackendsOwnFiles(t *testing.T) {
	migrations, err := db.SQLMigrations(goodSQL(), "m")
	require.NoError(t, err)
	require.Len(t, migrations, 2)
	assert.Equal(t, 1, migrations[0].Version)
	assert.Equal(t, "create widgets, with notes", migrations[0].Name)
	assert.Equal(t, 2, migrations[1].Version)
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		g := dbtest.Open(t, b).Gorm()
		require.NoError(t, db.Migrate(t.Context(), g, "widgets", migrations))
		var note string
		require.NoError(t, g.Raw("SELECT note FROM widgets WHERE id = 1").Scan(&note).Error)
		assert.Equal(t, string(b), note)
		assert.True(t, g.Migrator().HasTable("gadgets"))
		assert.Len(t, appliedRows(t, g, "widgets"), 2)
	})
}

func TestSQLMigrationsRefuseMalformedSets(t *testing.T) {
	tests := []struct {
		desc    string
		change  func(fs fstest.MapFS)
		wantErr string
	}{
		{desc: "a dialect lacks a version", change: func(fs fstest.MapFS) { delete(fs, "m/postgres/0002_gadgets.sql") },
			wantErr: "sqlite has 2 files, postgres has 1"},
		{desc: "dialects name a version differently", change: func(fs fstest.MapFS) {
			fs["m/postgres/0002_gadgets.sql"] = sqlFile("-- name: gizmos\nSELECT 1;\n")
		}, wantErr: `sqlite has version 2 "gadgets" where postgres has version 2 "gizmos"`},
		{desc: "no name line", change: func(fs fstest.MapFS) { fs["m/sqlite/0002_gadgets.sql"] = sqlFile("SELECT 1;\n") },
			wantErr: `first line must be "-- name: "`},
		{desc: "unterminated statement", change: func(fs fstest.MapFS) {
			fs["m/sqlite/0002_gadgets.sql"] = sqlFile("-- name: gadgets\nSELECT 1\n")
		}, wantErr: "does not end with ';'"},
		{desc: "no statement", change: func(fs fstest.MapFS) { fs["m/sqlite/0002_gadgets.sql"] = sqlFile("-- name: gadgets\n-- nothing\n") },
			wantErr: "no statements"},
		{desc: "file name without version", change: func(fs fstest.MapFS) {
			fs["m/sqlite/gadgets.sql"] = fs["m/sqlite/0002_gadgets.sql"]
			delete(fs, "m/sqlite/0002_gadgets.sql")
		}, wantErr: "must start with a 4-digit version"},
		{desc: "duplicate version", change: func(fs fstest.MapFS) { fs["m/sqlite/0002_more.sql"] = fs["m/sqlite/0002_gadgets.sql"] },
			wantErr: "version 2 appears twice"},
		{desc: "stray file", change: func(fs fstest.MapFS) { fs["m/sqlite/README.md"] = sqlFile("x") },
			wantErr: "only NNNN_what.sql files belong here"},
		{desc: "missing dialect directory", change: func(fs fstest.MapFS) {
			for name := range fs {
				if strings.HasPrefix(name, "m/postgres/") {
					delete(fs, name)
				}
			}
		}, wantErr: "m/postgres"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			fs := goodSQL()
			tc.change(fs)
			_, err := db.SQLMigrations(fs, "m")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Panics(t, func() { db.MustSQLMigrations(fs, "m") })
		})
	}
}
