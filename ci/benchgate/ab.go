package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// abOptions configure an A/B timing run (-ab).
type abOptions struct {
	repo       string  // the module root; head is its working tree
	base       string  // -base; "" picks one (see chooseBase)
	mainRef    string  // the branch whose merge-base is the last resort for base
	pkg        string  // the one benchmark package, relative to repo ("./bench/")
	bench      string  // -test.bench regular expression
	rounds     int     // samples per benchmark and side
	benchtime  string  // -test.benchtime of the measured runs: an iteration count, "1000x"
	iterations int     // benchtime's count
	tags       string  // build tags of both test binaries
	goCmd      string  // the go command
	limit      float64 // largest accepted slowdown of a median, in percent
}

// minRounds is the fewest rounds -ab accepts. The smallest p-value
// Mann-Whitney can give is 0.1 with three samples a side and 0.029 with
// four: below five, only a slowdown separating every sample perfectly
// could fail the gate.
const minRounds = 5

// abSide is one of the two builds being compared.
type abSide struct {
	name   string // "base" or "head"
	desc   string // the commit or "working tree", for errors
	module string // the module root it is built in
	bin    string // the test binary
	dir    string // the package directory the binary runs in, as go test would

	setup  map[string][]float64 // CPU seconds of each 1x run, by benchmark
	loaded map[string][]float64 // CPU seconds of each Nx run, by benchmark
	// loop holds, by benchmark, the CPU seconds per operation each Nx run
	// reported itself (cpu-ms/op, measured around its loop only), for
	// benchmarks that report it.
	loop map[string][]float64
	wall bytes.Buffer // the Nx runs' own output (wall-clock ns/op)
}

// runAB builds the benchmark binary of the base commit and of the working
// tree, runs them in alternating order for o.ab.rounds rounds and fails
// when head costs significantly and substantially more CPU time per
// operation than base.
func runAB(ctx context.Context, o options, stdout, stderr io.Writer) (int, error) {
	ab := o.ab
	src, err := chooseBase(ctx, ab.repo, ab.base, o.baseline, ab.mainRef)
	if err != nil {
		return exitUsage, err
	}
	baseSHA, err := resolveCommit(ctx, ab.repo, src.ref)
	if err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(stdout, "A/B CPU time of %s (-bench %q), %d rounds of -benchtime=%s, alternating order\n", ab.pkg, ab.bench, ab.rounds, ab.benchtime)
	fmt.Fprintf(stdout, "base: %s (%s)\nhead: the working tree of %s\n", short(baseSHA), src.origin, ab.repo)
	if head, err := git(ctx, ab.repo, "rev-parse", "--verify", "--quiet", "HEAD"); err == nil && head == baseSHA {
		fmt.Fprintln(stdout, "note: base is HEAD, so only uncommitted changes can differ")
	}

	tmp, err := os.MkdirTemp("", "benchgate-ab-")
	if err != nil {
		return exitUsage, fmt.Errorf("a/b: %w", err)
	}
	defer os.RemoveAll(tmp)
	sides, err := buildSides(ctx, ab, baseSHA, tmp, stderr)
	if err != nil {
		return exitUsage, err
	}
	names, onlyBase, onlyHead, err := commonBenchmarks(ctx, ab.bench, sides)
	if err != nil {
		return exitUsage, err
	}
	if len(names) == 0 {
		return exitUsage, fmt.Errorf("-bench %q: no benchmark in both builds; an A/B run with nothing to compare cannot fail", ab.bench)
	}
	if err := runRounds(ctx, ab, names, sides, stderr); err != nil {
		return exitUsage, err
	}

	cpu := compareAB(cpuFile(sides[0], sides[1], names, ab.iterations), cpuFile(sides[1], sides[0], names, ab.iterations), ab.limit)
	cpu.onlyBase, cpu.onlyHead = onlyBase, onlyHead
	cpu.write(stdout, fmt.Sprintf("CPU sec/op (gated: head may not cost more than %g%% more with p < %g)", ab.limit, abAlpha))
	writeWallClock(sides, stdout)
	if cpu.failures > 0 {
		fmt.Fprintf(stdout, "\nFAIL: %d benchmark(s) more than %g%% slower than base (p < %g)\n", cpu.failures, ab.limit, abAlpha)
		return exitRegressed, nil
	}
	fmt.Fprintf(stdout, "\nPASS: %d benchmarks compared, none significantly more than %g%% slower\n", len(cpu.rows), ab.limit)
	return exitOK, nil
}

// buildSides extracts the base commit under tmp and builds the test binary
// of the base and of the working tree there.
func buildSides(ctx context.Context, ab abOptions, baseSHA, tmp string, progress io.Writer) ([]*abSide, error) {
	// The module may sit below the repository's top level; git archive
	// writes the whole repository.
	prefix, err := git(ctx, ab.repo, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, err
	}
	baseTree := filepath.Join(tmp, "base")
	if err := os.Mkdir(baseTree, 0o755); err != nil {
		return nil, fmt.Errorf("a/b: %w", err)
	}
	if err := extractCommit(ctx, ab.repo, baseSHA, baseTree); err != nil {
		return nil, fmt.Errorf("base commit %s: %w", short(baseSHA), err)
	}
	sides := []*abSide{
		{name: "base", desc: "commit " + short(baseSHA), module: filepath.Join(baseTree, filepath.FromSlash(prefix))},
		{name: "head", desc: "working tree", module: ab.repo},
	}
	for _, s := range sides {
		s.bin = filepath.Join(tmp, s.name+".test")
		// The binary runs in its package's directory, as go test runs it,
		// so relative paths (testdata) resolve in its own tree.
		s.dir = filepath.Join(s.module, ab.pkg)
		start := time.Now()
		if err := buildTestBinary(ctx, ab, s.module, s.bin); err != nil {
			return nil, fmt.Errorf("build %s (%s): %w", s.name, s.desc, err)
		}
		fmt.Fprintf(progress, "built %s (%s) in %s\n", s.name, s.desc, time.Since(start).Round(100*time.Millisecond))
	}
	return sides, nil
}

// writeWallClock prints the benchmarks' own wall-clock ns/op from the Nx
// runs, for the reader: on a quiet machine it agrees with the CPU times,
// on a busy one it shows why they are what is gated. The table only
// informs: output the benchmark format reader cannot parse leaves it out
// rather than failing a run whose gated numbers are fine.
func writeWallClock(sides []*abSide, stdout io.Writer) {
	base, err := parse(&sides[0].wall, "base", nil)
	if err != nil {
		return
	}
	head, err := parse(&sides[1].wall, "head", nil)
	if err != nil {
		return
	}
	compareAB(base, head, math.Inf(1)).write(stdout, "wall-clock sec/op (not gated: moves with the machine's load)")
}

// parseIterations reads an -ab -benchtime, which must be an iteration
// count: CPU time is measured per process, so both builds must do the same
// number of operations for the totals to compare.
func parseIterations(benchtime string) (int, error) {
	count, ok := strings.CutSuffix(benchtime, "x")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 2 {
		return 0, fmt.Errorf("-benchtime %q: want an iteration count of at least 2, like 1000x (both builds must do the same work)", benchtime)
	}
	return n, nil
}

// buildTestBinary compiles the test binary of ab.pkg in module to out.
func buildTestBinary(ctx context.Context, ab abOptions, module, out string) error {
	args := []string{"test", "-c", "-o", out}
	if ab.tags != "" {
		args = append(args, "-tags", ab.tags)
	}
	args = append(args, ab.pkg)
	var output bytes.Buffer
	cmd := exec.CommandContext(ctx, ab.goCmd, args...)
	cmd.Dir = module
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", ab.goCmd, strings.Join(args, " "), err, output.String())
	}
	if _, err := os.Stat(out); err != nil {
		// go test -c writes nothing, successfully, for a package without tests.
		return fmt.Errorf("%s has no test binary (no _test.go files?): %w", ab.pkg, err)
	}
	return nil
}

// commonBenchmarks lists the top-level benchmarks matching pattern in both
// binaries: those both have, in head's order, and those only one has.
func commonBenchmarks(ctx context.Context, pattern string, sides []*abSide) (common, onlyBase, onlyHead []string, err error) {
	var lists [2][]string
	for i, s := range sides {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, s.bin, "-test.list="+pattern)
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, nil, nil, fmt.Errorf("list %s benchmarks: %w\n%s", s.name, err, stderr.String())
		}
		for line := range strings.Lines(stdout.String()) {
			if name := strings.TrimSpace(line); strings.HasPrefix(name, "Benchmark") {
				lists[i] = append(lists[i], name)
			}
		}
	}
	for _, n := range lists[1] {
		if slices.Contains(lists[0], n) {
			common = append(common, n)
		} else {
			onlyHead = append(onlyHead, strings.TrimPrefix(n, "Benchmark"))
		}
	}
	for _, n := range lists[0] {
		if !slices.Contains(lists[1], n) {
			onlyBase = append(onlyBase, strings.TrimPrefix(n, "Benchmark"))
		}
	}
	return common, onlyBase, onlyHead, nil
}

// runRounds measures every benchmark on both sides once per round: a 1x
// run (the process's start and the benchmark's setup, one operation) and
// an Nx run (the same plus N-1 operations), each its own process whose CPU
// time the kernel reports. Within a round the two sides of a benchmark run
// back to back, base first in even rounds and head first in odd ones, so
// whatever drifts during the run weighs on both alike.
func runRounds(ctx context.Context, ab abOptions, names []string, sides []*abSide, progress io.Writer) error {
	for _, s := range sides {
		s.setup, s.loaded, s.loop = map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	}
	for round := range ab.rounds {
		order := []*abSide{sides[0], sides[1]}
		if round%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		start := time.Now()
		for _, name := range names {
			for _, s := range order {
				one, _, err := runOnce(ctx, s, name, "1x")
				if err != nil {
					return fmt.Errorf("round %d: %w", round+1, err)
				}
				many, out, err := runOnce(ctx, s, name, ab.benchtime)
				if err != nil {
					return fmt.Errorf("round %d: %w", round+1, err)
				}
				s.setup[name] = append(s.setup[name], one)
				s.loaded[name] = append(s.loaded[name], many)
				if v, ok := loopCPU(out); ok {
					s.loop[name] = append(s.loop[name], v)
				}
				s.wall.Write(out)
			}
		}
		fmt.Fprintf(progress, "round %d/%d (%s first) took %s\n", round+1, ab.rounds, order[0].name, time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

// runOnce runs benchmark name alone for benchtime and returns the CPU time
// (user and system) the process used, and its output.
func runOnce(ctx context.Context, s *abSide, name, benchtime string) (float64, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, s.bin, "-test.run=^$", "-test.bench=^"+regexp.QuoteMeta(name)+"$",
		"-test.count=1", "-test.benchtime="+benchtime, "-test.timeout=10m")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, nil, fmt.Errorf("%s %s -test.benchtime=%s: %w\n%s%s", s.name, name, benchtime, err, stdout.String(), stderr.String())
	}
	ps := cmd.ProcessState
	return (ps.UserTime() + ps.SystemTime()).Seconds(), stdout.Bytes(), nil
}

// cpuFile turns a side's CPU times into per-operation samples. A benchmark
// that measures its own loop's CPU time (cpu-ms/op) on both sides in every
// round is compared on that: its setup (starting servers, generating keys)
// is then left out, where it would otherwise add its noise, often larger
// than the operations' whole cost, to every sample. Otherwise a sample is
// each Nx run's time minus the median 1x run's, over the N-1 operations
// between them. The median of all the side's 1x runs, not the same round's,
// is subtracted: setup cost varies from run to run (key generation, say)
// and one run's setup would add its noise to every sample.
func cpuFile(s, other *abSide, names []string, iterations int) *benchFile {
	bf := &benchFile{path: s.name + " (CPU)", benchmarks: map[string]*benchmark{}}
	for _, name := range names {
		short := strings.TrimPrefix(name, "Benchmark")
		samples := perOp(s.setup[name], s.loaded[name], iterations)
		if n := len(s.loaded[name]); n > 0 && len(s.loop[name]) == n && len(other.loop[name]) == len(other.loaded[name]) {
			samples = slices.Clone(s.loop[name])
		}
		bf.benchmarks[short] = &benchmark{name: short, units: []string{unitTime},
			values: map[string][]float64{unitTime: samples}}
		bf.order = append(bf.order, short)
	}
	return bf
}

// loopCPU is the CPU time per operation, in seconds, that a benchmark run's
// output reports as cpu-ms/op, if it does.
func loopCPU(out []byte) (float64, bool) {
	bf, err := parse(bytes.NewReader(out), "run", nil)
	if err != nil || len(bf.order) != 1 {
		return 0, false
	}
	v := bf.benchmarks[bf.order[0]].values[loopCPUUnit]
	if len(v) != 1 {
		return 0, false
	}
	return v[0] / 1000, true
}

// loopCPUUnit is the metric a benchmark reports its loop's CPU time in.
const loopCPUUnit = "cpu-ms/op"

// perOp is (loaded - median(setup)) / (iterations-1) for every loaded time.
func perOp(setup, loaded []float64, iterations int) []float64 {
	sorted := slices.Sorted(slices.Values(setup))
	var med float64
	if n := len(sorted); n > 0 {
		med = (sorted[(n-1)/2] + sorted[n/2]) / 2
	}
	out := make([]float64, len(loaded))
	for i, l := range loaded {
		out[i] = (l - med) / float64(iterations-1)
	}
	return out
}

// short is a commit hash as git log --oneline shows it.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
