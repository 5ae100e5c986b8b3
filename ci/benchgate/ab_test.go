package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spread returns n samples around center, ±1% apart, as a quiet run gives.
func spread(center float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = center * (1 + 0.01*float64(i-n/2)/float64(n))
	}
	return out
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		base, head []float64
		limit      float64
		wantSlower bool
		wantIncr   float64 // approximate increase of the median, percent
	}{
		{desc: "clearly slower fails", base: spread(100e-6, 10), head: spread(130e-6, 10), limit: 15, wantSlower: true, wantIncr: 30},
		{desc: "significantly slower within the limit passes", base: spread(100e-6, 10), head: spread(110e-6, 10), limit: 15, wantIncr: 10},
		{desc: "the same passes", base: spread(100e-6, 10), head: spread(100e-6, 10), limit: 15, wantIncr: 0},
		{desc: "faster passes", base: spread(100e-6, 10), head: spread(50e-6, 10), limit: 15, wantIncr: -50},
		{
			// Medians 17% apart, but half of each side's samples are the
			// same: a few noisy rounds, not evidence of a slowdown.
			desc:     "slower by more than the limit but not significant passes",
			base:     []float64{100, 200, 100, 200, 100, 200, 100, 200, 100, 200},
			head:     []float64{100, 250, 100, 250, 100, 250, 100, 250, 100, 250},
			limit:    15,
			wantIncr: 16.7,
		},
		{desc: "a lower limit fails a smaller slowdown", base: spread(100e-6, 10), head: spread(110e-6, 10), limit: 5, wantSlower: true, wantIncr: 10},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			r := decide("X", tc.base, tc.head, tc.limit)
			assert.Equal(t, tc.wantSlower, r.slower, "p=%g increase=%g", r.cmp.P, r.increase)
			assert.InDelta(t, tc.wantIncr, r.increase, 1)
		})
	}
}

func TestPerOp(t *testing.T) {
	t.Parallel()
	// 1x runs cost 20ms (start and setup); the 101x runs 20ms more plus
	// noise: 0.2ms per extra operation.
	got := perOp([]float64{0.021, 0.019, 0.020, 0.030}, []float64{0.040, 0.0405, 0.042}, 101)
	require.Len(t, got, 3)
	// median setup: (0.020+0.021)/2 = 0.0205
	assert.InDeltaSlice(t, []float64{0.000195, 0.0002, 0.000215}, got, 1e-12)
	assert.Equal(t, []float64{0.0002}, perOp(nil, []float64{0.02}, 101), "no setup runs: nothing subtracted")
}

func TestParseIterations(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"300x": 300, "2x": 2} {
		n, err := parseIterations(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, n)
	}
	for _, in := range []string{"1x", "0x", "200ms", "x", "", "-5x", "3"} {
		_, err := parseIterations(in)
		assert.ErrorContains(t, err, "want an iteration count", in)
	}
}

// TestCPUSamplesFromRuns: the Nx runs' output is what the wall-clock table
// parses; every run's benchmark line is one sample.
func TestCPUSamplesFromRuns(t *testing.T) {
	t.Parallel()
	var side abSide
	side.setup = map[string][]float64{"BenchmarkKMSEncrypt": {0.5, 0.6, 0.55}}
	side.loaded = map[string][]float64{"BenchmarkKMSEncrypt": {1.55, 1.60}}
	for _, ns := range []string{"1000000", "1100000"} {
		side.wall.WriteString("goos: linux\ngoarch: amd64\npkg: example.com/bench\ncpu: Test\nBenchmarkKMSEncrypt-2 \t 1001\t " + ns + " ns/op\t 4.000 queries/op\nPASS\n")
	}
	bf := cpuFile(&side, &side, []string{"BenchmarkKMSEncrypt"}, 1001)
	require.Equal(t, []string{"KMSEncrypt"}, bf.order)
	assert.InDeltaSlice(t, []float64{1e-3, 1.05e-3}, bf.benchmarks["KMSEncrypt"].values[unitTime], 1e-12)

	wall, err := parse(&side.wall, "base", nil)
	require.NoError(t, err)
	assert.Equal(t, []float64{1e-3, 1.1e-3}, wall.benchmarks[benchKey("example.com/bench", "KMSEncrypt")].values[unitTime])
}

// TestCPUSamplesFromTheLoop: a benchmark that reports its loop's own CPU
// time (cpu-ms/op) on both sides is compared on that, setup left out; when
// either side lacks it in a round, both fall back to process CPU times.
func TestCPUSamplesFromTheLoop(t *testing.T) {
	t.Parallel()
	out := func(cpuMS string) []byte {
		return []byte("pkg: example.com/bench\nBenchmarkKMSEncrypt-2 \t 1001\t 1000000 ns/op\t " + cpuMS + " cpu-ms/op\t 1.000 queries/op\nPASS\n")
	}
	v, ok := loopCPU(out("0.2500"))
	require.True(t, ok)
	assert.InDelta(t, 0.25e-3, v, 1e-12)
	_, ok = loopCPU([]byte("pkg: example.com/bench\nBenchmarkKMSEncrypt-2 \t 1001\t 1000000 ns/op\nPASS\n"))
	assert.False(t, ok, "no cpu-ms/op reported")

	side := func(loop ...float64) *abSide {
		return &abSide{
			setup:  map[string][]float64{"BenchmarkKMSEncrypt": {0.5, 0.5}},
			loaded: map[string][]float64{"BenchmarkKMSEncrypt": {1.5, 1.5}},
			loop:   map[string][]float64{"BenchmarkKMSEncrypt": loop},
		}
	}
	names := []string{"BenchmarkKMSEncrypt"}
	both, measured := side(0.2e-3, 0.3e-3), side(0.4e-3, 0.5e-3)
	assert.Equal(t, []float64{0.2e-3, 0.3e-3}, cpuFile(both, measured, names, 1001).benchmarks["KMSEncrypt"].values[unitTime])
	partial := side(0.4e-3)
	assert.InDeltaSlice(t, []float64{1e-3, 1e-3}, cpuFile(both, partial, names, 1001).benchmarks["KMSEncrypt"].values[unitTime], 1e-12,
		"the other side lacks a round's loop time: process CPU for both")
	assert.InDeltaSlice(t, []float64{1e-3, 1e-3}, cpuFile(partial, both, names, 1001).benchmarks["KMSEncrypt"].values[unitTime], 1e-12)
}

func TestCompareABListsOneSidedBenchmarks(t *testing.T) {
	t.Parallel()
	mk := func(names ...string) *benchFile {
		bf := &benchFile{benchmarks: map[string]*benchmark{}}
		for _, n := range names {
			bf.benchmarks[n] = &benchmark{name: n, values: map[string][]float64{unitTime: spread(1, 6)}}
			bf.order = append(bf.order, n)
		}
		return bf
	}
	rep := compareAB(mk("A", "Gone"), mk("A", "New"), 15)
	require.Len(t, rep.rows, 1)
	assert.Equal(t, []string{"Gone"}, rep.onlyBase)
	assert.Equal(t, []string{"New"}, rep.onlyHead)
	var out bytes.Buffer
	rep.write(&out, "title")
	assert.Contains(t, out.String(), "only in base (not gated):\n  Gone")
	assert.Contains(t, out.String(), "only in head (not gated):\n  New")
}

func TestABFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		args    []string
		wantErr string
	}{
		{desc: "too few rounds", args: []string{"-ab", "-rounds", "4"}, wantErr: "-rounds 4: want at least 5"},
		{desc: "a duration is not an iteration count", args: []string{"-ab", "-benchtime", "200ms"}, wantErr: `-benchtime "200ms": want an iteration count`},
		{desc: "a package pattern", args: []string{"-ab", "-pkg", "./bench/..."}, wantErr: "want one package directory"},
		{desc: "a package outside the module", args: []string{"-ab", "-pkg", "../other"}, wantErr: "want one package directory"},
		{desc: "empty -bench", args: []string{"-ab", "-bench", ""}, wantErr: "-bench must not be empty"},
		{desc: "empty -go", args: []string{"-ab", "-go", ""}, wantErr: "-go must not be empty"},
		{desc: "negative limit", args: []string{"-ab", "-time", "-3"}, wantErr: "want a percentage >= 0"},
		{desc: "positional arguments", args: []string{"-ab", "x"}, wantErr: "unexpected arguments"},
		{desc: "gate flags with -ab", args: []string{"-ab", "-new", "x", "-allocs", "3"}, wantErr: "-allocs, -new: only for the baseline gate"},
		{desc: "-ab flags without -ab", args: []string{"-new", "x", "-rounds", "8"}, wantErr: "-rounds: only for -ab"},
		{desc: "-commit without -update", args: []string{"-new", "x", "-commit", "abcdef0"}, wantErr: "-commit applies only with -update"},
		{desc: "-commit that is no hash", args: []string{"-new", "x", "-update", "-commit", "HEAD\nevil: 1"}, wantErr: "want a hexadecimal commit hash"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitUsage, run(tc.args, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tc.wantErr)
		})
	}
}

func TestABFlagDefaults(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-ab"}, &bytes.Buffer{})
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, abOptions{
		repo: wd, mainRef: "main", pkg: "./bench", bench: ".", rounds: 8,
		benchtime: "1000x", iterations: 1000, goCmd: "go", limit: defaultTimeLimit,
	}, o.ab)
	assert.True(t, o.abMode)
}

func TestUpdateRecordsTheCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	basePath := writeFile(t, dir, "bench.txt", benchText(baseResults...))
	newPath := writeFile(t, dir, "bench.out", benchText(baseResults...))
	const sha = "0123456789abcdef0123456789abcdef01234567"
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"-baseline", basePath, "-new", newPath, "-update", "-commit", sha}, &stdout, &stderr), stderr.String())
	got, err := os.ReadFile(basePath)
	require.NoError(t, err)
	assert.Equal(t, "commit: "+sha+"\n"+benchText(baseResults...), string(got))

	bf, err := readFile(basePath, nil)
	require.NoError(t, err)
	assert.Equal(t, sha, bf.commit, "the commit is a configuration line benchfmt reads")
	stdout.Reset()
	assert.Equal(t, exitOK, run([]string{"-baseline", basePath, "-new", newPath}, &stdout, &stderr), "the line does not disturb the gate")
}

// gitRepo is a repository with two commits on main and one more on a
// branch checked out; it returns the repository and the three hashes.
func gitRepo(t *testing.T) (repo string, first, second, branch string) {
	t.Helper()
	repo = t.TempDir()
	runGit(t, repo, "init", "-q", "-b", "main")
	commit := func(name, content string) string {
		require.NoError(t, os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644))
		runGit(t, repo, "add", "-A")
		runGit(t, repo, "commit", "-q", "-m", name)
		return runGit(t, repo, "rev-parse", "HEAD")
	}
	first = commit("a.txt", "a")
	second = commit("b.txt", "b")
	runGit(t, repo, "checkout", "-q", "-b", "feature")
	branch = commit("c.txt", "c")
	return repo, first, second, branch
}

func TestChooseBase(t *testing.T) {
	requireGit(t)
	t.Parallel()
	repo, first, second, _ := gitRepo(t)
	dir := t.TempDir()
	withCommit := writeFile(t, dir, "with.txt", "commit: "+first+"\n"+benchText(baseResults...))
	withoutCommit := writeFile(t, dir, "without.txt", benchText(baseResults...))

	tests := []struct {
		desc, flag, baseline string
		wantRef, wantOrigin  string
	}{
		{desc: "the flag wins", flag: "HEAD~2", baseline: withCommit, wantRef: "HEAD~2", wantOrigin: "-base"},
		{desc: "the baseline's commit", baseline: withCommit, wantRef: first, wantOrigin: "the commit " + withCommit + " was recorded at"},
		{desc: "merge-base when the baseline names none", baseline: withoutCommit, wantRef: second, wantOrigin: "merge-base of HEAD and main"},
		{desc: "merge-base when there is no baseline", baseline: filepath.Join(dir, "none.txt"), wantRef: second, wantOrigin: "merge-base of HEAD and main"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			got, err := chooseBase(t.Context(), repo, tc.flag, tc.baseline, "main")
			require.NoError(t, err)
			assert.Equal(t, tc.wantRef, got.ref)
			assert.Contains(t, got.origin, tc.wantOrigin)
		})
	}

	_, err := chooseBase(t.Context(), repo, "", withoutCommit, "trunk")
	assert.ErrorContains(t, err, "the merge-base with trunk failed")
	_, err = chooseBase(t.Context(), repo, "", dir, "main")
	assert.ErrorContains(t, err, "is a directory", "an unreadable baseline is an error, not a silent fallback")
}

func TestResolveCommitFailsLoudly(t *testing.T) {
	requireGit(t)
	t.Parallel()
	repo, first, _, branch := gitRepo(t)

	sha, err := resolveCommit(t.Context(), repo, "main~1")
	require.NoError(t, err)
	assert.Equal(t, first, sha)

	_, err = resolveCommit(t.Context(), repo, "0000000000000000000000000000000000000001")
	assert.ErrorContains(t, err, "is not in the repository")
	assert.ErrorContains(t, err, "fetch it or pass another -base")

	// A shallow clone has the branch tip but not the first commit.
	shallow := filepath.Join(t.TempDir(), "shallow")
	runGit(t, repo, "clone", "-q", "--depth", "1", "--branch", "feature", "file://"+repo, shallow)
	_, err = resolveCommit(t.Context(), shallow, branch)
	require.NoError(t, err)
	_, err = resolveCommit(t.Context(), shallow, first)
	assert.ErrorContains(t, err, "this is a shallow clone: run git fetch --unshallow")
}

// TestABFailsWhenTheBaseIsMissing: the whole command, on a commit the
// repository lacks, exits with a usage error naming the commit: a gate
// that cannot build its base must not pass.
func TestABFailsWhenTheBaseIsMissing(t *testing.T) {
	requireGit(t)
	t.Parallel()
	repo, _ := spinRepo(t, spinWork)
	code, stdout, stderr := runSpinAB(t, repo, "1111111111111111111111111111111111111111")
	assert.Equal(t, exitUsage, code, stdout)
	assert.Contains(t, stderr, `base commit "1111111111111111111111111111111111111111" is not in the repository`)
}

// TestABFailsWhenABuildFails: a base that does not compile stops the run
// before any benchmark, saying which side failed and why.
func TestABFailsWhenABuildFails(t *testing.T) {
	requireGit(t)
	t.Parallel()
	repo, _ := spinRepo(t, spinWork)
	require.NoError(t, os.WriteFile(filepath.Join(repo, "spin", "broken_test.go"), []byte("package spin\n\nfunc broken() { undefined() }\n"), 0o644))
	runGit(t, repo, "add", "-A")
	runGit(t, repo, "commit", "-q", "-m", "broken")
	require.NoError(t, os.Remove(filepath.Join(repo, "spin", "broken_test.go")))

	code, _, stderr := runSpinAB(t, repo, "HEAD")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "build base (commit ")
	assert.Contains(t, stderr, "undefined: undefined")
}

// TestABFailsWithoutBenchmarks: a -bench matching nothing is an error, not
// a pass with nothing compared.
func TestABFailsWithoutBenchmarks(t *testing.T) {
	requireGit(t)
	t.Parallel()
	repo, _ := spinRepo(t, spinWork)
	code, _, stderr := runSpinAB(t, repo, "HEAD", "-bench", "NoSuchBenchmark")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `-bench "NoSuchBenchmark": no benchmark in both builds`)
}

func TestUntar(t *testing.T) {
	t.Parallel()
	tarball := func(entries ...*tar.Header) *bytes.Buffer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			if h.Typeflag == tar.TypeReg {
				h.Size = int64(len(h.Name))
			}
			require.NoError(t, tw.WriteHeader(h))
			if h.Typeflag == tar.TypeReg {
				_, err := tw.Write([]byte(h.Name))
				require.NoError(t, err)
			}
		}
		require.NoError(t, tw.Close())
		return &buf
	}

	dir := t.TempDir()
	err := untar(tarball(
		&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "abc"}},
		&tar.Header{Typeflag: tar.TypeDir, Name: "bench/", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeReg, Name: "bench/a_test.go", Mode: 0o644},
		&tar.Header{Typeflag: tar.TypeReg, Name: "run.sh", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeReg, Name: "deep/er/file", Mode: 0o644},
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "link/to", Linkname: "../bench/a_test.go"},
	), dir)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "link", "to"))
	require.NoError(t, err)
	assert.Equal(t, "bench/a_test.go", string(got), "the symbolic link points into the tree")
	info, err := os.Stat(filepath.Join(dir, "run.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), info.Mode().Perm(), "modes are kept")
	assert.FileExists(t, filepath.Join(dir, "deep", "er", "file"))

	for _, name := range []string{"../escape", "/abs/path"} {
		err := untar(tarball(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}), t.TempDir())
		assert.Error(t, err, "%s must not be written outside the tree", name)
	}
	assert.Error(t, untar(strings.NewReader("not a tar stream, but long enough to be read as a header block"+strings.Repeat("x", 512)), t.TempDir()))
	assert.Error(t, untar(tarball(), filepath.Join(dir, "missing")), "the directory must exist")
}

func TestExtractCommit(t *testing.T) {
	requireGit(t)
	t.Parallel()
	repo, first, _, _ := gitRepo(t)
	dir := t.TempDir()
	require.NoError(t, extractCommit(t.Context(), repo, first, dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the first commit's file")
	assert.Equal(t, "a.txt", entries[0].Name())

	err = extractCommit(t.Context(), repo, "nonexistent-ref", t.TempDir())
	assert.ErrorContains(t, err, "git archive nonexistent-ref")
}

// TestMakeBenchAB: the Makefile target times the endpoint benchmarks with
// the A/B mode against the baseline, without -race.
func TestMakeBenchAB(t *testing.T) {
	t.Parallel()
	mk, err := exec.LookPath("make")
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), mk, "-n", "--no-print-directory", "-C", "../..", "bench-ab")
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=", "BENCH_AB_BASE=")
	out, err := cmd.Output()
	require.NoError(t, err)
	line := strings.TrimSpace(string(out))
	assert.Contains(t, line, "./ci/benchgate -ab -baseline baselines/bench.txt")
	assert.Contains(t, line, "-bench '^Benchmark(KMS|Identity)'")
	assert.Contains(t, line, "-tags sqlite_trace")
	assert.NotContains(t, line, "-base ", "the base comes from the baseline unless BENCH_AB_BASE says otherwise")
	assert.NotContains(t, line, "-race")

	cmd = exec.CommandContext(t.Context(), mk, "-n", "--no-print-directory", "-C", "../..", "bench-update")
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
	out, err = cmd.Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "-update -commit $(git rev-parse HEAD)", "the baseline records the commit it measured")
}
