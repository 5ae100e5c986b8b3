package step

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mixedSteps passes, fails with a chain, retries once, and skips a dependent.
func mixedSteps() []Step {
	flaky := 0
	return []Step{
		{Phase: "kms", Name: "health", Description: "the KMS is ready", Run: pass},
		{Phase: "kms", Name: "flaky", Description: "succeeds on the second try", Run: func(context.Context) error {
			flaky++
			if flaky == 1 {
				return Transient(errors.New("connection refused"))
			}
			return nil
		}},
		{Phase: "kms", Name: "encrypt", Description: "encrypt round trip", Run: func(context.Context) error {
			return fmt.Errorf("encrypt: %w", statusErr{500})
		}},
		{Phase: "kms", Name: "rotate", Description: "rotate then decrypt", DependsOn: []string{"encrypt"}, Run: pass},
		{Phase: "identity", Name: "discovery", Description: "discovery document", Run: pass},
	}
}

// tick is a clock that advances 10ms per reading.
func tick() func() time.Time {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	return func() time.Time {
		now = now.Add(10 * time.Millisecond)
		return now
	}
}

func runWith(t *testing.T, rep Reporter) Summary {
	t.Helper()
	r := &Runner{
		Reporter: rep,
		Retry:    RetryPolicy{Attempts: 2, Delay: 50 * time.Millisecond},
		Sleep:    func(context.Context, time.Duration) error { return nil },
		Now:      tick(),
	}
	sum, err := r.Run(t.Context(), mixedSteps())
	require.NoError(t, err)
	return sum
}

func TestHumanReporter(t *testing.T) {
	cases := []struct {
		desc    string
		opts    HumanOptions
		want    []string
		notWant []string
	}{
		{
			desc: "plain",
			opts: HumanOptions{},
			want: []string{
				"Running 5 steps in 2 phase(s)\n",
				"\n== kms ==\n",
				"[1/5] PASS health — the KMS is ready (10ms)\n",
				"[2/5] retry: flaky attempt 1 failed, retrying in 50ms: transient: connection refused\n",
				"[2/5] PASS flaky — succeeds on the second try",
				"[3/5] FAIL encrypt — encrypt round trip (10ms)\n      error: encrypt\n        caused by: HTTP 500\n",
				`[4/5] SKIP rotate — rotate then decrypt (not run: depends on "encrypt", which failed)`,
				"\n== identity ==\n[5/5] PASS discovery",
				"Summary: 3 passed, 1 failed, 1 not run (5 steps in ",
				"Failed steps:\n  FAIL kms/encrypt: encrypt: HTTP 500\n",
				"Not run:\n  SKIP kms/rotate: depends on \"encrypt\", which failed\n",
				"Some steps did not pass.\n",
			},
			notWant: []string{"\x1b[", "✅", "❌"},
		},
		{
			desc:    "colour and emoji",
			opts:    HumanOptions{Color: true},
			want:    []string{"✅", "❌", "⏭️", "🔁", ansiGreen, ansiRed, ansiReset},
			notWant: []string{"PASS", "FAIL", clearLine},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			runWith(t, NewHuman(&buf, tc.opts))
			out := buf.String()
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, out, w)
			}
		})
	}
}

func TestHumanVerdictLines(t *testing.T) {
	cases := []struct {
		desc  string
		color bool
		steps []Step
		want  string
	}{
		{desc: "all passed plain", steps: []Step{{Name: "a", Run: pass}}, want: "All steps passed.\n"},
		{desc: "all passed colour", color: true, steps: []Step{{Name: "a", Run: pass}}, want: "🎉 All steps passed."},
		{desc: "none passed", steps: []Step{{Name: "a", Run: fail}}, want: "No step passed.\n"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := (&Runner{Reporter: NewHuman(&buf, HumanOptions{Color: tc.color})}).Run(t.Context(), tc.steps)
			require.NoError(t, err)
			assert.Contains(t, buf.String(), tc.want)
			assert.NotContains(t, buf.String(), "==", "no phase header without a phase")
		})
	}
}

func TestHumanSpinner(t *testing.T) {
	cases := []struct {
		desc   string
		color  bool
		frames []string
	}{
		{desc: "ascii frames without colour", frames: []string{"|", "/", "-", `\`}},
		{desc: "braille frames with colour", color: true, frames: []string{"⠋", "⠙", "⠹"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				h := NewHuman(&buf, HumanOptions{Spinner: true, Color: tc.color, Interval: 100 * time.Millisecond})
				r := &Runner{Reporter: h, Retry: RetryPolicy{Attempts: 2, Delay: 10 * time.Millisecond}}
				tries := 0
				_, err := r.Run(t.Context(), []Step{{Name: "slow", Run: func(ctx context.Context) error {
					time.Sleep(350 * time.Millisecond)
					tries++
					if tries == 1 {
						return Transient(errBoom)
					}
					return nil
				}}})
				require.NoError(t, err)
				out := buf.String()
				for _, f := range tc.frames {
					assert.Contains(t, out, clearLine+"[1/1] "+f+" slow")
				}
				assert.Contains(t, out, "300ms", "elapsed time shown while running")
				assert.Contains(t, out, clearLine+"[1/1] ", "final line clears the spinner")
			})
		})
	}
}

func TestFormatDuration(t *testing.T) {
	cases := []struct {
		desc string
		d    time.Duration
		want string
	}{
		{desc: "microseconds", d: 850*time.Microsecond + 400*time.Nanosecond, want: "850µs"},
		{desc: "milliseconds", d: 12*time.Millisecond + 300*time.Microsecond, want: "12ms"},
		{desc: "seconds", d: 1243 * time.Millisecond, want: "1.24s"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, FormatDuration(tc.d))
		})
	}
}

func TestJSONReporter(t *testing.T) {
	var out, progress bytes.Buffer
	sum := runWith(t, NewJSON(&out, NewHuman(&progress, HumanOptions{})))

	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	var doc Document
	require.NoError(t, dec.Decode(&doc))
	_, err := dec.Token()
	assert.ErrorIs(t, err, io.EOF, "exactly one JSON document on stdout")

	assert.Equal(t, Totals{Steps: 5, Passed: 3, Failed: 1, NotRun: 1}, doc.Totals)
	assert.Equal(t, ExitSomeFailed, doc.ExitCode)
	assert.Equal(t, sum.Started, doc.Started)
	require.Len(t, doc.Steps, 5)
	assert.Equal(t, StepDoc{Index: 1, Phase: "kms", Step: "health", Description: "the KMS is ready", Outcome: Passed, DurationMS: 10, Attempts: 1}, doc.Steps[0])
	assert.Equal(t, 2, doc.Steps[1].Attempts)
	enc := doc.Steps[2]
	assert.Equal(t, Failed, enc.Outcome)
	require.NotNil(t, enc.Error)
	assert.Equal(t, "encrypt: HTTP 500", enc.Error.Message)
	require.Len(t, enc.Error.Causes, 1)
	assert.Equal(t, "step.statusErr", enc.Error.Causes[0].Type)
	assert.Equal(t, `depends on "encrypt", which failed`, doc.Steps[3].Reason)
	assert.Nil(t, doc.Steps[3].Error)

	assert.Contains(t, progress.String(), "[3/5] FAIL encrypt", "progress goes to the progress writer")
	assert.NotContains(t, out.String(), "[3/5]")
}

func TestJSONReporterWithoutProgress(t *testing.T) {
	var out bytes.Buffer
	runWith(t, NewJSON(&out, nil))
	var doc Document
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	assert.Equal(t, 5, doc.Totals.Steps)
}

func TestStructuredReporter(t *testing.T) {
	var out bytes.Buffer
	fixed := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	runWith(t, NewStructured(&out, "passthru-demo", func() time.Time { return fixed }))

	var recs []Record
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var rec Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "each line is one JSON record: %s", sc.Text())
		recs = append(recs, rec)
	}
	var events []string
	for _, r := range recs {
		events = append(events, r.Attributes["event.name"].(string))
		assert.Equal(t, fixed, r.Timestamp)
		assert.Equal(t, map[string]any{"service.name": "passthru-demo"}, r.Resource)
	}
	assert.Equal(t, []string{
		"scenario.run.start",
		"scenario.step.start", "scenario.step.end",
		"scenario.step.start", "scenario.step.retry", "scenario.step.end",
		"scenario.step.start", "scenario.step.end",
		"scenario.step.end", // not run: no start
		"scenario.step.start", "scenario.step.end",
		"scenario.run.end",
	}, events)

	cases := []struct {
		desc  string
		rec   Record
		sev   string
		num   int
		body  string
		attrs map[string]any
	}{
		{
			desc: "passed step", rec: recs[2], sev: "INFO", num: 9, body: "step passed: health",
			attrs: map[string]any{"scenario.phase": "kms", "scenario.step": "health", "outcome": "passed", "duration_ms": 10.0, "attempts": 1.0},
		},
		{
			desc: "retry", rec: recs[4], sev: "WARN", num: 13, body: "step attempt failed, retrying: flaky",
			attrs: map[string]any{"retry.attempt": 1.0, "retry.delay_ms": 50.0, "error.message": "transient: connection refused", "error.type": "*step.TransientError"},
		},
		{
			desc: "failed step", rec: recs[7], sev: "ERROR", num: 17, body: "step failed: encrypt",
			attrs: map[string]any{"outcome": "failed", "error.message": "encrypt: HTTP 500", "error.type": "*fmt.wrapError"},
		},
		{
			desc: "not-run step", rec: recs[8], sev: "WARN", num: 13, body: "step not run: rotate",
			attrs: map[string]any{"outcome": "not_run", "reason": `depends on "encrypt", which failed`, "scenario.step.index": 4.0, "scenario.steps.total": 5.0},
		},
		{
			desc: "run end", rec: recs[11], sev: "ERROR", num: 17, body: "scenario run finished",
			attrs: map[string]any{"steps.total": 5.0, "steps.passed": 3.0, "steps.failed": 1.0, "steps.not_run": 1.0, "process.exit_code": 1.0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.sev, tc.rec.SeverityText)
			assert.Equal(t, tc.num, tc.rec.SeverityNumber)
			assert.Equal(t, tc.body, tc.rec.Body)
			for k, v := range tc.attrs {
				assert.Equal(t, v, tc.rec.Attributes[k], k)
			}
		})
	}
	chain, ok := recs[7].Attributes["error.chain"].(map[string]any)
	require.True(t, ok, "error.chain is a nested object")
	assert.Len(t, chain["causes"], 1)
}

func TestStructuredAllPassedIsInfo(t *testing.T) {
	var out bytes.Buffer
	_, err := (&Runner{Reporter: NewStructured(&out, "", nil)}).Run(t.Context(), []Step{{Name: "a", Run: pass}})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last Record
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	assert.Equal(t, "INFO", last.SeverityText)
	assert.Nil(t, last.Resource)
}

func TestStyle(t *testing.T) {
	cases := []struct {
		desc     string
		flag     bool
		env      map[string]string
		terminal bool
		want     HumanOptions
	}{
		{desc: "terminal, nothing set", terminal: true, want: HumanOptions{Color: true, Spinner: true}},
		{desc: "--no-color keeps the spinner", flag: true, terminal: true, want: HumanOptions{Spinner: true}},
		{desc: "NO_COLOR", env: map[string]string{"NO_COLOR": "1"}, terminal: true, want: HumanOptions{Spinner: true}},
		{desc: "empty NO_COLOR is unset", env: map[string]string{"NO_COLOR": ""}, terminal: true, want: HumanOptions{Color: true, Spinner: true}},
		{desc: "CI turns off colour and spinner", env: map[string]string{"CI": "true"}, terminal: true, want: HumanOptions{}},
		{desc: "not a terminal", want: HumanOptions{}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got := Style(tc.flag, func(k string) string { return tc.env[k] }, tc.terminal)
			assert.Equal(t, tc.want, got)
		})
	}
	assert.False(t, IsTerminal(&bytes.Buffer{}))
}

func TestFatalRecords(t *testing.T) {
	var doc bytes.Buffer
	require.NoError(t, WriteFatal(&doc, fmt.Errorf("start kms: %w", errBoom)))
	var d Document
	require.NoError(t, json.Unmarshal(doc.Bytes(), &d))
	assert.Equal(t, Document{ExitCode: ExitNonePassed, Error: "start kms: boom", Steps: []StepDoc{}}, d)

	var lines bytes.Buffer
	NewStructured(&lines, "svc", nil).Fatal(errBoom)
	var rec Record
	require.NoError(t, json.Unmarshal(lines.Bytes(), &rec))
	assert.Equal(t, "FATAL", rec.SeverityText)
	assert.Equal(t, 21, rec.SeverityNumber)
	assert.Equal(t, "scenario.run.fatal", rec.Attributes["event.name"])
	assert.Equal(t, "boom", rec.Attributes["error.message"])
	assert.Equal(t, 2.0, rec.Attributes["process.exit_code"])
}
