// Package schematest holds a store's versioned SQL migrations to its gorm
// row structs. Dump describes a schema as sorted lines, one per column,
// primary key and index, the same way on SQLite and PostgreSQL; ModelDiff
// compares the schema that the migrations made with the one gorm's
// AutoMigrate would make for the structs, so a struct change that alters
// the schema without a migration fails a test; Golden keeps the migrated
// schema under testdata/ so a migration's effect shows in review.
package schematest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// bookkeeping are the db package's own tables, left out of a dump of all
// tables: they are the same in every database.
var bookkeeping = []string{"schema_migrations", "passthru_namespace"}

// Dump describes the named tables (all tables but the db package's
// bookkeeping when none are named) of g's current schema: the main SQLite
// database, or PostgreSQL's current_schema(). Each line is
// "<table>: <fact>"; lines are sorted, so column order (which ALTER TABLE
// ADD COLUMN changes) does not matter.
func Dump(ctx context.Context, g *gorm.DB, tables ...string) (string, error) {
	g = g.WithContext(ctx)
	pg := g.Dialector.Name() == "postgres"
	if len(tables) == 0 {
		q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
		if pg {
			q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
		}
		var all []string
		if err := g.Raw(q).Scan(&all).Error; err != nil {
			return "", fmt.Errorf("list tables: %w", err)
		}
		for _, table := range all {
			if !slices.Contains(bookkeeping, table) {
				tables = append(tables, table)
			}
		}
	}
	var lines []string
	for _, table := range tables {
		var (
			facts []string
			err   error
		)
		if pg {
			facts, err = postgresFacts(g, table)
		} else {
			facts, err = sqliteFacts(g, table)
		}
		if err != nil {
			return "", fmt.Errorf("describe %s: %w", table, err)
		}
		if len(facts) == 0 {
			facts = []string{"missing"}
		}
		for _, f := range facts {
			lines = append(lines, table+": "+f)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n", nil
}

func column(name, typ string, notNull bool, dflt *string) string {
	s := "column " + name + " " + strings.ToLower(typ)
	if notNull {
		s += " not null"
	}
	if dflt != nil {
		s += " default " + *dflt
	}
	return s
}

func sqliteFacts(g *gorm.DB, table string) ([]string, error) {
	var cols []struct {
		Name      string
		Type      string
		NotNull   bool
		DfltValue *string
		PK        int `gorm:"column:pk"`
	}
	if err := g.Raw("SELECT name, type, \"notnull\" AS not_null, dflt_value, pk FROM pragma_table_info(?)", table).Scan(&cols).Error; err != nil {
		return nil, err
	}
	var facts []string
	pk := map[int]string{}
	for _, c := range cols {
		if c.DfltValue != nil && *c.DfltValue == `""` {
			// gorm writes an empty default as "", which SQLite reads as
			// the string ''; the SQL files write it the standard way.
			empty := "''"
			c.DfltValue = &empty
		}
		facts = append(facts, column(c.Name, c.Type, c.NotNull, c.DfltValue))
		if c.PK > 0 {
			pk[c.PK] = c.Name
		}
	}
	if len(pk) > 0 {
		keys := make([]string, len(pk))
		for i := range keys {
			keys[i] = pk[i+1]
		}
		facts = append(facts, "primary key ("+strings.Join(keys, ", ")+")")
	}
	var idxs []struct {
		Name   string
		Unique bool
		Origin string
	}
	if err := g.Raw("SELECT name, \"unique\", origin FROM pragma_index_list(?)", table).Scan(&idxs).Error; err != nil {
		return nil, err
	}
	for _, ix := range idxs {
		if ix.Origin == "pk" {
			continue // described by the primary key line
		}
		var cols []string
		if err := g.Raw("SELECT name FROM pragma_index_info(?) ORDER BY seqno", ix.Name).Scan(&cols).Error; err != nil {
			return nil, err
		}
		facts = append(facts, index(ix.Name, ix.Unique, cols))
	}
	return facts, nil
}

func index(name string, unique bool, cols []string) string {
	kind := "index"
	if unique {
		kind = "unique index"
	}
	return kind + " " + name + " (" + strings.Join(cols, ", ") + ")"
}

func postgresFacts(g *gorm.DB, table string) ([]string, error) {
	var cols []struct {
		ColumnName             string
		DataType               string
		CharacterMaximumLength *int
		IsNullable             string
		ColumnDefault          *string
	}
	err := g.Raw(`SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`, table).Scan(&cols).Error
	if err != nil {
		return nil, err
	}
	var facts []string
	for _, c := range cols {
		typ := c.DataType
		if c.CharacterMaximumLength != nil {
			typ += fmt.Sprintf("(%d)", *c.CharacterMaximumLength)
		}
		facts = append(facts, column(c.ColumnName, typ, c.IsNullable == "NO", c.ColumnDefault))
	}
	var idxs []struct {
		Name    string
		Unique  bool
		Primary bool
		Columns string
	}
	err = g.Raw(`SELECT i.relname AS name, ix.indisunique AS "unique", ix.indisprimary AS "primary",
			string_agg(a.attname, ', ' ORDER BY k.ord) AS columns
		FROM pg_index ix
		JOIN pg_class t ON t.oid = ix.indrelid
		JOIN pg_class i ON i.oid = ix.indexrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
		WHERE n.nspname = current_schema() AND t.relname = ?
		GROUP BY i.relname, ix.indisunique, ix.indisprimary`, table).Scan(&idxs).Error
	if err != nil {
		return nil, err
	}
	for _, ix := range idxs {
		if ix.Primary {
			facts = append(facts, "primary key ("+ix.Columns+")")
			continue
		}
		facts = append(facts, index(ix.Name, ix.Unique, strings.Split(ix.Columns, ", ")))
	}
	return facts, nil
}

// ModelDiff reports how the migrated schema of the models' tables differs
// from what gorm's AutoMigrate creates for models in scratch, an empty
// database (or schema) of the same backend. Lines only the migrations made
// start with "- migrated: ", lines only the structs ask for with
// "+ structs:  ". "" means they agree.
func ModelDiff(ctx context.Context, migrated, scratch *gorm.DB, models ...any) (string, error) {
	tables, err := tableNames(scratch, models)
	if err != nil {
		return "", err
	}
	// gorm's migrator scans a row it may not have got: on a handle that
	// caches prepared statements (SQLite's) a failed prepare, such as on a
	// closed database, would panic there instead of failing. Ask first.
	if err := ping(ctx, scratch); err != nil {
		return "", fmt.Errorf("create the models' tables: %w", err)
	}
	if err := scratch.WithContext(ctx).AutoMigrate(models...); err != nil {
		return "", fmt.Errorf("create the models' tables: %w", err)
	}
	want, err := Dump(ctx, scratch, tables...)
	if err != nil {
		return "", err
	}
	got, err := Dump(ctx, migrated, tables...)
	if err != nil {
		return "", err
	}
	return diffLines(got, want, "- migrated: ", "+ structs:  "), nil
}

func ping(ctx context.Context, g *gorm.DB) error {
	sqlDB, err := g.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// tableNames returns the tables of models, as gorm names them.
func tableNames(g *gorm.DB, models []any) ([]string, error) {
	tables := make([]string, 0, len(models))
	for _, m := range models {
		stmt := &gorm.Statement{DB: g}
		if err := stmt.Parse(m); err != nil {
			return nil, fmt.Errorf("parse model %T: %w", m, err)
		}
		tables = append(tables, stmt.Schema.Table)
	}
	return tables, nil
}

// diffLines lists the lines of got missing from want and the other way
// round (both are sorted sets of lines), each behind its label.
func diffLines(got, want, gotLabel, wantLabel string) string {
	g, w := strings.Split(strings.TrimSpace(got), "\n"), strings.Split(strings.TrimSpace(want), "\n")
	var out []string
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, gotLabel+l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, wantLabel+l)
		}
	}
	return strings.Join(out, "\n")
}

// Check fails t when the migrated schema of the models' tables differs from
// what their structs describe (see ModelDiff), saying what to do.
func Check(t testing.TB, migrated, scratch *gorm.DB, models ...any) {
	t.Helper()
	diff, err := ModelDiff(t.Context(), migrated, scratch, models...)
	if err != nil {
		t.Fatalf("schematest: %v", err)
	}
	if diff != "" {
		t.Errorf("the row structs and the SQL migrations disagree: add a migration for the struct change "+
			"(or fix the struct), then rerun with -update to refresh the golden schema:\n%s", diff)
	}
}

// Golden compares got with the golden file at path (rewriting it instead
// when update is set, as the package's -update flag asks).
func Golden(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("schematest: %v", err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("schematest: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("schematest: %v (run the test with -update to create it)", err)
	}
	if diff := diffLines(got, string(want), "- migrated: ", "+ golden:   "); diff != "" {
		t.Errorf("migrated schema differs from %s (rerun with -update if the migration is intended):\n%s", path, diff)
	}
}

// Set is one migration set of a store, with the row structs it must match.
type Set struct {
	// Name is the set's name in schema_migrations.
	Name       string
	Migrations []db.Migration
	// Models are the row structs whose tables the set creates.
	Models []any
	// Tenant says the set migrates tenant databases (else the system
	// database, which other sets share: only the models' tables are
	// dumped there).
	Tenant bool
}

// Run checks a store's migration sets on every backend of the run: each set
// is applied to a fresh database, its tables must match its models
// (Check), and the whole migrated schema must match the golden file
// dir/schema_<backend>.golden (Golden; update rewrites it).
func Run(t *testing.T, dir string, update bool, sets ...Set) {
	t.Helper()
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d := dbtest.Open(t, b)
		var golden strings.Builder
		for _, set := range sets {
			target := d.Gorm()
			if set.Tenant {
				target = Scratch(t, d)
			}
			if err := db.Migrate(ctx, target, set.Name, set.Migrations); err != nil {
				t.Fatalf("schematest: %v", err)
			}
			t.Run(set.Name, func(t *testing.T) { Check(t, target, Scratch(t, d), set.Models...) })
			t.Run(set.Name+"/database made by AutoMigrate", func(t *testing.T) { checkAutoMigrated(t, d, set) })
			var tables []string
			if !set.Tenant {
				var err error
				if tables, err = tableNames(target, set.Models); err != nil {
					t.Fatalf("schematest: %v", err)
				}
			}
			dump, err := Dump(ctx, target, tables...)
			if err != nil {
				t.Fatalf("schematest: %v", err)
			}
			fmt.Fprintf(&golden, "# migration set %s\n%s", set.Name, dump)
		}
		Golden(t, filepath.Join(dir, "schema_"+string(b)+".golden"), golden.String(), update)
	})
}

// checkAutoMigrated: a database that the releases before SQL migrations
// made (gorm's AutoMigrate of the structs, the same versions and names
// recorded in schema_migrations) is taken as it is by the SQL migrations,
// and has the schema that they make.
func checkAutoMigrated(t testing.TB, d *db.DB, set Set) {
	t.Helper()
	ctx := t.Context()
	legacy := make([]db.Migration, len(set.Migrations))
	for i, m := range set.Migrations {
		legacy[i] = db.Migration{Version: m.Version, Name: m.Name, Up: func(tx *gorm.DB) error {
			if i == 0 {
				return tx.AutoMigrate(set.Models...)
			}
			return nil
		}}
	}
	old, fresh := Scratch(t, d), Scratch(t, d)
	if err := db.Migrate(ctx, old, set.Name, legacy); err != nil {
		t.Fatalf("schematest: AutoMigrate as before: %v", err)
	}
	if err := db.Migrate(ctx, old, set.Name, set.Migrations); err != nil {
		t.Fatalf("the SQL migrations refuse a database made by AutoMigrate: %v", err)
	}
	if err := db.Migrate(ctx, fresh, set.Name, set.Migrations); err != nil {
		t.Fatalf("schematest: %v", err)
	}
	want, err := Dump(ctx, fresh)
	if err != nil {
		t.Fatalf("schematest: %v", err)
	}
	got, err := Dump(ctx, old)
	if err != nil {
		t.Fatalf("schematest: %v", err)
	}
	if diff := diffLines(got, want, "- AutoMigrate made: ", "+ SQL makes:        "); diff != "" {
		t.Errorf("a database made by AutoMigrate differs from one the SQL migrations make:\n%s", diff)
	}
}

// Scratch returns an empty database of d's backend: a new tenant of d
// (PostgreSQL schema or SQLite file), gone with d.
func Scratch(t testing.TB, d *db.DB) *gorm.DB {
	t.Helper()
	id := uuid.New()
	if err := d.CreateTenant(t.Context(), id); err != nil {
		t.Fatalf("schematest: %v", err)
	}
	g, err := d.Tenant(t.Context(), id)
	if err != nil {
		t.Fatalf("schematest: %v", err)
	}
	return g
}
