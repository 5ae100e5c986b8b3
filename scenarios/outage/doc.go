// Package outage holds the database-outage tests: how the KMS and Identity
// answer while their database is gone, and that they come back by
// themselves.
//
//   - TestPostgresOutage (PostgreSQL leg) runs both services on a private
//     PostgreSQL cluster (dbtest.StartCluster), stops it under a bounded
//     concurrent load and starts it again: while it is down every request
//     is answered within a second with 503 and Retry-After (KMS problem code
//     "unavailable", OAuth error "temporarily_unavailable", /readyz "not
//     ready" naming the database), requests succeed again within seconds of
//     the database's return without restarting the services, and no
//     goroutine or database connection is left behind.
//   - TestSQLiteStorageFull and TestSQLiteReadOnly (SQLite leg) put the
//     KMS's data directory on a small tmpfs (testkit/tmpfs), fill it up or
//     make it read-only: writes get 503 "unavailable" with Retry-After,
//     never 500, and once the space or write access is back the same
//     requests succeed, every key acknowledged before is still there and
//     usable, and SQLite's integrity check passes on every database file.
package outage
