package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

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
	commit       string // with -update: recorded as the baseline's "commit:" line
	limits       limits
	abMode       bool // -ab: time the base commit against the working tree instead
	ab           abOptions
}

// Flags that only one of the two modes reads. Passing one to the other mode
// is an error rather than a silently ignored setting.
var (
	gateOnlyFlags = []string{"new", "filter", "allow-missing", "update", "commit", "allocs", "bytes", "custom"}
	abOnlyFlags   = []string{"repo", "base", "main", "pkg", "bench", "rounds", "benchtime", "tags", "go", "time"}
)

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
	fset.StringVar(&o.commit, "commit", "", "with -update: record this commit `hash` in the baseline (a \"commit:\" line), the base of later -ab runs")

	timeLimit := percentFlag(defaultTimeLimit)
	fset.BoolVar(&o.abMode, "ab", false, "A/B timing mode: build the benchmarks of -base and of the working tree, run them interleaved, and fail when head costs more CPU time per op")
	fset.StringVar(&o.ab.repo, "repo", ".", "-ab: the module root (head is its working tree, base comes from its git repository)")
	fset.StringVar(&o.ab.base, "base", "", "-ab: base `commit`; default: the baseline's \"commit:\" line, else the merge-base of HEAD and -main")
	fset.StringVar(&o.ab.mainRef, "main", "main", "-ab: `branch` whose merge-base with HEAD is the base when neither -base nor the baseline names one")
	fset.StringVar(&o.ab.pkg, "pkg", "./bench/", "-ab: the benchmark package `directory`, relative to -repo")
	fset.StringVar(&o.ab.bench, "bench", ".", "-ab: run the benchmarks matching this `regexp` (go test -bench)")
	fset.IntVar(&o.ab.rounds, "rounds", 8, "-ab: rounds; each runs every benchmark on both binaries, giving one sample per benchmark and side")
	fset.StringVar(&o.ab.benchtime, "benchtime", "1000x", "-ab: go test -benchtime of the measured runs, an iteration count (`N`x)")
	fset.StringVar(&o.ab.tags, "tags", "", "-ab: build `tags` of both test binaries")
	fset.StringVar(&o.ab.goCmd, "go", "go", "-ab: the go `command`")
	fset.Var(&timeLimit, "time", "-ab: fail when head's median CPU time per op is more than this `percent` above base's, with p < 0.05")
	if err := fset.Parse(args); err != nil {
		return o, err
	}
	if err := checkModeFlags(fset, o.abMode); err != nil {
		return o, err
	}
	if o.abMode {
		o.ab.limit = float64(timeLimit)
		return o, checkABOptions(&o.ab, fset.NArg())
	}
	switch {
	case fset.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fset.Args())
	case o.commit != "" && !o.update:
		return o, errors.New("-commit applies only with -update")
	case o.commit != "" && !isCommitHash(o.commit):
		return o, fmt.Errorf("-commit %q: want a hexadecimal commit hash", o.commit)
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

// checkModeFlags rejects flags set for the mode not chosen.
func checkModeFlags(fset *flag.FlagSet, abMode bool) error {
	wrong, mode := abOnlyFlags, "-ab"
	if abMode {
		wrong, mode = gateOnlyFlags, "the baseline gate (without -ab)"
	}
	var bad []string
	fset.Visit(func(f *flag.Flag) {
		if slices.Contains(wrong, f.Name) {
			bad = append(bad, "-"+f.Name)
		}
	})
	if len(bad) > 0 {
		return fmt.Errorf("%s: only for %s", strings.Join(bad, ", "), mode)
	}
	return nil
}

func checkABOptions(ab *abOptions, nargs int) error {
	switch {
	case nargs > 0:
		return errors.New("unexpected arguments")
	case ab.rounds < minRounds:
		return fmt.Errorf("-rounds %d: want at least %d; with fewer samples no slowdown reaches p < %g", ab.rounds, minRounds, abAlpha)
	case ab.bench == "":
		return errors.New("-bench must not be empty")
	case ab.goCmd == "":
		return errors.New("-go must not be empty")
	}
	n, err := parseIterations(ab.benchtime)
	if err != nil {
		return err
	}
	ab.iterations = n
	// go test -c builds one package: a pattern (./...) or a path leaving
	// the module cannot be built into one binary of both trees.
	pkg := filepath.Clean(filepath.FromSlash(ab.pkg))
	if !filepath.IsLocal(pkg) || strings.Contains(ab.pkg, "...") {
		return fmt.Errorf("-pkg %q: want one package directory inside the module, like ./bench/", ab.pkg)
	}
	ab.pkg = "./" + filepath.ToSlash(pkg)
	repo, err := filepath.Abs(ab.repo)
	if err != nil {
		return fmt.Errorf("-repo: %w", err)
	}
	ab.repo = repo
	return nil
}

// isCommitHash accepts what git rev-parse prints: SHA-1 or SHA-256 in hex.
func isCommitHash(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
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
	var code int
	if o.abMode {
		// Interrupting the run stops the benchmark binaries and still
		// removes the temporary trees.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		code, err = runAB(ctx, o, stdout, stderr)
	} else {
		code, err = gate(o, stdout)
	}
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
		header := ""
		if o.commit != "" {
			header = "commit: " + o.commit + "\n"
		}
		if err := copyFile(o.newFile, o.baseline, header); err != nil {
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

// copyFile replaces dst with header followed by the bytes of src,
// atomically (rename), so an interrupted update never leaves a truncated
// baseline.
func copyFile(src, dst, header string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("update baseline: %w", err)
	}
	data = append([]byte(header), data...)
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
