package schematest_test

import (
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
	text, varchar, ts := "text", "text", "datetime"
	if tx.Dialector.Name() == "postgres" {
		text, varchar, ts = "varchar(36)", "varchar(64)", "timestamptz"
	}
	if err := tx.Exec(`CREATE TABLE widgets (id ` + text + `, name ` + varchar + ` NOT NULL, created_at ` + ts + `, PRIMARY KEY (id))`).Error; err != nil {
		return err
	}
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
