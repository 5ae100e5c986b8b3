//go:build !cgo

package db

import "time"

// classifySQLiteError: without cgo the SQLite driver is a stub that opens no
// database (a binary built so, like the compose stack's demo client, uses
// PostgreSQL or no database), so there is no SQLite error to classify.
func classifySQLiteError(error) (string, time.Duration, bool) { return "", 0, false }
