// Command benchgate compares a benchmark run with the stored baseline and
// fails when a machine-independent metric regresses; its A/B mode (-ab)
// gates time, by timing two builds against each other on one machine.
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
// compare exactly across machines of one architecture. Time is gated by the
// A/B mode instead, old against new on one machine in one run.
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
// -update -commit <hash> also records the commit the run measured, as a
// "commit: <hash>" line at the top of the baseline (make bench-update does).
//
// # A/B mode
//
//	go run ./ci/benchgate -ab -pkg ./bench/ -bench '^BenchmarkKMS' -rounds 8 -benchtime 1000x
//
// builds the test binary of -pkg twice, from the base commit (extracted with
// git archive into a temporary directory) and from the working tree, then
// runs them for -rounds rounds. In each round every benchmark matching
// -bench runs on both sides back to back, base first in even rounds and head
// first in odd ones, so drift over the run weighs on both alike. The base is
// -base, else the commit the baseline's "commit:" line names, else the
// merge-base of HEAD with -main; a base the repository lacks (a shallow
// clone) is an error, never a silent pass.
//
// What is compared is CPU time per operation, not wall-clock time. On a
// shared machine a process gets whatever share of the cores the others
// leave it, so the wall-clock time of a fixed amount of work moves by tens
// of percent from one second to the next, interleaved or not; the CPU time
// the kernel charges to the process moves by a few. Each sample comes from
// two runs of one benchmark alone in its own process: one with
// -benchtime=1x (process start, the benchmark's setup, one operation) and
// one with -benchtime=Nx; the sample is the Nx run's CPU time minus the
// median 1x run's, over N-1 operations. A benchmark that reports its own
// loop's CPU time (cpu-ms/op) on both sides is compared on that instead,
// its setup left out. The benchmarks' own wall-clock
// ns/op is printed too, not gated. A benchmark with sub-benchmarks is
// measured as a whole.
//
// Head fails when, for any benchmark, its median is more than -time
// percent (default 15) above base's and the Mann-Whitney U test, as
// benchstat applies it, says the samples differ with p < 0.05: a large
// but insignificant difference is noise, a significant but small one is
// not worth a failure.
//
// Exit codes: 0 pass (or baseline updated), 1 regression or missing
// benchmark, 2 usage error or unreadable/malformed input (in the A/B mode
// also: the base cannot be found or either side cannot be built or run).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
