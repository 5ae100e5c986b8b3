package schematest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/schematest"
)

// widget is a row struct whose table the migration below creates exactly.
type widget struct {
	ID        string `gorm:"primaryKey;size:36"`
	Name      string `gorm:"size:64;not null;uniqueIndex:ux_widgets_name"`
	CreatedAt time.Time
}

func (widget) TableName() string { return "widgets" }

// The same struct after a change nobody wrote a migration for.
type (
	widgetNewField struct {
		widget
		Color string `gorm:"size:16"`
	}
	widgetNotNull struct {
		ID        string    `gorm:"primaryKey;size:36"`
		Name      string    `gorm:"size:64;not null;uniqueIndex:ux_widgets_name"`
		CreatedAt time.Time `gorm:"not null"`
	}
	widgetNewIndex struct {
		ID        string    `gorm:"primaryKey;size:36"`
		Name      string    `gorm:"size:64;not null;uniqueIndex:ux_widgets_name"`
		CreatedAt time.Time `gorm:"index"`
	}
)

func (widgetNewField) TableName() string { return "widgets" }
func (widgetNotNull) TableName() string  { return "widgets" }
func (widgetNewIndex) TableName() string { return "widgets" }

// createWidgets is the migration: what gorm creates for widget, per dialect.
func createWidgets(tx *gorm.DB) error {
	if err := createWidgetsTable(tx); err != nil {
		return err
	}
	return createWidgetsIndex(tx)
}

func createWidgetsTable(tx *gorm.DB) error {
	text, varchar, ts := "text", "text", "datetime"
	if tx.Dialector.Name() == "postgres" {
		text, varchar, ts = "varchar(36)", "varchar(64)", "timestamptz"
	}
	return tx.Exec(`CREATE TABLE widgets (id ` + text + `, name ` + varchar + ` NOT NULL, created_at ` + ts + `, PRIMARY KEY (id))`).Error
}

func createWidgetsIndex(tx *gorm.DB) error {
	return tx.Exec(`CREATE UNIQUE INDEX ux_widgets_name ON widgets (name)`).Error
}

// TestModelDiffReportsUnmigratedStructChanges is the proof that the schema
// tests of the stores can fail: a copy of a model with a field added (or a
// constraint or index changed) no longer matches the migrated schema, and
// the report names the column.
func TestModelDiffReportsUnmigratedStructChanges(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		migrated := schematest.Scratch(t, d)
		require.NoError(t, db.Migrate(t.Context(), migrated, "widgets", []db.Migration{{Version: 1, Name: "widgets", Up: createWidgets}}))
		tests := []struct {
			desc  string
			model any
			want  []string // lines of the report; none means the schemas agree
		}{
			{desc: "the migrated struct matches", model: &widget{}},
			{desc: "a new field", model: &widgetNewField{}, want: []string{"+ structs:  widgets: column color "}},
			{desc: "a column made NOT NULL", model: &widgetNotNull{}, want: []string{
				"- migrated: widgets: column created_at ", "+ structs:  widgets: column created_at ",
			}},
			{desc: "a new index", model: &widgetNewIndex{}, want: []string{"+ structs:  widgets: index idx_widgets_created_at (created_at)"}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				diff, err := schematest.ModelDiff(t.Context(), migrated, schematest.Scratch(t, d), tc.model)
				require.NoError(t, err)
				if len(tc.want) == 0 {
					assert.Empty(t, diff)
					return
				}
				for _, w := range tc.want {
					assert.Contains(t, diff, w)
				}
			})
		}
	})
}

func TestDumpIsTheSameForEveryColumnOrder(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		one, two := schematest.Scratch(t, d), schematest.Scratch(t, d)
		require.NoError(t, one.Exec("CREATE TABLE t (a INTEGER, b INTEGER NOT NULL)").Error)
		require.NoError(t, two.Exec("CREATE TABLE t (b INTEGER NOT NULL)").Error)
		require.NoError(t, two.Exec("ALTER TABLE t ADD COLUMN a INTEGER").Error)
		d1, err := schematest.Dump(t.Context(), one)
		require.NoError(t, err)
		d2, err := schematest.Dump(t.Context(), two)
		require.NoError(t, err)
		assert.Equal(t, "t: column a integer\nt: column b integer not null\n", d1)
		assert.Equal(t, d1, d2)
	})
}

// recorder stands in for the test in the calls under test: it records
// Errorf and Fatalf (ending its goroutine like the real Fatalf) so a check's
// failure can be asserted without failing this test. Everything else
// (Context, Cleanup, TempDir) is the real test's.
type recorder struct {
	*testing.T
	errors []string
	fatal  string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// record runs fn against a recorder on its own goroutine (Fatalf ends it).
func record(t *testing.T, fn func(t testing.TB)) *recorder {
	rec := &recorder{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(rec)
	}()
	<-done
	return rec
}

// More copies of widget, each with one change nobody wrote a migration for.
type (
	widgetNoCreatedAt struct {
		ID   string `gorm:"primaryKey;size:36"`
		Name string `gorm:"size:64;not null;uniqueIndex:ux_widgets_name"`
	}
	widgetUnixCreatedAt struct {
		ID        string `gorm:"primaryKey;size:36"`
		Name      string `gorm:"size:64;not null;uniqueIndex:ux_widgets_name"`
		CreatedAt int64
	}
	widgetIndexNotUnique struct {
		ID        string `gorm:"primaryKey;size:36"`
		Name      string `gorm:"size:64;not null;index:ux_widgets_name"`
		CreatedAt time.Time
	}
	widgetNameDefault struct {
		ID        string `gorm:"primaryKey;size:36"`
		Name      string `gorm:"size:64;not null;default:'';uniqueIndex:ux_widgets_name"`
		CreatedAt time.Time
	}
	// gadget's table is one the widgets migration never creates.
	gadget struct {
		ID string `gorm:"primaryKey;size:36"`
	}
)

func (widgetNoCreatedAt) TableName() string    { return "widgets" }
func (widgetUnixCreatedAt) TableName() string  { return "widgets" }
func (widgetIndexNotUnique) TableName() string { return "widgets" }
func (widgetNameDefault) TableName() string    { return "widgets" }
func (gadget) TableName() string               { return "gadgets" }

// perBackend picks the line each backend writes for the same fact.
func perBackend(b dbtest.Backend, sqlite, postgres string) string {
	if b == dbtest.Postgres {
		return postgres
	}
	return sqlite
}

var widgetsMigrations = []db.Migration{{Version: 1, Name: "widgets", Up: createWidgets}}

// TestModelDiffReportsEachKindOfDifference: every way a struct can drift
// from its migrated table shows up as the exact lines that differ.
func TestModelDiffReportsEachKindOfDifference(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		migrated := schematest.Scratch(t, d)
		require.NoError(t, db.Migrate(t.Context(), migrated, "widgets", widgetsMigrations))
		createdAt := perBackend(b, "widgets: column created_at datetime", "widgets: column created_at timestamp with time zone")
		tests := []struct {
			desc  string
			model any
			want  []string
		}{
			{desc: "a missing table", model: &gadget{}, want: []string{
				"- migrated: gadgets: missing",
				"+ structs:  " + perBackend(b, "gadgets: column id text", "gadgets: column id character varying(36) not null"),
				"+ structs:  gadgets: primary key (id)",
			}},
			{desc: "a column the struct no longer has", model: &widgetNoCreatedAt{}, want: []string{
				"- migrated: " + createdAt,
			}},
			{desc: "a column type", model: &widgetUnixCreatedAt{}, want: []string{
				"- migrated: " + createdAt,
				"+ structs:  " + perBackend(b, "widgets: column created_at integer", "widgets: column created_at bigint"),
			}},
			{desc: "a column made NOT NULL", model: &widgetNotNull{}, want: []string{
				"- migrated: " + createdAt,
				"+ structs:  " + createdAt + " not null",
			}},
			{desc: "a default", model: &widgetNameDefault{}, want: []string{
				"- migrated: " + perBackend(b, "widgets: column name text not null", "widgets: column name character varying(64) not null"),
				"+ structs:  " + perBackend(b, "widgets: column name text not null default ''",
					"widgets: column name character varying(64) not null default ''::character varying"),
			}},
			{desc: "an index no longer unique", model: &widgetIndexNotUnique{}, want: []string{
				"- migrated: widgets: unique index ux_widgets_name (name)",
				"+ structs:  widgets: index ux_widgets_name (name)",
			}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				diff, err := schematest.ModelDiff(t.Context(), migrated, schematest.Scratch(t, d), tc.model)
				require.NoError(t, err)
				assert.Equal(t, strings.Join(tc.want, "\n"), diff)
			})
		}
	})
}

// closedDB returns a gorm handle on a database of b that is already closed:
// every statement on it fails.
func closedDB(t *testing.T, b dbtest.Backend) (*db.DB, *gorm.DB) {
	t.Helper()
	d := dbtest.Open(t, b)
	require.NoError(t, d.Close())
	return d, d.Gorm()
}

func TestSchemaErrorsSayWhatFailed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d := dbtest.Open(t, b)
		closedD, closed := closedDB(t, b)
		migrated := schematest.Scratch(t, d)
		require.NoError(t, db.Migrate(ctx, migrated, "widgets", widgetsMigrations))

		_, err := schematest.Dump(ctx, closed)
		assert.ErrorContains(t, err, "list tables: ")
		_, err = schematest.Dump(ctx, closed, "widgets")
		assert.ErrorContains(t, err, "describe widgets: ")
		_, err = schematest.ModelDiff(ctx, migrated, schematest.Scratch(t, d), 42)
		assert.ErrorContains(t, err, "parse model int: ")
		_, err = schematest.ModelDiff(ctx, migrated, closed, &widget{})
		assert.ErrorContains(t, err, "create the models' tables: ")
		_, err = schematest.ModelDiff(ctx, closed, schematest.Scratch(t, d), &widget{})
		assert.ErrorContains(t, err, "describe widgets: ")

		rec := record(t, func(tb testing.TB) { schematest.Scratch(tb, closedD) })
		assert.Contains(t, rec.fatal, "schematest: ")
	})
}

func TestCheck(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		migrated := schematest.Scratch(t, d)
		require.NoError(t, db.Migrate(t.Context(), migrated, "widgets", widgetsMigrations))

		rec := record(t, func(tb testing.TB) { schematest.Check(tb, migrated, schematest.Scratch(t, d), &widget{}) })
		assert.Empty(t, rec.errors, "the migrated struct matches")
		assert.Empty(t, rec.fatal)

		rec = record(t, func(tb testing.TB) { schematest.Check(tb, migrated, schematest.Scratch(t, d), &widgetNewField{}) })
		require.Len(t, rec.errors, 1)
		assert.Contains(t, rec.errors[0], "add a migration for the struct change")
		assert.Contains(t, rec.errors[0], "+ structs:  widgets: column color ")
		assert.Empty(t, rec.fatal)

		rec = record(t, func(tb testing.TB) { schematest.Check(tb, migrated, schematest.Scratch(t, d), "not a model") })
		assert.Contains(t, rec.fatal, "schematest: parse model string: ")
		assert.Empty(t, rec.errors)
	})
}

func TestGolden(t *testing.T) {
	const schema = "t: column a integer\nt: column b integer not null\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "testdata", "schema_sqlite.golden")

	rec := record(t, func(tb testing.TB) { schematest.Golden(tb, path, schema, false) })
	assert.Contains(t, rec.fatal, "run the test with -update to create it")

	rec = record(t, func(tb testing.TB) { schematest.Golden(tb, path, schema, true) })
	assert.Empty(t, rec.fatal)
	written, err := os.ReadFile(path)
	require.NoError(t, err, "-update creates the file and its directory")
	assert.Equal(t, schema, string(written))

	rec = record(t, func(tb testing.TB) { schematest.Golden(tb, path, schema, false) })
	assert.Empty(t, rec.errors, "the schema matches the file -update wrote")
	assert.Empty(t, rec.fatal)

	changed := "t: column a bigint\nt: column b integer not null\n"
	rec = record(t, func(tb testing.TB) { schematest.Golden(tb, path, changed, false) })
	require.Len(t, rec.errors, 1)
	assert.Contains(t, rec.errors[0], "migrated schema differs from "+path)
	assert.Contains(t, rec.errors[0], "- migrated: t: column a bigint\n+ golden:   t: column a integer")
	written, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, schema, string(written), "without -update the file is left alone")

	rec = record(t, func(tb testing.TB) { schematest.Golden(tb, path, changed, true) })
	assert.Empty(t, rec.errors)
	written, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, changed, string(written), "-update rewrites the file")

	// -update where the file cannot be written fails the test.
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	rec = record(t, func(tb testing.TB) { schematest.Golden(tb, filepath.Join(file, "x.golden"), schema, true) })
	assert.Contains(t, rec.fatal, "not a directory")
	rec = record(t, func(tb testing.TB) { schematest.Golden(tb, dir, schema, true) })
	assert.Contains(t, rec.fatal, "is a directory")
}

// createWidgetsAndLog makes widgets and a log table no struct describes.
func createWidgetsAndLog(tx *gorm.DB) error {
	if err := createWidgets(tx); err != nil {
		return err
	}
	return tx.Exec(`CREATE TABLE widget_log (id INTEGER PRIMARY KEY)`).Error
}

// A database that the releases before SQL migrations made holds only the
// structs' tables: a migration that also makes a table no struct describes
// leaves it out of such a database, and the check says so.
func TestCheckAutoMigratedFindsTablesOnlyTheMigrationsMake(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		rec := record(t, func(tb testing.TB) {
			schematest.CheckAutoMigrated(tb, d, schematest.Set{Name: "widgets", Migrations: widgetsMigrations, Models: []any{&widget{}}})
		})
		assert.Empty(t, rec.errors)
		assert.Empty(t, rec.fatal)

		// In two steps: such a database recorded both versions, so the
		// second (whose index AutoMigrate made already) does not run again.
		twoSteps := []db.Migration{{Version: 1, Name: "widgets", Up: createWidgetsTable}, {Version: 2, Name: "widgets_name", Up: createWidgetsIndex}}
		rec = record(t, func(tb testing.TB) {
			schematest.CheckAutoMigrated(tb, d, schematest.Set{Name: "widgets", Migrations: twoSteps, Models: []any{&widget{}}})
		})
		assert.Empty(t, rec.errors)
		assert.Empty(t, rec.fatal)

		withLog := []db.Migration{{Version: 1, Name: "widgets", Up: createWidgetsAndLog}}
		rec = record(t, func(tb testing.TB) {
			schematest.CheckAutoMigrated(tb, d, schematest.Set{Name: "widgets", Migrations: withLog, Models: []any{&widget{}}})
		})
		assert.Empty(t, rec.fatal)
		require.Len(t, rec.errors, 1)
		assert.Contains(t, rec.errors[0], "a database made by AutoMigrate differs from one the SQL migrations make")
		assert.Contains(t, rec.errors[0], "+ SQL makes:        widget_log: primary key (id)")
	})
}

// TestRunWritesAndChecksTheGoldenSchema runs the whole check on a system and
// a tenant set: with -update it writes one golden file per backend, holding
// the system set's model tables and the tenant set's whole schema; without,
// it passes against what it wrote.
func TestRunWritesAndChecksTheGoldenSchema(t *testing.T) {
	dir := t.TempDir()
	sets := []schematest.Set{
		{Name: "widgets", Migrations: widgetsMigrations, Models: []any{&widget{}}},
		{Name: "gadgets", Tenant: true, Models: []any{&gadget{}}, Migrations: []db.Migration{{Version: 1, Name: "gadgets",
			Up: func(tx *gorm.DB) error { return tx.AutoMigrate(&gadget{}) }}}},
	}
	schematest.Run(t, dir, true, sets...)
	for _, b := range dbtest.Backends(t) {
		got, err := os.ReadFile(filepath.Join(dir, "schema_"+string(b)+".golden"))
		require.NoError(t, err)
		want := "# migration set widgets\n" +
			perBackend(b, "widgets: column created_at datetime\nwidgets: column id text\nwidgets: column name text not null\n",
				"widgets: column created_at timestamp with time zone\nwidgets: column id character varying(36) not null\n"+
					"widgets: column name character varying(64) not null\n") +
			"widgets: primary key (id)\nwidgets: unique index ux_widgets_name (name)\n" +
			"# migration set gadgets\n" +
			perBackend(b, "gadgets: column id text\n", "gadgets: column id character varying(36) not null\n") +
			"gadgets: primary key (id)\n"
		assert.Equal(t, want, string(got), "backend %s", b)
	}
	schematest.Run(t, dir, false, sets...)
}
