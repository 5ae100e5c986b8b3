//go:build cgo

package db

import (
	"errors"
	"time"

	"github.com/mattn/go-sqlite3"
)

// classifySQLiteError reports whether err is the SQLite driver's error and,
// when it says the database cannot serve now, why and when to retry.
func classifySQLiteError(err error) (string, time.Duration, bool) {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return "", 0, false
	}
	reason, retry := classifySQLite(se.Code)
	return reason, retry, true
}

func classifySQLite(code sqlite3.ErrNo) (string, time.Duration) {
	switch code {
	case sqlite3.ErrFull:
		return "storage full", retryStorage
	case sqlite3.ErrReadonly:
		return "read-only", retryStorage
	case sqlite3.ErrIoErr, sqlite3.ErrCantOpen:
		return "storage failed", retryStorage
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return "busy", retryBusy
	}
	return "", 0
}
