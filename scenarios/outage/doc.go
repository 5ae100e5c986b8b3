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
//     KMS's data on a filesystem of its own (testkit/fsfault): a tmpfs
//     filled until writes hit ENOSPC, or an ext4 the kernel forces
//     read-only under the running KMS (errors=remount-ro after an ext4
//     error; Linux refuses a plain remount read-only while SQLite has its
//     files open), then repaired with e2fsck and mounted again with the KMS
//     restarted. Writes get 503 "unavailable" with Retry-After, never 500;
//     afterwards the same requests succeed, every key acknowledged before is
//     there and usable, and SQLite's integrity check passes on every
//     database file.
package outage
