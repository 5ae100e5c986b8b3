package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/perf/benchproc"
)

// Exit codes of the command.
const (
	exitOK        = 0 // nothing regressed, or the baseline was updated
	exitRegressed = 1 // a gated metric regressed or a baseline benchmark is missing
	exitUsage     = 2 // bad flags, unreadable or malformed input
)

// Units the gate knows. benchfmt tidies ns/op to sec/op when reading.
const (
	unitTime   = "sec/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
)

// defaultLimit is the default largest accepted increase of every gated
// median, in percent. Allocation, byte and query counts are properties of
// the code: on the 2-core CI machine, loaded so much that times tripled,
// their medians moved by less than 0.5% between runs (sync.Pool refills
// and GC timing in the TLS and HTTP benchmarks). 2% keeps that noise out
// and still fails +5% allocations or one more query on a path that runs
// fewer than 50.
const defaultLimit = 2

// limits are the largest accepted increases of a median, in percent.
type limits struct {
	allocs, bytes float64
	// custom applies to every b.ReportMetric unit counting per operation
	// (queries/op, pbkdf2/op, ...): bench/ reports only machine-independent
	// counts that way (see bench/doc.go).
	custom float64
}

// limitFor says whether unit is gated and with which limit. Time is never
// gated, nor is a rate (B/s from b.SetBytes) or a per-something-else unit.
func (l limits) limitFor(unit string) (float64, bool) {
	switch {
	case unit == unitAllocs:
		return l.allocs, true
	case unit == unitBytes:
		return l.bytes, true
	case isTimeUnit(unit) || !strings.HasSuffix(unit, "/op"):
		return 0, false
	default:
		return l.custom, true
	}
}

// isTimeUnit reports a duration per something (sec/op after tidying, or a
// custom ns/query, ms/op, cpu-ms/op ...): machine-dependent, never gated
// against the stored baseline (the A/B mode compares time within one run).
func isTimeUnit(unit string) bool {
	num, _, _ := strings.Cut(unit, "/")
	num = strings.TrimPrefix(num, "cpu-")
	switch num {
	case "sec", "s", "ms", "us", "µs", "ns":
		return true
	}
	return false
}

// percentFlag is a threshold in percent, validated when parsed.
type percentFlag float64

func (p *percentFlag) String() string { return strconv.FormatFloat(float64(*p), 'g', -1, 64) }

func (p *percentFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("want a percentage >= 0, got %q", s)
	}
	*p = percentFlag(v)
	return nil
}

// options are the parsed command line.
type options struct {
	baseline     string
	newFile      string
	filter       string
	allowMissing bool
	update       bool
	limits       limits
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fset := flag.NewFlagSet("benchgate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var (
		o                     options
		allocs, bytes, custom = percentFlag(defaultLimit), percentFlag(defaultLimit), percentFlag(defaultLimit)
	)
	fset.StringVar(&o.baseline, "baseline", "baselines/bench.txt", "stored baseline (go test -bench output)")
	fset.StringVar(&o.newFile, "new", "", "benchmark output of the run to check (required)")
	fset.StringVar(&o.filter, "filter", "", "compare only results matching this benchproc filter, e.g. '.name:/^Keycrypto/' (see go doc golang.org/x/perf/benchproc/syntax)")
	fset.BoolVar(&o.allowMissing, "allow-missing", false, "do not fail when baseline benchmarks are missing from the new run")
	fset.BoolVar(&o.update, "update", false, "print the comparison, then replace the baseline with the new file")
	fset.Var(&allocs, "allocs", "fail when allocs/op rises by more than this `percent`")
	fset.Var(&bytes, "bytes", "fail when B/op rises by more than this `percent`")
	fset.Var(&custom, "custom", "fail when a custom count per op (queries/op, pbkdf2/op, any b.ReportMetric unit ending in /op that is not a time) rises by more than this `percent`")
	if err := fset.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fset.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fset.Args())
	case o.newFile == "":
		return o, errors.New("-new is required")
	case o.baseline == "":
		return o, errors.New("-baseline must not be empty")
	case o.update && o.filter != "":
		// The baseline is replaced whole; a filter would only hide what changed.
		return o, errors.New("-update and -filter cannot be combined")
	}
	o.limits = limits{allocs: float64(allocs), bytes: float64(bytes), custom: float64(custom)}
	return o, nil
}

// run is the whole command, minus os.Exit.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "benchgate:", err)
		}
		return exitUsage
	}
	code, err := gate(o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "benchgate:", err)
	}
	return code
}

// gate reads both files, prints the comparison and decides.
func gate(o options, stdout io.Writer) (int, error) {
	var filter *benchproc.Filter
	if o.filter != "" {
		f, err := benchproc.NewFilter(o.filter)
		if err != nil {
			return exitUsage, fmt.Errorf("-filter: %w", err)
		}
		filter = f
	}
	cur, err := readFile(o.newFile, filter)
	if err != nil {
		return exitUsage, err
	}
	if len(cur.order) == 0 {
		return exitUsage, fmt.Errorf("%s: no benchmark results (did the benchmarks run?)", o.newFile)
	}
	base, err := readFile(o.baseline, filter)
	switch {
	case o.update && errors.Is(err, fs.ErrNotExist):
		base = &benchFile{path: o.baseline} // first baseline
	case err != nil:
		return exitUsage, err
	case !o.update && len(base.order) == 0:
		return exitUsage, fmt.Errorf("%s: no benchmark results: a gate with nothing to compare cannot fail; record one with -update", o.baseline)
	}

	rep := compare(base, cur, o.limits)
	rep.write(stdout)

	if o.update {
		if err := copyFile(o.newFile, o.baseline); err != nil {
			return exitUsage, err
		}
		fmt.Fprintf(stdout, "\nbaseline %s updated from %s (%d benchmarks)\n", o.baseline, o.newFile, len(cur.order))
		return exitOK, nil
	}
	if failures := rep.failures(o.allowMissing); failures > 0 {
		fmt.Fprintf(stdout, "\nFAIL: %d gate failure(s); if intended, update the baseline (see baselines/README.md)\n", failures)
		return exitRegressed, nil
	}
	fmt.Fprintf(stdout, "\nPASS: %d benchmarks compared, no gated metric regressed\n", len(rep.common))
	return exitOK, nil
}

// copyFile replaces dst with the bytes of src, atomically (rename), so an
// interrupted update never leaves a truncated baseline.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("update baseline: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("update baseline: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".bench-*.tmp")
	if err != nil {
		return fmt.Errorf("update baseline: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("update baseline %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("update baseline %s: %w", dst, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("update baseline %s: %w", dst, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("update baseline %s: %w", dst, err)
	}
	return nil
}
