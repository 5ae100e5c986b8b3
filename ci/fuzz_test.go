package ci_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(f \*testing\.F\)`)

// fuzzTargets lists "./dir FuzzXxx" for every fuzz target of the repository,
// read from the sources independently of ci/fuzz.sh.
func fuzzTargets(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			out = append(out, "./"+filepath.ToSlash(rel)+" "+m[1])
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(out)
	return out
}

// fakeGo writes a stand-in for the go command into dir: it answers
// `go env GOVERSION` with version and runs body for anything else.
func fakeGo(t *testing.T, dir, version, body string) string {
	t.Helper()
	path := filepath.Join(dir, "go")
	script := "#!/bin/sh\nif [ \"$1\" = env ]; then echo " + version + "; exit 0; fi\n" + body
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

// TestFuzzRunsEveryTarget runs ci/fuzz.sh with a stand-in for go that records
// its arguments and toolchain: every target of the repository is run, once,
// alone (one -fuzz pattern anchored on its name, in its own package), with
// FUZZTIME, on Go 1.27 or later (a go1.26 fetches FUZZ_GOTOOLCHAIN; a
// newer local Go is kept).
func TestFuzzRunsEveryTarget(t *testing.T) {
	t.Parallel()
	want := fuzzTargets(t)
	require.NotEmpty(t, want, "the repository has fuzz targets")
	for _, tc := range []struct{ local, toolchain string }{
		{local: "go1.26.8", toolchain: "go1.27.3"},
		{local: "go1.26rc1", toolchain: "go1.27.3"},
		{local: "go1.27.0", toolchain: "unchanged"},
		{local: "go1.30.2", toolchain: "unchanged"},
		{local: "devel go1.28-abcdef", toolchain: "unchanged"},
	} {
		t.Run(tc.local, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			log := filepath.Join(dir, "calls")
			gobin := fakeGo(t, dir, tc.local, "echo \"$GOTOOLCHAIN|$*\" >>"+log+"\n")
			cmd := exec.CommandContext(t.Context(), "../ci/fuzz.sh")
			cmd.Env = append(os.Environ(), "GO="+gobin, "FUZZTIME=3s", "GOTOOLCHAIN=unchanged")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			calls, err := os.ReadFile(log)
			require.NoError(t, err)
			var got []string
			for l := range strings.Lines(string(calls)) {
				toolchain, args, _ := strings.Cut(strings.TrimSpace(l), "|")
				assert.Equal(t, tc.toolchain, toolchain, "the toolchain of %s", args)
				m := regexp.MustCompile(`^test -run \^\$ -fuzz \^(Fuzz\w+)\$ -fuzztime 3s (\./\S+)$`).FindStringSubmatch(args)
				require.NotNil(t, m, "unexpected go invocation: %s", l)
				got = append(got, m[2]+" "+m[1])
			}
			slices.Sort(got)
			assert.Equal(t, want, got)
			assert.Contains(t, string(out), "fuzz: "+strconv.Itoa(len(want))+" passed, 0 failed")
		})
	}
}

// TestFuzzFailsOnAFailingTarget: a failing target fails the run, and the
// others still run.
func TestFuzzFailsOnAFailingTarget(t *testing.T) {
	t.Parallel()
	n := len(fuzzTargets(t))
	dir := t.TempDir()
	// Fails for the first target only.
	gobin := fakeGo(t, dir, "go1.27.3", "if [ -e "+dir+"/failed ]; then exit 0; fi\ntouch "+dir+"/failed\necho 'boom'\nexit 1\n")
	cmd := exec.CommandContext(t.Context(), "../ci/fuzz.sh")
	cmd.Env = append(os.Environ(), "GO="+gobin, "FUZZTIME=1s")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "    boom", "the failing target's output is shown")
	assert.Contains(t, string(out), "fuzz: "+strconv.Itoa(n-1)+" passed, 1 failed")
}

// TestReadmeNamesEveryFuzzTarget: the README's Fuzzing section says what
// each target checks, so a new target cannot go undocumented.
func TestReadmeNamesEveryFuzzTarget(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n### Fuzzing\n")
	require.True(t, ok, "README has a Fuzzing section")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, tg := range fuzzTargets(t) {
		pkg, name, _ := strings.Cut(tg, " ")
		assert.Contains(t, section, "`"+name+"`", "README's Fuzzing section does not name %s", tg)
		assert.Contains(t, section, "`"+strings.TrimPrefix(pkg, "./")+"`", "README's Fuzzing section does not name the package of %s", tg)
	}
}

// TestCIRunsFuzzAfterTheSuite: .ci/run fuzzes each target for 10 s, after
// make ci and before the containers.
func TestCIRunsFuzzAfterTheSuite(t *testing.T) {
	t.Parallel()
	run, err := os.ReadFile("../.ci/run")
	require.NoError(t, err)
	s := string(run)
	ci, fuzz, containers := strings.Index(s, "\nmake ci\n"), strings.Index(s, "\nmake fuzz FUZZTIME=10s\n"), strings.Index(s, "testcontainers (no DSN")
	require.NotEqual(t, -1, ci)
	require.NotEqual(t, -1, fuzz, ".ci/run runs make fuzz FUZZTIME=10s")
	require.NotEqual(t, -1, containers)
	assert.Less(t, ci, fuzz)
	assert.Less(t, fuzz, containers)
	lines := makeDryRun(t, "fuzz", "FUZZTIME=10s")
	require.Len(t, lines, 1)
	assert.Equal(t, "FUZZTIME=10s ./ci/fuzz.sh '.'", lines[0])
}
