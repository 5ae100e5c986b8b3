package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
)

// result is one synthetic benchmark line; zero metrics are left out unless
// listed in extra.
type result struct {
	name                 string // without "Benchmark", with an optional -N suffix
	ns, bytes, allocs    float64
	noMem                bool   // omit B/op and allocs/op, as without -benchmem
	extra                string // more "value unit" pairs, e.g. "3 queries/op"
	samples              int    // lines to write; 0 means 5
	pkg                  string // "" means example.com/svc/bench
	cpu                  string // "" means "Test CPU @ 1GHz"
	allocsJitterPerEntry bool   // make allocs vary by one per sample, as concurrent benchmarks do
}

// benchText renders results in the go test -bench format.
func benchText(results ...result) string {
	var sb strings.Builder
	sb.WriteString("goos: linux\ngoarch: amd64\n")
	lastPkg, lastCPU := "", ""
	for _, r := range results {
		pkg, cpu := r.pkg, r.cpu
		if pkg == "" {
			pkg = "example.com/svc/bench"
		}
		if cpu == "" {
			cpu = "Test CPU @ 1GHz"
		}
		if pkg != lastPkg {
			fmt.Fprintf(&sb, "pkg: %s\n", pkg)
			lastPkg = pkg
		}
		if cpu != lastCPU {
			fmt.Fprintf(&sb, "cpu: %s\n", cpu)
			lastCPU = cpu
		}
		n := r.samples
		if n == 0 {
			n = 5
		}
		for i := range n {
			// Time varies like real runs do; memory does not (unless asked).
			fmt.Fprintf(&sb, "Benchmark%s \t 1000\t %g ns/op", r.name, r.ns*(1+0.01*float64(i)))
			if r.extra != "" {
				fmt.Fprintf(&sb, "\t %s", r.extra)
			}
			if !r.noMem {
				allocs := r.allocs
				if r.allocsJitterPerEntry {
					allocs += float64(i % 2)
				}
				fmt.Fprintf(&sb, "\t %g B/op\t %g allocs/op", r.bytes, allocs)
			}
			sb.WriteString("\n")
		}
	}
	sb.WriteString("PASS\nok  \texample.com/svc/bench\t1.234s\n")
	return sb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// baseResults is the synthetic baseline most cases start from.
var baseResults = []result{
	{name: "Encrypt/alg=A256GCM-2", ns: 14000, bytes: 10720, allocs: 77},
	{name: "Handshake-2", ns: 1.1e6, bytes: 138000, allocs: 957, allocsJitterPerEntry: true},
	{name: "Wrap-2", ns: 1300, bytes: 1232, allocs: 2, extra: "0 queries/op"},
}

// with returns baseResults with the result named name replaced by r.
func with(name string, r result) []result {
	out := make([]result, 0, len(baseResults))
	for _, b := range baseResults {
		if b.name == name {
			out = append(out, r)
			continue
		}
		out = append(out, b)
	}
	return out
}

func without(name string) []result {
	var out []result
	for _, b := range baseResults {
		if b.name != name {
			out = append(out, b)
		}
	}
	return out
}

func TestGate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc     string
		baseline string // file content; "-" means no baseline file
		run      string
		flags    []string
		wantCode int
		wantOut  []string // substrings of stdout
		notOut   []string // must not appear in stdout
		wantErr  string   // substring of stderr
	}{
		{
			desc:     "identical runs pass",
			baseline: benchText(baseResults...),
			run:      benchText(baseResults...),
			wantCode: exitOK,
			wantOut:  []string{"PASS: 3 benchmarks compared", "sec/op (not gated", "allocs/op (gated: the median may rise by at most 2%)", "B/op (gated: the median may rise by at most 2%)", "queries/op (gated: the median may rise by at most 2%)"},
			notOut:   []string{"FAIL", "REGRESSIONS", "MISSING"},
		},
		{
			desc:     "allocs/op up 20% fails",
			baseline: benchText(baseResults...),
			run:      benchText(with("Encrypt/alg=A256GCM-2", result{name: "Encrypt/alg=A256GCM-2", ns: 14000, bytes: 10720, allocs: 92.4})...),
			wantCode: exitRegressed,
			wantOut:  []string{"REGRESSIONS:", "Encrypt/alg=A256GCM allocs/op: 77.00 -> 92.40 (+20.0%, limit +2%)", "FAIL +20.0% > +2%", "FAIL: 1 gate failure(s)"},
		},
		{
			desc:     "allocs/op up exactly the threshold passes",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 50}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 51}),
			wantCode: exitOK,
			wantOut:  []string{"PASS"},
		},
		{
			desc:     "a stricter -allocs threshold is honoured",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 100}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 105}),
			flags:    []string{"-allocs", "3"},
			wantCode: exitRegressed,
			wantOut:  []string{"allocs/op: 100.0 -> 105.0 (+5.0%, limit +3%)"},
		},
		{
			desc:     "a looser -allocs threshold is honoured",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 100}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 140}),
			flags:    []string{"-allocs", "50"},
			wantCode: exitOK,
		},
		{
			desc:     "B/op up 30% fails",
			baseline: benchText(baseResults...),
			run:      benchText(with("Wrap-2", result{name: "Wrap-2", ns: 1300, bytes: 1601.6, allocs: 2, extra: "0 queries/op"})...),
			wantCode: exitRegressed,
			wantOut:  []string{"Wrap B/op", "(+30.0%, limit +2%)"},
		},
		{
			desc:     "B/op up 1.5% passes",
			baseline: benchText(baseResults...),
			run:      benchText(with("Wrap-2", result{name: "Wrap-2", ns: 1300, bytes: 1250.48, allocs: 2, extra: "0 queries/op"})...),
			wantCode: exitOK,
		},
		{
			desc:     "a stricter -bytes threshold is honoured",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 110, allocs: 1}),
			flags:    []string{"-bytes=5"},
			wantCode: exitRegressed,
		},
		{
			desc:     "time four times slower is printed, not gated",
			baseline: benchText(baseResults...),
			run:      benchText(with("Handshake-2", result{name: "Handshake-2", ns: 4.4e6, bytes: 138000, allocs: 957, allocsJitterPerEntry: true})...),
			wantCode: exitOK,
			wantOut:  []string{"+300.00% (p=0.008 n=5)", "PASS"},
		},
		{
			desc:     "fewer allocations pass",
			baseline: benchText(baseResults...),
			run:      benchText(with("Encrypt/alg=A256GCM-2", result{name: "Encrypt/alg=A256GCM-2", ns: 9000, bytes: 5000, allocs: 40})...),
			wantCode: exitOK,
			wantOut:  []string{"-48.05% (p=0.008 n=5)"},
		},
		{
			desc:     "queries/op from 0 to 1 fails: the cache stopped working",
			baseline: benchText(baseResults...),
			run:      benchText(with("Wrap-2", result{name: "Wrap-2", ns: 1300, bytes: 1232, allocs: 2, extra: "1 queries/op"})...),
			wantCode: exitRegressed,
			wantOut:  []string{"Wrap queries/op: 0.000 -> 1.000 (+inf% (from 0), limit +2%)"},
		},
		{
			desc:     "any custom count per op is gated with -custom",
			baseline: benchText(result{name: "Login-2", ns: 1, bytes: 1, allocs: 1, extra: "0.5 pbkdf2/op"}),
			run:      benchText(result{name: "Login-2", ns: 1, bytes: 1, allocs: 1, extra: "0.6 pbkdf2/op"}),
			flags:    []string{"-custom", "15"},
			wantCode: exitRegressed,
			wantOut:  []string{"pbkdf2/op (gated: the median may rise by at most 15%)", "Login pbkdf2/op: 500.0m -> 600.0m (+20.0%, limit +15%)"},
		},
		{
			desc:     "custom times and rates are printed, not gated",
			baseline: benchText(result{name: "Copy-2", ns: 1, bytes: 1, allocs: 1, extra: "100 ns/query\t 50 MB/s\t 3 widgets/conn\t 0.2 cpu-ms/op"}),
			run:      benchText(result{name: "Copy-2", ns: 1, bytes: 1, allocs: 1, extra: "900 ns/query\t 5 MB/s\t 30 widgets/conn\t 0.9 cpu-ms/op"}),
			wantCode: exitOK,
			wantOut:  []string{"sec/query (not gated)", "B/s (not gated)", "widgets/conn (not gated)", "cpu-ms/op (not gated)", "PASS"},
		},
		{
			desc:     "allocs/op from 0 to 1 fails",
			baseline: benchText(result{name: "Free-2", ns: 1, bytes: 0, allocs: 0}),
			run:      benchText(result{name: "Free-2", ns: 1, bytes: 16, allocs: 1}),
			wantCode: exitRegressed,
			wantOut:  []string{"FAIL: 2 gate failure(s)"},
		},
		{
			desc:     "a baseline benchmark missing from the run fails",
			baseline: benchText(baseResults...),
			run:      benchText(without("Handshake-2")...),
			wantCode: exitRegressed,
			wantOut:  []string{"MISSING from the new run (in the baseline):\n  Handshake\n", "FAIL: 1 gate failure(s)"},
		},
		{
			desc:     "-allow-missing accepts a missing benchmark",
			baseline: benchText(baseResults...),
			run:      benchText(without("Handshake-2")...),
			flags:    []string{"-allow-missing"},
			wantCode: exitOK,
			wantOut:  []string{"MISSING from the new run", "PASS: 2 benchmarks compared"},
		},
		{
			desc:     "a new benchmark is listed, not gated",
			baseline: benchText(without("Wrap-2")...),
			run:      benchText(baseResults...),
			wantCode: exitOK,
			wantOut:  []string{"new benchmarks (not in the baseline, not gated):\n  Wrap\n", "PASS: 2 benchmarks compared"},
		},
		{
			desc:     "a run without -benchmem fails: the gated units are gone",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1}),
			run:      benchText(result{name: "Enc-2", ns: 1, noMem: true}),
			wantCode: exitRegressed,
			wantOut:  []string{"MISSING gated units", "Enc: B/op", "Enc: allocs/op"},
		},
		{
			desc:     "names compare without the GOMAXPROCS suffix",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1}),
			run:      benchText(result{name: "Enc-8", ns: 1, bytes: 100, allocs: 1}),
			wantCode: exitOK,
			wantOut:  []string{"PASS: 1 benchmarks compared"},
			notOut:   []string{"MISSING", "new benchmarks"},
		},
		{
			desc:     "a GOMAXPROCS-less run (-cpu not set, GOMAXPROCS=1) still matches",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1}),
			run:      benchText(result{name: "Enc", ns: 1, bytes: 100, allocs: 1}),
			wantCode: exitOK,
		},
		{
			desc:     "another cpu is noted",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1, cpu: "Other CPU"}),
			wantCode: exitOK,
			wantOut:  []string{`note: baseline cpu "Test CPU @ 1GHz", new cpu "Other CPU": sec/op compares two machines`},
		},
		{
			desc:     "benchmarks of several packages are qualified and kept apart",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1, pkg: "example.com/a"}, result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1, pkg: "example.com/b"}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 1, pkg: "example.com/a"}, result{name: "Enc-2", ns: 1, bytes: 100, allocs: 2, pkg: "example.com/b"}),
			wantCode: exitRegressed,
			wantOut:  []string{"b.Enc allocs/op: 1.000 -> 2.000", "a.Enc "},
			notOut:   []string{"a.Enc allocs/op"},
		},
		{
			desc:     "a single sample per side still gates",
			baseline: benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 10, samples: 1}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 12, samples: 1}),
			wantCode: exitRegressed,
			wantOut:  []string{"need >= 6 samples"},
		},
		{
			desc:     "-filter limits the comparison, and the missing check, to matching benchmarks",
			baseline: benchText(baseResults...),
			run:      benchText(result{name: "Wrap-2", ns: 1300, bytes: 1232, allocs: 3, extra: "0 queries/op"}),
			flags:    []string{"-filter", ".name:Wrap"},
			wantCode: exitRegressed,
			wantOut:  []string{"Wrap allocs/op: 2.000 -> 3.000"},
			notOut:   []string{"MISSING", "Handshake"},
		},
		{
			desc:     "a -filter matching nothing in the run is an error",
			baseline: benchText(baseResults...),
			run:      benchText(baseResults...),
			flags:    []string{"-filter", ".name:Nothing"},
			wantCode: exitUsage,
			wantErr:  "no benchmark results",
		},
		{
			desc:     "an invalid -filter is a usage error",
			baseline: benchText(baseResults...),
			run:      benchText(baseResults...),
			flags:    []string{"-filter", "(unclosed"},
			wantCode: exitUsage,
			wantErr:  "-filter:",
		},
		{
			desc:     "an empty baseline is an error: the gate could not fail",
			baseline: "goos: linux\nPASS\n",
			run:      benchText(baseResults...),
			wantCode: exitUsage,
			wantErr:  "a gate with nothing to compare cannot fail",
		},
		{
			desc:     "a missing baseline file is an error",
			baseline: "-",
			run:      benchText(baseResults...),
			wantCode: exitUsage,
			wantErr:  "read benchmarks:",
		},
		{
			desc:     "a run without results is an error",
			baseline: benchText(baseResults...),
			run:      "goos: linux\n--- FAIL: BenchmarkX\nFAIL\n",
			wantCode: exitUsage,
			wantErr:  "no benchmark results (did the benchmarks run?)",
		},
		{
			desc:     "a malformed benchmark line in the run is an error, with its position",
			baseline: benchText(baseResults...),
			run:      "pkg: example.com/svc/bench\nBenchmarkEnc-2 \t 1000\t 12 ns/op\t garbage\n",
			wantCode: exitUsage,
			wantErr:  "new.txt:2: parsing measurement",
		},
		{
			desc:     "a malformed baseline is an error",
			baseline: "BenchmarkEnc-2 \t notanumber\t 12 ns/op\n",
			run:      benchText(baseResults...),
			wantCode: exitUsage,
			wantErr:  "baseline.txt:1:",
		},
		{
			desc:     "an exact-assumption unit line is honoured",
			baseline: "Unit allocs/op assume=exact\n" + benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 10}),
			run:      benchText(result{name: "Enc-2", ns: 1, bytes: 100, allocs: 10}),
			wantCode: exitOK,
			wantOut:  []string{"PASS"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			basePath := filepath.Join(dir, "baseline.txt")
			if tc.baseline != "-" {
				writeFile(t, dir, "baseline.txt", tc.baseline)
			}
			newPath := writeFile(t, dir, "new.txt", tc.run)
			var stdout, stderr bytes.Buffer
			args := append([]string{"-baseline", basePath, "-new", newPath}, tc.flags...)
			code := run(args, &stdout, &stderr)
			assert.Equal(t, tc.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			for _, s := range tc.wantOut {
				assert.Contains(t, stdout.String(), s)
			}
			for _, s := range tc.notOut {
				assert.NotContains(t, stdout.String(), s)
			}
			if tc.wantErr != "" {
				assert.Contains(t, stderr.String(), tc.wantErr)
			} else {
				assert.Empty(t, stderr.String())
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		args    []string
		wantErr string
	}{
		{desc: "-new is required", args: nil, wantErr: "-new is required"},
		{desc: "empty -baseline", args: []string{"-new", "x", "-baseline", ""}, wantErr: "-baseline must not be empty"},
		{desc: "negative threshold", args: []string{"-new", "x", "-allocs", "-1"}, wantErr: "want a percentage >= 0"},
		{desc: "non-numeric threshold", args: []string{"-new", "x", "-bytes", "lots"}, wantErr: "want a percentage >= 0"},
		{desc: "NaN threshold", args: []string{"-new", "x", "-custom", "NaN"}, wantErr: "want a percentage >= 0"},
		{desc: "positional arguments", args: []string{"-new", "x", "old.txt"}, wantErr: "unexpected arguments"},
		{desc: "unknown flag", args: []string{"-new", "x", "-threshold", "5"}, wantErr: "flag provided but not defined"},
		{desc: "-update with -filter", args: []string{"-new", "x", "-update", "-filter", ".name:X"}, wantErr: "-update and -filter cannot be combined"},
		{desc: "-h prints usage", args: []string{"-h"}, wantErr: "Usage of benchgate"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitUsage, run(tc.args, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tc.wantErr)
			assert.Empty(t, stdout.String())
		})
	}
}

func TestFlagDefaults(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-new", "bench.out"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "baselines/bench.txt", o.baseline)
	assert.Equal(t, limits{allocs: 2, bytes: 2, custom: 2}, o.limits)
	assert.False(t, o.allowMissing)
	assert.False(t, o.update)
	p := percentFlag(12.5)
	assert.Equal(t, "12.5", p.String())
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	regressed := benchText(with("Encrypt/alg=A256GCM-2", result{name: "Encrypt/alg=A256GCM-2", ns: 14000, bytes: 20000, allocs: 150})...)
	tests := []struct {
		desc     string
		baseline string // "-" means no file yet
	}{
		{desc: "replaces an existing baseline, accepting the regression", baseline: benchText(baseResults...)},
		{desc: "creates the first baseline", baseline: "-"},
		{desc: "replaces an empty baseline", baseline: "PASS\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			basePath := filepath.Join(dir, "baselines", "bench.txt")
			if tc.baseline != "-" {
				require.NoError(t, os.MkdirAll(filepath.Dir(basePath), 0o755))
				writeFile(t, filepath.Dir(basePath), "bench.txt", tc.baseline)
			}
			newPath := writeFile(t, dir, "bench.out", regressed)

			var stdout, stderr bytes.Buffer
			code := run([]string{"-baseline", basePath, "-new", newPath, "-update"}, &stdout, &stderr)
			require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), "updated from "+newPath+" (3 benchmarks)")
			got, err := os.ReadFile(basePath)
			require.NoError(t, err)
			assert.Equal(t, regressed, string(got), "the baseline is the new file, verbatim")
			entries, err := os.ReadDir(filepath.Dir(basePath))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "no temporary file is left behind")

			// Now the accepted numbers are the baseline: the same run passes.
			stdout.Reset()
			assert.Equal(t, exitOK, run([]string{"-baseline", basePath, "-new", newPath}, &stdout, &stderr))
			assert.Empty(t, stderr.String())
		})
	}
}

func TestUpdateRefusesAnEmptyRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	basePath := writeFile(t, dir, "bench.txt", benchText(baseResults...))
	newPath := writeFile(t, dir, "bench.out", "FAIL\n")
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitUsage, run([]string{"-baseline", basePath, "-new", newPath, "-update"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "no benchmark results")
	got, err := os.ReadFile(basePath)
	require.NoError(t, err)
	assert.Equal(t, benchText(baseResults...), string(got), "the baseline is untouched")
}

func TestUpdateReportsWriteErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newPath := writeFile(t, dir, "bench.out", benchText(baseResults...))
	// The baseline does not exist yet, and its directory cannot be created:
	// a dangling symlink stands where it should be.
	link := filepath.Join(dir, "baselines")
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), link))
	var stdout, stderr bytes.Buffer
	code := run([]string{"-baseline", filepath.Join(link, "bench.txt"), "-new", newPath, "-update"}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "update baseline")
}

func TestCopyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		desc, src, dst, wantErr string
	}{
		{desc: "missing source", src: filepath.Join(dir, "nope"), dst: filepath.Join(dir, "out"), wantErr: "update baseline"},
		{desc: "destination is a directory", src: writeFile(t, dir, "src", "x"), dst: dir, wantErr: "update baseline " + dir},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := copyFile(tc.src, tc.dst, "")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestBenchName(t *testing.T) {
	t.Parallel()
	tests := []struct{ desc, in, want string }{
		{desc: "plain", in: "Enc", want: "Enc"},
		{desc: "gomaxprocs suffix", in: "Enc-16", want: "Enc"},
		{desc: "sub-benchmarks keep their keys", in: "Enc/alg=A256GCM/size=1k-2", want: "Enc/alg=A256GCM/size=1k"},
		{desc: "a dash inside a part is not gomaxprocs", in: "Enc/alg=RSA-OAEP-256-2", want: "Enc/alg=RSA-OAEP-256"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, benchName(benchfmt.Name(tc.in)))
		})
	}
}

func TestIncrease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc     string
		old, new float64
		want     float64
	}{
		{desc: "unchanged", old: 10, new: 10, want: 0},
		{desc: "both zero", old: 0, new: 0, want: 0},
		{desc: "up", old: 10, new: 15, want: 50},
		{desc: "down", old: 10, new: 5, want: -50},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.InDelta(t, tc.want, increase(tc.old, tc.new), 1e-9)
		})
	}
	assert.True(t, increase(0, 1) > 1e300, "from zero any growth is infinite")
}

func TestLimitFor(t *testing.T) {
	t.Parallel()
	lim := limits{allocs: 10, bytes: 25, custom: 5}
	tests := []struct {
		desc      string
		unit      string
		wantLimit float64
		wantGated bool
	}{
		{desc: "allocations", unit: "allocs/op", wantLimit: 10, wantGated: true},
		{desc: "bytes", unit: "B/op", wantLimit: 25, wantGated: true},
		{desc: "queries", unit: "queries/op", wantLimit: 5, wantGated: true},
		{desc: "pbkdf2 runs", unit: "pbkdf2/op", wantLimit: 5, wantGated: true},
		{desc: "time per op", unit: "sec/op"},
		{desc: "custom time per op", unit: "ms/op"},
		{desc: "custom time per query", unit: "ns/query"},
		{desc: "a rate", unit: "B/s"},
		{desc: "a count per something else", unit: "widgets/conn"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			limit, gated := lim.limitFor(tc.unit)
			assert.Equal(t, tc.wantGated, gated)
			assert.Equal(t, tc.wantLimit, limit)
		})
	}
}
