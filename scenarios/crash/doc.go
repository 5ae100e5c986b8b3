// Package crash holds the crash-safety test (crash_test.go): the KMS and
// Identity as separate processes on PostgreSQL (testkit/procs), killed with
// SIGKILL under concurrent writes and restarted, must still have everything
// they acknowledged. It runs in `make test` on the PostgreSQL leg and alone
// with `make crash-test`.
package crash
