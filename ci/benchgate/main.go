// Command benchgate compares a benchmark run with the stored baseline and
// fails when a machine-independent metric regresses.
//
//	go test -run '^$' -bench . -benchmem -count=5 ./bench/... > bench.out
//	go run ./ci/benchgate -baseline baselines/bench.txt -new bench.out
//
// It prints a benchstat-style table (median ± 95% confidence range, and the
// delta with its p-value) for every unit: sec/op, B/op, allocs/op and custom
// metrics such as queries/op. It exits 1 when, for a benchmark present in
// both files, the median of a gated unit rose by more than its threshold:
// allocs/op by more than -allocs, B/op by more than -bytes, and any custom
// count per operation (b.ReportMetric units ending in /op that are not
// times: queries/op, pbkdf2/op) by more than -custom; all three default to
// 2%, just above what machine noise moves these medians. A zero
// baseline median makes any increase a regression (a path that did not
// allocate, query or hash now does).
//
// Time (sec/op) is printed but never gated: the baseline is recorded on one
// machine and CI runs on another, possibly slower or busier, so a time
// difference there says more about the machines than about the code.
// Allocations, bytes and queries per operation are properties of the code and
// compare exactly across machines of one architecture. Compare
// time old-versus-new on one machine instead (benchstat on two local runs).
//
// The gate needs no statistical significance to fail: allocation counts are
// nearly deterministic, and a CI run with -count=1 gives no p-value at all.
//
// Baseline benchmarks missing from the new run fail the gate (a benchmark
// was deleted or renamed silently) unless -allow-missing; benchmarks new in
// the run are listed and not gated. A baseline without benchmarks is an error:
// a gate with nothing to compare cannot fail. -update rewrites the baseline
// with the new file (verbatim) after printing the comparison.
//
// Names are compared without the -GOMAXPROCS suffix, so a baseline recorded
// on a 2-core machine gates a run on an 8-core one.
//
// Exit codes: 0 pass (or baseline updated), 1 regression or missing
// benchmark, 2 usage error or unreadable/malformed input.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
