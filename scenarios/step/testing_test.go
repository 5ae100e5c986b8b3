package step

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunTestsAllPass(t *testing.T) {
	var order []string
	rec := func(name string) func(context.Context) error {
		return func(context.Context) error { order = append(order, name); return nil }
	}
	RunTests(t, []Step{
		{Name: "first", Run: rec("first")},
		{Name: "second", Run: rec("second"), DependsOn: []string{"first"}},
	})
	assert.Equal(t, []string{"first", "second"}, order)
}

// helperEnv selects which failing plan TestRunTestsHelper runs in a child
// process: a failing subtest cannot be observed from inside the same test.
const helperEnv = "STEP_RUNTESTS_HELPER"

func TestRunTestsHelper(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("only runs as the child process of TestRunTestsFailures")
	}
	steps := []Step{
		{Phase: "kms", Name: "ok", Run: pass},
		{Phase: "kms", Name: "broken", Description: "always fails", Run: fail},
		{Phase: "kms", Name: "dependent", Run: pass, DependsOn: []string{"broken"}},
		{Phase: "kms", Name: "independent", Run: pass},
	}
	switch mode {
	case "continue":
		RunTests(t, steps)
	case "failfast":
		(&Runner{FailFast: true}).RunTests(t.Context(), t, steps)
	case "phases":
		(&Runner{}).RunTests(t.Context(), t, append(steps, Step{Phase: "identity", Name: "ok", Run: pass}))
	case "deadline":
		(&Runner{Deadline: 50 * time.Millisecond}).RunTests(t.Context(), t, []Step{
			{Name: "slow", Run: blockUntilDone},
			{Name: "after", Run: pass},
		})
	case "badplan":
		RunTests(t, []Step{{Name: "x"}})
	}
}

func TestRunTestsFailures(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("child process")
	}
	cases := []struct {
		desc    string
		mode    string
		want    []string
		notWant []string
	}{
		{
			desc: "dependents of a failed step fail as not run; others pass",
			mode: "continue",
			want: []string{
				"--- PASS: TestRunTestsHelper/ok",
				"--- FAIL: TestRunTestsHelper/broken",
				"always fails: boom",
				"--- FAIL: TestRunTestsHelper/dependent",
				`not run: depends on "broken", which failed`,
				"--- PASS: TestRunTestsHelper/independent",
			},
			notWant: []string{"--- PASS: TestRunTestsHelper/dependent", "--- SKIP"},
		},
		{
			desc: "fail-fast fails every later step",
			mode: "failfast",
			want: []string{
				"--- FAIL: TestRunTestsHelper/dependent",
				"--- FAIL: TestRunTestsHelper/independent",
				"not run: fail-fast: stopped after broken did not pass",
			},
		},
		{
			desc: "several phases name subtests phase/name",
			mode: "phases",
			want: []string{"--- PASS: TestRunTestsHelper/kms/ok", "--- PASS: TestRunTestsHelper/identity/ok"},
		},
		{
			desc: "overall deadline",
			mode: "deadline",
			want: []string{"--- FAIL: TestRunTestsHelper/slow", "--- FAIL: TestRunTestsHelper/after", "not run: overall timeout of 50ms reached"},
		},
		{
			desc: "invalid plan fails the test",
			mode: "badplan",
			want: []string{"--- FAIL: TestRunTestsHelper", "invalid step plan"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRunTestsHelper$", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"="+tc.mode)
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, "the child test must fail:\n%s", out)
			for _, w := range tc.want {
				assert.Contains(t, string(out), w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, string(out), w)
			}
		})
	}
}
