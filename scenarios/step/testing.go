package step

import (
	"context"
	"strings"
	"testing"
	"time"
)

// RunTests runs steps as subtests of t named after the steps, with the
// default retry policy and a 30s step timeout, within t's context.
func RunTests(t *testing.T, steps []Step) {
	t.Helper()
	r := &Runner{Retry: DefaultRetry(), StepTimeout: 30 * time.Second}
	r.RunTests(t.Context(), t, steps)
}

// RunTests runs steps as subtests named after them (phase/name when the
// list spans several phases), with the runner's dependency, retry and
// timeout semantics. A step whose dependency did not pass fails with
// "not run: depends on ..." — it is never reported as passed or skipped.
func (r *Runner) RunTests(ctx context.Context, t *testing.T, steps []Step) {
	t.Helper()
	infos, deps, err := plan(steps)
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]bool{}
	for _, s := range steps {
		phases[s.Phase] = true
	}
	if r.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Deadline)
		defer cancel()
	}
	outcomes := map[string]Outcome{}
	stopped := ""
	for i, s := range steps {
		name := s.Name
		if len(phases) > 1 {
			name = s.Phase + "/" + s.Name
		}
		outcome := NotRun
		t.Run(name, func(t *testing.T) {
			if reason := r.skipReason(ctx, stopped, s, deps, outcomes); reason != "" {
				t.Errorf("not run: %s", reason)
				return
			}
			res := r.execute(ctx, s, infos[i], nopReporter{})
			outcome = res.Outcome
			if res.Outcome != Passed {
				t.Errorf("%s: %s", s.Description, strings.Join(res.ErrorChain().Lines(), "\n"))
			}
		})
		outcomes[s.id()] = outcome
		if outcome != Passed && r.FailFast && stopped == "" {
			stopped = "fail-fast: stopped after " + name + " did not pass"
		}
	}
}
