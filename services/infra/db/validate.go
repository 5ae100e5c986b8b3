package db

import (
	"errors"
	"fmt"

	"github.com/passthru-dev/passthru/services/infra/text"
)

// ErrInvalid is wrapped by every validation error of this package (a
// malformed migration list, namespace or tenant id), so callers can tell bad
// input from a failing database with errors.Is.
var ErrInvalid = errors.New("invalid value")

// maxNameBytes bounds migration set and migration names: they are stored in
// VARCHAR(255) columns of schema_migrations.
const maxNameBytes = 255

// checkName checks a migration set or migration name: non-empty, at most
// maxNameBytes bytes, valid UTF-8, no control characters, since it is
// recorded in schema_migrations and printed in errors and logs. Names of
// domain objects have their own rules next to their types.
func checkName(s string) error {
	if err := text.Name(s, maxNameBytes); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
