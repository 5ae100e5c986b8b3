// Package bench holds the Go benchmarks of Passthru's hot paths: the KMS key
// cryptography, password hashing, the barrier, TLS handshakes, JSON request
// decoding and (when the services are available) whole HTTP endpoints.
//
// Every benchmark uses b.Loop and reports allocations, and where it can a
// count per operation (queries/op, pbkdf2/op; for bearer tokens
// verifications/op, jwks-fetches/op, introspections/op), because those
// numbers do not move with machine noise: CI gates them against
// baselines/bench.txt with ci/benchgate. Time (sec/op) is only meaningful old-versus-new on one
// machine, so the gate prints it but never fails on it.
//
// The gate treats every b.ReportMetric unit ending in "/op" (other than a
// time) as such a count, so report only machine-independent counts that way.
// Setup that a cache absorbs (the first request's PBKDF2, a tenant's first
// KEK) runs before the loop, so steady-state counts are exact.
//
// queries/op is the number of SQL statements per operation. The endpoint
// benchmarks run a whole service in-process, whose database handles they
// cannot reach, so they count what SQLite itself starts, on every
// connection of the test binary; that needs the sqlite_trace build tag,
// without which they report no queries/op at all. Benchmarks holding the
// gorm handle count its operations with a gorm callback instead.
//
// Run them with
//
//	go test -tags sqlite_trace -run '^$' -bench . -benchmem ./bench/...
//
// Benchmarks whose names contain "Production" run production cost settings
// (600,000 PBKDF2 iterations); `make bench` runs them separately with
// -benchtime=1x so they stay visible without dominating the run.
package bench
