package step

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// Reporter receives the events of a run, in order, from one goroutine.
type Reporter interface {
	RunStarted(plan []Info)
	StepStarted(info Info)
	StepRetrying(info Info, attempt int, err error, delay time.Duration)
	StepFinished(r Result)
	RunFinished(s Summary)
}

// Runner executes steps in order. The zero value runs every step once, with
// no timeouts, continuing after failures.
type Runner struct {
	// Reporter receives progress; nil reports nothing.
	Reporter Reporter
	// FailFast stops at the first failure: later steps are not run.
	FailFast bool
	// Retry is the policy for transient failures; the zero value tries once.
	Retry RetryPolicy
	// StepTimeout bounds each step without its own Timeout; 0: no bound.
	StepTimeout time.Duration
	// Deadline bounds the whole run; 0: only the caller's context.
	Deadline time.Duration
	// Now and Sleep are the clock; tests inject fakes. Defaults: time.Now, SleepContext.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Abandon is how long a step whose context ended may take to return
	// before the runner stops waiting for it (default 2s). A step that
	// ignores its context is reported failed either way.
	Abandon time.Duration
}

// ErrPlan wraps every problem with a step list itself (duplicate names,
// unknown or later dependencies, missing Run).
var ErrPlan = errors.New("invalid step plan")

// TimeoutError is a step that ran out of its own time.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("step timed out after %s: %v", e.After, e.Err)
}
func (e *TimeoutError) Unwrap() error { return e.Err }

// PanicError is a step that panicked; the stack is kept for the report.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("step panicked: %v", e.Value) }

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return SleepContext(ctx, d)
}

// plan checks steps and resolves each dependency to a step id.
func plan(steps []Step) ([]Info, map[string][]string, error) {
	infos := make([]Info, len(steps))
	seen := map[string]bool{}
	deps := map[string][]string{}
	for i, s := range steps {
		switch {
		case s.Name == "":
			return nil, nil, fmt.Errorf("%w: step %d has no name", ErrPlan, i+1)
		case strings.Contains(s.Name, "/"):
			return nil, nil, fmt.Errorf("%w: step name %q contains '/'", ErrPlan, s.Name)
		case s.Run == nil:
			return nil, nil, fmt.Errorf("%w: step %q has no Run func", ErrPlan, s.id())
		case seen[s.id()]:
			return nil, nil, fmt.Errorf("%w: duplicate step %q", ErrPlan, s.id())
		}
		for _, d := range s.DependsOn {
			id := d
			if !strings.Contains(d, "/") {
				id = s.Phase + "/" + d
			}
			// Only earlier steps: the run is sequential, and this rules out cycles.
			if !seen[id] {
				return nil, nil, fmt.Errorf("%w: step %q depends on %q, which is not an earlier step", ErrPlan, s.id(), d)
			}
			deps[s.id()] = append(deps[s.id()], id)
		}
		seen[s.id()] = true
		infos[i] = Info{Index: i + 1, Total: len(steps), Phase: s.Phase, Name: s.Name, Description: s.Description}
	}
	return infos, deps, nil
}

// blockedBy returns why s cannot run given earlier outcomes, or "".
func blockedBy(s Step, deps map[string][]string, outcomes map[string]Outcome) string {
	for _, id := range deps[s.id()] {
		switch outcomes[id] {
		case Passed:
			continue
		case Failed:
			return fmt.Sprintf("depends on %q, which failed", displayID(s.Phase, id))
		default:
			return fmt.Sprintf("depends on %q, which did not run", displayID(s.Phase, id))
		}
	}
	return ""
}

// displayID drops the phase when it is the dependent's own.
func displayID(phase, id string) string {
	if name, ok := strings.CutPrefix(id, phase+"/"); ok {
		return name
	}
	return id
}

// Run executes steps in order and reports each. The error is non-nil only
// for an invalid plan (wrapping ErrPlan); step failures are in the Summary.
func (r *Runner) Run(ctx context.Context, steps []Step) (Summary, error) {
	infos, deps, err := plan(steps)
	if err != nil {
		return Summary{}, err
	}
	if r.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Deadline)
		defer cancel()
	}
	rep := r.Reporter
	if rep == nil {
		rep = nopReporter{}
	}
	sum := Summary{Started: r.now()}
	rep.RunStarted(infos)
	outcomes := map[string]Outcome{}
	stopped := ""
	for i, s := range steps {
		info := infos[i]
		var res Result
		if reason := r.skipReason(ctx, stopped, s, deps, outcomes); reason != "" {
			res = Result{Info: info, Outcome: NotRun, Started: r.now(), Reason: reason}
		} else {
			rep.StepStarted(info)
			res = r.execute(ctx, s, info, rep)
		}
		outcomes[s.id()] = res.Outcome
		sum.Results = append(sum.Results, res)
		rep.StepFinished(res)
		if res.Outcome == Failed && r.FailFast && stopped == "" {
			stopped = fmt.Sprintf("fail-fast: stopped after %q failed", displayID("", s.id()))
		}
	}
	sum.Duration = r.now().Sub(sum.Started)
	rep.RunFinished(sum)
	return sum, nil
}

// skipReason says why s does not run: the run was stopped (fail-fast,
// stopped says why), its context ended, or a dependency did not pass; ""
// when it runs.
func (r *Runner) skipReason(ctx context.Context, stopped string, s Step, deps map[string][]string, outcomes map[string]Outcome) string {
	switch {
	case stopped != "":
		return stopped
	case ctx.Err() != nil:
		return r.stopReason(ctx)
	}
	return blockedBy(s, deps, outcomes)
}

func (r *Runner) stopReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if r.Deadline > 0 {
			return fmt.Sprintf("overall timeout of %s reached", r.Deadline)
		}
		return "overall deadline reached"
	}
	return "run interrupted"
}

// execute runs one step with its timeout and retry policy.
func (r *Runner) execute(ctx context.Context, s Step, info Info, rep Reporter) Result {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = r.StepTimeout
	}
	sctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	policy := r.Retry
	if s.Retry != nil {
		policy = *s.Retry
	}
	res := Result{Info: info, Started: r.now()}
	var err error
	for {
		res.Attempts++
		err = r.call(sctx, s)
		if err == nil || res.Attempts >= policy.attempts() || sctx.Err() != nil || !policy.retryable(err) {
			break
		}
		delay := policy.Backoff(res.Attempts)
		rep.StepRetrying(info, res.Attempts, err, delay)
		if r.sleep(sctx, delay) != nil {
			break // out of time while waiting: report the step's own last error
		}
	}
	res.Duration = r.now().Sub(res.Started)
	if err == nil {
		res.Outcome = Passed
		return res
	}
	if res.Attempts > 1 {
		err = &AttemptsError{Attempts: res.Attempts, Err: err}
	}
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%s: %w", r.stopReason(ctx), err)
	case sctx.Err() != nil:
		err = &TimeoutError{After: timeout, Err: err}
	}
	res.Outcome, res.Err = Failed, err
	return res
}

// call runs s.Run once, turning a panic into an error, and stops waiting
// for a step that ignores its ended context.
func (r *Runner) call(ctx context.Context, s Step) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- &PanicError{Value: v, Stack: string(debug.Stack())}
			}
		}()
		done <- s.Run(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// A step that finished as its context ended is judged by its own result.
	select {
	case err := <-done:
		return err
	default:
	}
	abandon := r.Abandon
	if abandon <= 0 {
		abandon = 2 * time.Second
	}
	t := time.NewTimer(abandon)
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil {
			// It carried on past its time and claims success: a late
			// pass is still a step that ignored its context.
			return fmt.Errorf("step ignored its context and returned nil after it ended: %w", ctx.Err())
		}
		return err
	case <-t.C:
		return fmt.Errorf("step ignored its context and was abandoned %s after it ended: %w", abandon, ctx.Err())
	}
}

type nopReporter struct{}

func (nopReporter) RunStarted([]Info)                            {}
func (nopReporter) StepStarted(Info)                             {}
func (nopReporter) StepRetrying(Info, int, error, time.Duration) {}
func (nopReporter) StepFinished(Result)                          {}
func (nopReporter) RunFinished(Summary)                          {}
