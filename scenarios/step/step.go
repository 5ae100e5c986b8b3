// Package step is the scenario step engine: named steps that perform
// a real operation and check its result, a runner with dependencies, retries
// for transient failures and timeouts, and reporters (human, json,
// structured). The same step lists run as the demo (Runner) and as `go test`
// subtests (RunTests), so a scenario is written once.
package step

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Step is one named, checked operation of a scenario.
type Step struct {
	// Name is short and unique within its phase; go test uses it as the
	// subtest name and DependsOn refers to it.
	Name string
	// Description is one line saying what the step proves.
	Description string
	// Phase groups steps (the scenario: "kms", "identity"). Results carry it.
	Phase string
	// DependsOn names earlier steps of the same phase (or "phase/name" for
	// another phase). When one of them did not pass, this step does not run.
	DependsOn []string
	// Run performs the operation and checks the result; nil means passed.
	Run func(ctx context.Context) error
	// Timeout bounds this step (all attempts and retry delays); 0 uses the
	// runner's StepTimeout.
	Timeout time.Duration
	// Retry overrides the runner's retry policy for this step (for example
	// Attempts: 1 for an operation that must not be repeated).
	Retry *RetryPolicy
}

// id is the step's unique key in a run.
func (s Step) id() string { return s.Phase + "/" + s.Name }

// Outcome is how a step ended.
type Outcome string

// Outcomes. A not-run step never counts as passed.
const (
	Passed Outcome = "passed"
	Failed Outcome = "failed"
	NotRun Outcome = "not_run"
)

// Info identifies a step within a run.
type Info struct {
	Index       int // 1-based position in the run
	Total       int
	Phase       string
	Name        string
	Description string
}

// Result is how one step ended.
type Result struct {
	Info
	Outcome  Outcome
	Started  time.Time
	Duration time.Duration
	Attempts int
	// Err is the failure (Outcome failed), nil otherwise.
	Err error
	// Reason says why a step did not run (Outcome not_run).
	Reason string
}

// ErrorChain returns Err cause by cause; nil when there is no error.
func (r Result) ErrorChain() *ErrorNode { return Chain(r.Err) }

// Summary is the whole run.
type Summary struct {
	Results  []Result
	Started  time.Time
	Duration time.Duration
}

// Count returns how many results have the outcome.
func (s Summary) Count(o Outcome) int {
	n := 0
	for _, r := range s.Results {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// Exit codes of the demo and of anything else that runs steps.
const (
	ExitAllPassed  = 0 // every step passed
	ExitSomeFailed = 1 // some passed, some failed or did not run
	ExitNonePassed = 2 // nothing passed (also fatal and usage errors)
)

// ExitCode maps the run to an exit code: 0 when every step passed, 1 when
// some passed and others failed or did not run, 2 when none passed (an empty
// run passed nothing).
func (s Summary) ExitCode() int {
	passed := s.Count(Passed)
	switch {
	case passed == 0:
		return ExitNonePassed
	case passed == len(s.Results):
		return ExitAllPassed
	default:
		return ExitSomeFailed
	}
}

// ErrorNode is one error of a chain with the errors it wraps. Joined errors
// (errors.Join, fmt.Errorf with several %w) have several causes.
type ErrorNode struct {
	Message string      `json:"message"`
	Type    string      `json:"type"`
	Causes  []ErrorNode `json:"causes,omitempty"`
}

// maxChainDepth stops a pathological self-wrapping error from looping.
const maxChainDepth = 32

// Chain unwraps err cause by cause (errors.Unwrap, and Unwrap() []error for
// joined errors) into a tree.
func Chain(err error) *ErrorNode {
	if err == nil {
		return nil
	}
	n := chain(err, 0)
	return &n
}

func chain(err error, depth int) ErrorNode {
	n := ErrorNode{Message: err.Error(), Type: fmt.Sprintf("%T", err)}
	if depth >= maxChainDepth {
		return n
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, c := range u.Unwrap() {
			if c != nil {
				n.Causes = append(n.Causes, chain(c, depth+1))
			}
		}
	default:
		if c := errors.Unwrap(err); c != nil {
			n.Causes = append(n.Causes, chain(c, depth+1))
		}
	}
	return n
}

// Lines flattens the chain for people, one line per error, indented by
// depth. Each line shows what that layer added: a wrapper's message minus
// its cause's (fmt.Errorf("op: %w") prints "op"), and joined errors print
// how many they join, so the chain reads cause by cause without repeats.
func (n *ErrorNode) Lines() []string {
	if n == nil {
		return nil
	}
	var out []string
	var walk func(e ErrorNode, depth int)
	walk = func(e ErrorNode, depth int) {
		line := own(e)
		if depth > 0 {
			line = strings.Repeat("  ", depth) + "caused by: " + line
		}
		out = append(out, line)
		for _, c := range e.Causes {
			walk(c, depth+1)
		}
	}
	walk(*n, 0)
	return out
}

// own is the part of e's message that its causes do not already say.
func own(e ErrorNode) string {
	switch {
	case len(e.Causes) > 1:
		return fmt.Sprintf("%d errors:", len(e.Causes))
	case len(e.Causes) == 1:
		c := e.Causes[0].Message
		if m, ok := strings.CutSuffix(e.Message, ": "+c); ok && m != "" {
			return m
		}
	}
	return e.Message
}
