package schematest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

type gadget struct {
	ID    string `gorm:"primaryKey"`
	Name  string
	Count int
}

func TestInsertMismatch(t *testing.T) {
	t.Parallel()
	assert.NoError(t, insertMismatch(&gadget{}, `INSERT INTO "gadgets" ("id", "name", "count") VALUES (?, ?, ?)`))
	assert.ErrorContains(t, insertMismatch(&gadget{}, `INSERT INTO "gadgets" ("id", "name") VALUES (?, ?)`),
		"the INSERT into gadgets does not set column(s) count")
	assert.ErrorContains(t, insertMismatch(&gadget{}, `INSERT INTO "gadgets" ("id", "name", "count") VALUES (?, ?)`),
		"the INSERT into gadgets has 2 placeholders for 3 columns")
	assert.ErrorContains(t, insertMismatch(42, `INSERT`), "parse model int: ")
}
