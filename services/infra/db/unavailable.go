package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable marks an error that says the database cannot serve the
// request right now (unreachable, shutting down, out of space, read-only),
// as opposed to an error in the request or in this service's code. Services
// answer such errors with 503 and Retry-After, never 500.
var ErrUnavailable = errors.New("database unavailable")

// UnavailableError is what Unavailable finds: why the database cannot
// serve, and when it is worth trying again.
type UnavailableError struct {
	// Reason is a short fixed phrase safe to show a client ("unreachable",
	// "storage full", ...): never the driver's text, which names hosts,
	// users and paths.
	Reason string
	// RetryAfter is how long a client should wait before retrying.
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	return "database unavailable (" + e.Reason + "): " + e.Err.Error()
}

// Unwrap gives both ErrUnavailable and the driver's error to errors.Is/As.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// How long a client is told to wait. An unreachable server is usually a
// restart or a failover, seconds away; storage that is full or read-only
// needs an operator, so clients are told to back off longer.
const (
	retryUnreachable = 2 * time.Second
	retryBusy        = time.Second
	retryStorage     = 30 * time.Second
)

// Unavailable reports whether err, anywhere in its chain, says that the
// database cannot serve right now, and why. It knows the errors of both
// drivers: pgx's connection failures, PostgreSQL's connection, shutdown
// and resource SQLSTATEs, and SQLite's full, read-only, I/O and cannot-open
// result codes. Errors it does not recognise are not unavailability: a
// constraint violation or a bug must stay a 4xx or a 500.
func Unavailable(err error) (*UnavailableError, bool) {
	if err == nil {
		return nil, false
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue, true
	}
	reason, retry := classify(err)
	if reason == "" {
		return nil, false
	}
	return &UnavailableError{Reason: reason, RetryAfter: retry, Err: err}, true
}

func classify(err error) (string, time.Duration) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller gave up (or ran out of time): nothing says the
		// database is down, and the caller is gone anyway.
		return "", 0
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if reason, retry := classifyPostgres(pe.Code); reason != "" {
			return reason, retry
		}
	}
	if reason, retry, ok := classifySQLiteError(err); ok {
		return reason, retry
	}
	var ce *pgconn.ConnectError
	var ne *net.OpError
	switch {
	case errors.As(err, &ce):
		// Whatever the server said (a refused login, a database that does
		// not exist or does not accept connections), the service cannot
		// reach its data: not the client's fault, and not a bug here.
		return "unreachable", retryUnreachable
	case pe != nil:
		return "", 0 // a statement's error: the request's or this service's
	case errors.As(err, &ne):
		return "unreachable", retryUnreachable
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE):
		// The server went away under an open connection (a shutdown or a
		// crash): the pool replaces the connection on the next request.
		return "unreachable", retryUnreachable
	}
	return "", 0
}

// classifyPostgres maps the SQLSTATEs that mean "not now" rather than
// "not this request" (PostgreSQL appendix A).
func classifyPostgres(code string) (string, time.Duration) {
	switch {
	case len(code) == 5 && code[:2] == "08": // connection exception
		return "unreachable", retryUnreachable
	case code == "57P01", code == "57P02", code == "57P03": // admin/crash shutdown, cannot connect now
		return "shutting down", retryUnreachable
	case code == "53100": // disk_full
		return "storage full", retryStorage
	case len(code) == 5 && code[:2] == "53": // out of memory, too many connections, ...
		return "busy", retryBusy
	case code == "25006": // read_only_sql_transaction: a standby, or default_transaction_read_only
		return "read-only", retryStorage
	}
	return "", 0
}
