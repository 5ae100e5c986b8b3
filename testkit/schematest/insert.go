package schematest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// CheckInsert fails t unless insert, an INSERT of one row written out by
// hand (for a hot path, instead of gorm's reflective Create), names every
// column of model's table, quoted, with one placeholder each: a field added
// to the row struct must be added to the statement too.
func CheckInsert(t testing.TB, model any, insert string) {
	t.Helper()
	if err := insertMismatch(model, insert); err != nil {
		t.Error(err)
	}
}

func insertMismatch(model any, insert string) error {
	s, err := schema.Parse(model, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		return fmt.Errorf("parse model %T: %w", model, err)
	}
	var missing []string
	for _, column := range s.DBNames {
		if !strings.Contains(insert, `"`+column+`"`) {
			missing = append(missing, column)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the INSERT into %s does not set column(s) %s", s.Table, strings.Join(missing, ", "))
	}
	if got, want := strings.Count(insert, "?"), len(s.DBNames); got != want {
		return fmt.Errorf("the INSERT into %s has %d placeholders for %d columns", s.Table, got, want)
	}
	return nil
}
