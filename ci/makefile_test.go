package ci_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeDryRun prints the commands `make args...` would run in the repository
// root (make -n executes nothing), so the Makefile's behaviour is checked
// without running the suite it drives.
func makeDryRun(t *testing.T, args ...string) []string {
	t.Helper()
	mk, err := exec.LookPath("make")
	require.NoError(t, err, "make is a prerequisite of the repository's commands")
	cmd := exec.CommandContext(t.Context(), mk, append([]string{"-n", "--no-print-directory", "-C", ".."}, args...)...)
	// A profile path or the flags of a make running this test (make ci) must
	// not leak in.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "COVERPROFILE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	out, err := cmd.Output()
	require.NoError(t, err, "make -n %v", args)
	var lines []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// indexOf is the index of the first line containing sub, or -1.
func indexOf(lines []string, sub string) int {
	for i, l := range lines {
		if strings.Contains(l, sub) {
			return i
		}
	}
	return -1
}

func TestMakeCoverRerunsTestsForAStaleProfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		desc      string
		mtime     time.Time // zero: no profile file
		wantTests bool
	}{
		{desc: "no profile runs the tests", wantTests: true},
		{desc: "a profile older than the sources reruns the tests", mtime: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), wantTests: true},
		{desc: "a profile newer than every source is gated as it is", mtime: time.Now().Add(time.Minute)},
	}
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			profile := filepath.Join(dir, "cover"+string(rune('a'+i))+".out")
			if !tc.mtime.IsZero() {
				require.NoError(t, os.WriteFile(profile, []byte("mode: set\n"), 0o644))
				require.NoError(t, os.Chtimes(profile, tc.mtime, tc.mtime))
			}
			lines := makeDryRun(t, "cover", "COVERPROFILE="+profile)
			gate := indexOf(lines, "./ci/cmd/covergate")
			require.NotEqual(t, -1, gate, "cover must run the gate:\n%s", strings.Join(lines, "\n"))
			assert.True(t, strings.HasSuffix(lines[gate], profile), "the gate reads the profile: %s", lines[gate])
			run := indexOf(lines, "./ci/test.sh")
			if !tc.wantTests {
				assert.Equal(t, -1, run, "a fresh profile must not rerun the suite:\n%s", strings.Join(lines, "\n"))
				return
			}
			require.NotEqual(t, -1, run, "the suite must run first:\n%s", strings.Join(lines, "\n"))
			assert.Less(t, run, gate, "tests before the gate")
		})
	}
}

func TestMakeDemoSaysItIsBuildingBeforeItRuns(t *testing.T) {
	t.Parallel()
	lines := makeDryRun(t, "demo")
	say := indexOf(lines, "Building the demo (first run compiles everything")
	build := indexOf(lines, "build -o bin/demo ./scenarios/cmd/demo")
	run := indexOf(lines, "bin/demo all")
	require.NotEqual(t, -1, say, "the demo must say it is building:\n%s", strings.Join(lines, "\n"))
	require.NotEqual(t, -1, build, "the demo must be built first:\n%s", strings.Join(lines, "\n"))
	require.Equal(t, 2, run, "the built binary runs last:\n%s", strings.Join(lines, "\n"))
	assert.Equal(t, []int{0, 1}, []int{say, build}, "message, build, run in that order")
	assert.Equal(t, -1, indexOf(lines, "go run"), "go run compiles in silence")
}

func TestMakeCIRunsTheSuiteUnderTheRaceDetector(t *testing.T) {
	t.Parallel()
	lines := makeDryRun(t, "ci")
	suite := indexOf(lines, "./ci/test.sh")
	require.NotEqual(t, -1, suite, "ci runs the suite:\n%s", strings.Join(lines, "\n"))
	assert.Contains(t, lines[suite], "-race")
	assert.Contains(t, lines[suite], "-count=1", "no result from the test cache")
	bench := indexOf(lines, "-bench")
	require.NotEqual(t, -1, bench, "ci runs the benchmark gate:\n%s", strings.Join(lines, "\n"))
	assert.NotContains(t, lines[bench], "-race", "benchmarks count allocations; the race detector would inflate them")
}
