package step

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errBoom = errors.New("boom")

func pass(context.Context) error { return nil }
func fail(context.Context) error { return errBoom }

// recorder is a Reporter that keeps every event for assertions.
type recorder struct {
	events []string
	plan   []Info
	sum    Summary
}

func (r *recorder) RunStarted(plan []Info) { r.plan = plan; r.events = append(r.events, "run-start") }
func (r *recorder) StepStarted(i Info)     { r.events = append(r.events, "start "+i.Name) }
func (r *recorder) StepRetrying(i Info, attempt int, err error, d time.Duration) {
	r.events = append(r.events, fmt.Sprintf("retry %s #%d in %s", i.Name, attempt, d))
}
func (r *recorder) StepFinished(res Result) {
	r.events = append(r.events, fmt.Sprintf("end %s %s", res.Name, res.Outcome))
}
func (r *recorder) RunFinished(s Summary) { r.sum = s; r.events = append(r.events, "run-end") }

type want struct {
	outcome Outcome
	reason  string
}

func TestRunnerOutcomes(t *testing.T) {
	cases := []struct {
		desc     string
		failFast bool
		steps    []Step
		want     []want
		exit     int
	}{
		{
			desc:  "all pass",
			steps: []Step{{Name: "a", Run: pass}, {Name: "b", Run: pass, DependsOn: []string{"a"}}},
			want:  []want{{outcome: Passed}, {outcome: Passed}},
			exit:  ExitAllPassed,
		},
		{
			desc:  "continue on error: an independent step still runs",
			steps: []Step{{Name: "a", Run: fail}, {Name: "b", Run: pass}},
			want:  []want{{outcome: Failed}, {outcome: Passed}},
			exit:  ExitSomeFailed,
		},
		{
			desc: "not-run propagates through dependents",
			steps: []Step{
				{Name: "ok", Run: pass},
				{Name: "a", Run: fail},
				{Name: "b", Run: pass, DependsOn: []string{"ok", "a"}},
				{Name: "c", Run: pass, DependsOn: []string{"b"}},
				{Name: "d", Run: pass, DependsOn: []string{"ok"}},
			},
			want: []want{
				{outcome: Passed},
				{outcome: Failed},
				{outcome: NotRun, reason: `depends on "a", which failed`},
				{outcome: NotRun, reason: `depends on "b", which did not run`},
				{outcome: Passed},
			},
			exit: ExitSomeFailed,
		},
		{
			desc:     "fail-fast stops at the first failure",
			failFast: true,
			steps:    []Step{{Name: "a", Run: pass}, {Name: "b", Run: fail}, {Name: "c", Run: pass}, {Name: "d", Run: fail}},
			want: []want{
				{outcome: Passed},
				{outcome: Failed},
				{outcome: NotRun, reason: `fail-fast: stopped after "b" failed`},
				{outcome: NotRun, reason: `fail-fast: stopped after "b" failed`},
			},
			exit: ExitSomeFailed,
		},
		{
			desc:  "nothing passed",
			steps: []Step{{Name: "a", Run: fail}, {Name: "b", Run: pass, DependsOn: []string{"a"}}},
			want:  []want{{outcome: Failed}, {outcome: NotRun, reason: `depends on "a", which failed`}},
			exit:  ExitNonePassed,
		},
		{
			desc: "dependency across phases by phase/name",
			steps: []Step{
				{Phase: "kms", Name: "health", Run: fail},
				{Phase: "identity", Name: "health", Run: pass},
				{Phase: "all", Name: "x", Run: pass, DependsOn: []string{"kms/health", "identity/health"}},
			},
			want: []want{{outcome: Failed}, {outcome: Passed}, {outcome: NotRun, reason: `depends on "kms/health", which failed`}},
			exit: ExitSomeFailed,
		},
		{
			desc:  "a panic is a failure, not a crash",
			steps: []Step{{Name: "a", Run: func(context.Context) error { panic("oops") }}, {Name: "b", Run: pass}},
			want:  []want{{outcome: Failed}, {outcome: Passed}},
			exit:  ExitSomeFailed,
		},
		{desc: "empty run passed nothing", exit: ExitNonePassed},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rec := &recorder{}
			r := &Runner{Reporter: rec, FailFast: tc.failFast}
			sum, err := r.Run(t.Context(), tc.steps)
			require.NoError(t, err)
			require.Len(t, sum.Results, len(tc.want))
			for i, w := range tc.want {
				res := sum.Results[i]
				assert.Equal(t, w.outcome, res.Outcome, res.Name)
				assert.Equal(t, w.reason, res.Reason, res.Name)
				assert.Equal(t, i+1, res.Index)
				assert.Equal(t, len(tc.steps), res.Total)
				if w.outcome == Failed {
					assert.Error(t, res.Err)
				} else {
					assert.NoError(t, res.Err)
				}
				if w.outcome == NotRun {
					assert.Zero(t, res.Attempts, "a not-run step never ran")
				}
			}
			assert.Equal(t, tc.exit, sum.ExitCode())
			assert.Equal(t, sum, rec.sum)
			assert.Equal(t, "run-start", rec.events[0])
			assert.Equal(t, "run-end", rec.events[len(rec.events)-1])
		})
	}
}

func TestRunnerPanicKeepsStack(t *testing.T) {
	sum, err := (&Runner{}).Run(t.Context(), []Step{{Name: "a", Run: func(context.Context) error { panic("oops") }}})
	require.NoError(t, err)
	var pe *PanicError
	require.ErrorAs(t, sum.Results[0].Err, &pe)
	assert.Equal(t, "oops", pe.Value)
	assert.Contains(t, pe.Stack, "runner_test.go")
	assert.Equal(t, "step panicked: oops", pe.Error())
}

func TestPlanErrors(t *testing.T) {
	cases := []struct {
		desc  string
		steps []Step
		want  string
	}{
		{desc: "no name", steps: []Step{{Run: pass}}, want: "step 1 has no name"},
		{desc: "slash in name", steps: []Step{{Name: "a/b", Run: pass}}, want: "contains '/'"},
		{desc: "no run func", steps: []Step{{Name: "a"}}, want: "has no Run func"},
		{desc: "duplicate", steps: []Step{{Name: "a", Run: pass}, {Name: "a", Run: pass}}, want: `duplicate step "/a"`},
		{desc: "unknown dependency", steps: []Step{{Name: "a", Run: pass, DependsOn: []string{"x"}}}, want: `depends on "x", which is not an earlier step`},
		{desc: "later dependency", steps: []Step{{Name: "a", Run: pass, DependsOn: []string{"b"}}, {Name: "b", Run: pass}}, want: "not an earlier step"},
		{desc: "self dependency", steps: []Step{{Name: "a", Run: pass, DependsOn: []string{"a"}}}, want: "not an earlier step"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := (&Runner{}).Run(t.Context(), tc.steps)
			require.ErrorIs(t, err, ErrPlan)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// statusErr is an HTTP failure as a scenario client would report it.
type statusErr struct{ code int }

func (e statusErr) Error() string   { return fmt.Sprintf("HTTP %d", e.code) }
func (e statusErr) StatusCode() int { return e.code }

func refused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

func TestRetry(t *testing.T) {
	cases := []struct {
		desc         string
		policy       RetryPolicy
		stepPolicy   *RetryPolicy
		errs         []error // returned by successive attempts; nil after the list
		wantOutcome  Outcome
		wantAttempts int
		wantDelays   []time.Duration
		wantErrIs    error
	}{
		{
			desc:         "transient failures are retried with exponential backoff until success",
			policy:       RetryPolicy{Attempts: 4, Delay: 10 * time.Millisecond},
			errs:         []error{Transient(errBoom), refused(), statusErr{503}},
			wantOutcome:  Passed,
			wantAttempts: 4,
			wantDelays:   []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
		},
		{
			desc:         "attempts exhausted: failed with the last error and the count",
			policy:       RetryPolicy{Attempts: 3, Delay: time.Second, Multiplier: 3},
			errs:         []error{refused(), refused(), fmt.Errorf("GET /readyz: %w", statusErr{503})},
			wantOutcome:  Failed,
			wantAttempts: 3,
			wantDelays:   []time.Duration{time.Second, 3 * time.Second},
			wantErrIs:    errBoom, // checked below via AttemptsError instead
		},
		{
			desc:         "a permanent failure is not retried",
			policy:       RetryPolicy{Attempts: 5, Delay: time.Second},
			errs:         []error{statusErr{500}},
			wantOutcome:  Failed,
			wantAttempts: 1,
		},
		{
			desc:         "zero policy tries once",
			errs:         []error{Transient(errBoom)},
			wantOutcome:  Failed,
			wantAttempts: 1,
		},
		{
			desc:         "a step's own policy overrides the runner's",
			policy:       RetryPolicy{Attempts: 5, Delay: time.Second},
			stepPolicy:   &RetryPolicy{Attempts: 1},
			errs:         []error{Transient(errBoom)},
			wantOutcome:  Failed,
			wantAttempts: 1,
		},
		{
			desc:         "custom classifier",
			policy:       RetryPolicy{Attempts: 2, Delay: time.Millisecond, Retryable: func(err error) bool { return errors.Is(err, errBoom) }},
			errs:         []error{errBoom},
			wantOutcome:  Passed,
			wantAttempts: 2,
			wantDelays:   []time.Duration{time.Millisecond},
		},
		{
			desc:         "delay capped by MaxDelay",
			policy:       RetryPolicy{Attempts: 4, Delay: time.Second, MaxDelay: 3 * time.Second},
			errs:         []error{refused(), refused(), refused()},
			wantOutcome:  Passed,
			wantAttempts: 4,
			wantDelays:   []time.Duration{time.Second, 2 * time.Second, 3 * time.Second},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var delays []time.Duration
			rec := &recorder{}
			r := &Runner{
				Reporter: rec,
				Retry:    tc.policy,
				Sleep: func(_ context.Context, d time.Duration) error {
					delays = append(delays, d)
					return nil
				},
			}
			calls := 0
			s := Step{Name: "s", Retry: tc.stepPolicy, Run: func(context.Context) error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			}}
			sum, err := r.Run(t.Context(), []Step{s})
			require.NoError(t, err)
			res := sum.Results[0]
			assert.Equal(t, tc.wantOutcome, res.Outcome)
			assert.Equal(t, tc.wantAttempts, res.Attempts)
			assert.Equal(t, tc.wantAttempts, calls)
			assert.Equal(t, tc.wantDelays, delays)
			retries := 0
			for _, e := range rec.events {
				if len(e) > 5 && e[:5] == "retry" {
					retries++
				}
			}
			assert.Equal(t, len(tc.wantDelays), retries, "one retry event per wait")
			if tc.wantOutcome == Failed && tc.wantAttempts > 1 {
				var ae *AttemptsError
				require.ErrorAs(t, res.Err, &ae)
				assert.Equal(t, tc.wantAttempts, ae.Attempts)
				assert.Contains(t, res.Err.Error(), fmt.Sprintf("gave up after %d attempts", tc.wantAttempts))
				assert.True(t, IsTransient(res.Err), "the last cause is kept in the chain")
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		desc string
		p    RetryPolicy
		n    int
		want time.Duration
	}{
		{desc: "first wait is Delay", p: RetryPolicy{Delay: 100 * time.Millisecond}, n: 1, want: 100 * time.Millisecond},
		{desc: "default multiplier doubles", p: RetryPolicy{Delay: 100 * time.Millisecond}, n: 4, want: 800 * time.Millisecond},
		{desc: "custom multiplier", p: RetryPolicy{Delay: time.Second, Multiplier: 1.5}, n: 3, want: 2250 * time.Millisecond},
		{desc: "cap reached in the loop", p: RetryPolicy{Delay: time.Second, MaxDelay: 5 * time.Second}, n: 10, want: 5 * time.Second},
		{desc: "cap below the first delay", p: RetryPolicy{Delay: 10 * time.Second, MaxDelay: time.Second}, n: 1, want: time.Second},
		{desc: "zero delay", p: RetryPolicy{}, n: 3, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.p.Backoff(tc.n))
		})
	}
	assert.Equal(t, 3, DefaultRetry().Attempts)
}

func TestIsTransient(t *testing.T) {
	cases := []struct {
		desc string
		err  error
		want bool
	}{
		{desc: "nil", err: nil},
		{desc: "plain error", err: errBoom},
		{desc: "marked transient", err: Transient(errBoom), want: true},
		{desc: "wrapped transient", err: fmt.Errorf("op: %w", Transient(errBoom)), want: true},
		{desc: "connection refused", err: fmt.Errorf("GET https://127.0.0.1:1/readyz: %w", refused()), want: true},
		{desc: "HTTP 503", err: fmt.Errorf("readyz: %w", statusErr{503}), want: true},
		{desc: "HTTP 500", err: statusErr{500}},
		{desc: "HTTP 401", err: statusErr{401}},
		{desc: "deadline exceeded is not transient", err: errors.Join(Transient(errBoom), context.DeadlineExceeded)},
		{desc: "canceled is not transient", err: fmt.Errorf("x: %w", context.Canceled)},
		{desc: "joined with a transient cause", err: errors.Join(errBoom, statusErr{503}), want: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, IsTransient(tc.err))
		})
	}
	assert.Nil(t, Transient(nil))
	assert.Equal(t, "transient: boom", Transient(errBoom).Error())
}

func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("waiting: %w", ctx.Err())
}

func TestTimeouts(t *testing.T) {
	cases := []struct {
		desc        string
		runner      Runner
		steps       []Step
		cancelAfter time.Duration
		check       func(t *testing.T, sum Summary)
	}{
		{
			desc:   "per-step timeout fails the step, the next one still runs",
			runner: Runner{StepTimeout: 5 * time.Second},
			steps:  []Step{{Name: "slow", Run: blockUntilDone}, {Name: "next", Run: pass}},
			check: func(t *testing.T, sum Summary) {
				res := sum.Results[0]
				assert.Equal(t, Failed, res.Outcome)
				var te *TimeoutError
				require.ErrorAs(t, res.Err, &te)
				assert.Equal(t, 5*time.Second, te.After)
				assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
				assert.Equal(t, 5*time.Second, res.Duration)
				assert.Contains(t, res.Err.Error(), "step timed out after 5s")
				assert.Equal(t, Passed, sum.Results[1].Outcome)
			},
		},
		{
			desc:   "a step's own timeout wins over the runner's",
			runner: Runner{StepTimeout: time.Hour},
			steps:  []Step{{Name: "slow", Timeout: time.Second, Run: blockUntilDone}},
			check: func(t *testing.T, sum Summary) {
				assert.Equal(t, time.Second, sum.Results[0].Duration)
				assert.Equal(t, Failed, sum.Results[0].Outcome)
			},
		},
		{
			desc:   "overall deadline: the running step fails, the rest do not run",
			runner: Runner{Deadline: 3 * time.Second},
			steps: []Step{
				{Name: "a", Run: pass},
				{Name: "slow", Run: blockUntilDone},
				{Name: "c", Run: pass},
			},
			check: func(t *testing.T, sum Summary) {
				assert.Equal(t, Passed, sum.Results[0].Outcome)
				assert.Equal(t, Failed, sum.Results[1].Outcome)
				assert.Contains(t, sum.Results[1].Err.Error(), "overall timeout of 3s reached")
				assert.Equal(t, NotRun, sum.Results[2].Outcome)
				assert.Equal(t, "overall timeout of 3s reached", sum.Results[2].Reason)
				assert.Equal(t, 3*time.Second, sum.Duration)
			},
		},
		{
			desc:        "interrupted (Ctrl-C): the rest do not run",
			steps:       []Step{{Name: "slow", Run: blockUntilDone}, {Name: "b", Run: pass}},
			cancelAfter: 2 * time.Second,
			check: func(t *testing.T, sum Summary) {
				assert.Equal(t, Failed, sum.Results[0].Outcome)
				assert.ErrorIs(t, sum.Results[0].Err, context.Canceled)
				assert.Equal(t, "run interrupted", sum.Results[1].Reason)
				assert.Equal(t, ExitNonePassed, sum.ExitCode())
			},
		},
		{
			desc:   "a step that ignores its context is abandoned",
			runner: Runner{StepTimeout: time.Second, Abandon: 500 * time.Millisecond},
			steps: []Step{{Name: "stubborn", Run: func(context.Context) error {
				time.Sleep(time.Minute)
				return nil
			}}},
			check: func(t *testing.T, sum Summary) {
				res := sum.Results[0]
				assert.Equal(t, Failed, res.Outcome)
				assert.Contains(t, res.Err.Error(), "ignored its context and was abandoned 500ms after it ended")
				assert.Equal(t, 1500*time.Millisecond, res.Duration)
			},
		},
		{
			desc:   "a step that ignores its context and passes late still fails",
			runner: Runner{StepTimeout: time.Second, Abandon: 2 * time.Second},
			steps: []Step{{Name: "late", Run: func(context.Context) error {
				time.Sleep(1500 * time.Millisecond)
				return nil
			}}},
			check: func(t *testing.T, sum Summary) {
				res := sum.Results[0]
				assert.Equal(t, Failed, res.Outcome)
				assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
				assert.Contains(t, res.Err.Error(), "ignored its context and returned nil after it ended")
				assert.Equal(t, ExitNonePassed, sum.ExitCode())
			},
		},
		{
			desc: "a retry wait cut short by the step timeout reports the step's last error",
			runner: Runner{
				StepTimeout: 3 * time.Second,
				Retry:       RetryPolicy{Attempts: 5, Delay: 2 * time.Second},
			},
			steps: []Step{{Name: "flaky", Run: func(context.Context) error { return Transient(errBoom) }}},
			check: func(t *testing.T, sum Summary) {
				res := sum.Results[0]
				assert.Equal(t, Failed, res.Outcome)
				assert.Equal(t, 2, res.Attempts, "tries at 0s and 2s; the 4s wait is cut at 3s")
				assert.ErrorIs(t, res.Err, errBoom)
				var te *TimeoutError
				assert.ErrorAs(t, res.Err, &te)
				assert.Equal(t, 3*time.Second, res.Duration)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			// synctest's fake clock makes timeouts exact and instant.
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tc.cancelAfter > 0 {
					time.AfterFunc(tc.cancelAfter, cancel)
				}
				r := tc.runner
				sum, err := r.Run(ctx, tc.steps)
				require.NoError(t, err)
				tc.check(t, sum)
				// Let an abandoned step finish inside the bubble (fake time).
				time.Sleep(time.Hour)
			})
		})
	}
}

func TestDeadlineWithoutRunnerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		sum, err := (&Runner{}).Run(ctx, []Step{{Name: "a", Run: blockUntilDone}, {Name: "b", Run: pass}})
		require.NoError(t, err)
		assert.Equal(t, "overall deadline reached", sum.Results[1].Reason)
	})
}

func TestInjectedClock(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Runner{Now: func() time.Time {
		now = now.Add(250 * time.Millisecond)
		return now
	}}
	sum, err := r.Run(t.Context(), []Step{{Name: "a", Run: pass}})
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, sum.Results[0].Duration)
	assert.Equal(t, 750*time.Millisecond, sum.Duration)
}

func TestSleepContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, SleepContext(t.Context(), time.Second))
		assert.Equal(t, time.Second, time.Since(start))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, SleepContext(ctx, time.Hour), context.DeadlineExceeded)
		assert.ErrorIs(t, SleepContext(ctx, 0), context.DeadlineExceeded)
		assert.NoError(t, SleepContext(t.Context(), 0))
	})
}

func TestChain(t *testing.T) {
	base := &TransientError{Err: errBoom}
	cases := []struct {
		desc  string
		err   error
		want  *ErrorNode
		lines []string
	}{
		{desc: "nil", err: nil, want: nil},
		{
			desc:  "a wrapper that adds nothing keeps its message",
			err:   fmt.Errorf("%w", errBoom),
			want:  &ErrorNode{Message: "boom", Type: "*fmt.wrapError", Causes: []ErrorNode{{Message: "boom", Type: "*errors.errorString"}}},
			lines: []string{"boom", "  caused by: boom"},
		},
		{
			desc: "wrapped cause by cause",
			err:  fmt.Errorf("encrypt: %w", base),
			want: &ErrorNode{Message: "encrypt: transient: boom", Type: "*fmt.wrapError", Causes: []ErrorNode{
				{Message: "transient: boom", Type: "*step.TransientError", Causes: []ErrorNode{
					{Message: "boom", Type: "*errors.errorString"},
				}},
			}},
			lines: []string{"encrypt", "  caused by: transient", "    caused by: boom"},
		},
		{
			desc: "joined errors branch",
			err:  errors.Join(errBoom, errors.New("second")),
			want: &ErrorNode{Message: "boom\nsecond", Type: "*errors.joinError", Causes: []ErrorNode{
				{Message: "boom", Type: "*errors.errorString"},
				{Message: "second", Type: "*errors.errorString"},
			}},
			lines: []string{"2 errors:", "  caused by: boom", "  caused by: second"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got := Chain(tc.err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.lines, got.Lines())
		})
	}
}

// selfWrap unwraps to itself forever.
type selfWrap struct{}

func (e *selfWrap) Error() string { return "loop" }
func (e *selfWrap) Unwrap() error { return e }

func TestChainDepthBounded(t *testing.T) {
	n := Chain(&selfWrap{})
	depth := 0
	for len(n.Causes) > 0 {
		n = &n.Causes[0]
		depth++
	}
	assert.Equal(t, maxChainDepth, depth)
}
