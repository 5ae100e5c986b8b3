package step

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// HumanOptions configures the human reporter.
type HumanOptions struct {
	// Color turns on ANSI colour and emoji.
	Color bool
	// Spinner animates the running step; only for terminals.
	Spinner bool
	// Interval between spinner frames; default 100ms.
	Interval time.Duration
	// Now is the clock for the spinner's elapsed time; default time.Now.
	Now func() time.Time
}

// Human is the default reporter: "[n/N]" lines with timings, error chains
// under failed steps, and a summary listing failed and not-run steps.
type Human struct {
	w    io.Writer
	opts HumanOptions

	mu      sync.Mutex // guards writes shared with the spinner goroutine
	phase   string
	started bool
	stop    chan struct{}
	stopped chan struct{}
}

var _ Reporter = (*Human)(nil)

// NewHuman returns a human reporter writing to w.
func NewHuman(w io.Writer, opts HumanOptions) *Human {
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Human{w: w, opts: opts}
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiYel   = "\x1b[33m"
	clearLine = "\r\x1b[K"
)

func (h *Human) paint(code, s string) string {
	if !h.opts.Color {
		return s
	}
	return code + s + ansiReset
}

func (h *Human) mark(o Outcome) string {
	if h.opts.Color {
		switch o {
		case Passed:
			return "✅"
		case Failed:
			return "❌"
		default:
			return "⏭️ "
		}
	}
	switch o {
	case Passed:
		return "PASS"
	case Failed:
		return "FAIL"
	default:
		return "SKIP"
	}
}

func counter(i Info) string {
	w := len(fmt.Sprint(i.Total))
	return fmt.Sprintf("[%*d/%d]", w, i.Index, i.Total)
}

// FormatDuration prints durations the way people read them: 850µs, 12ms, 1.24s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

func (h *Human) printf(format string, args ...any) {
	fmt.Fprintf(h.w, format, args...)
}

// RunStarted announces the run; phase headers come with each phase's first step.
func (h *Human) RunStarted(plan []Info) {
	h.mu.Lock()
	defer h.mu.Unlock()
	phases := map[string]int{}
	for _, i := range plan {
		phases[i.Phase]++
	}
	h.printf("Running %d steps in %d phase(s)\n", len(plan), len(phases))
}

func (h *Human) header(i Info) {
	if h.started && i.Phase == h.phase {
		return
	}
	h.started, h.phase = true, i.Phase
	if i.Phase != "" {
		h.printf("\n%s\n", h.paint(ansiBold, "== "+i.Phase+" =="))
	}
}

// StepStarted prints the phase header and starts the spinner.
func (h *Human) StepStarted(i Info) {
	h.mu.Lock()
	h.header(i)
	h.mu.Unlock()
	if !h.opts.Spinner {
		return
	}
	h.stop, h.stopped = make(chan struct{}), make(chan struct{})
	go h.spin(i, h.opts.Now(), h.stop, h.stopped)
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
var asciiFrames = []string{"|", "/", "-", `\`}

func (h *Human) spin(i Info, start time.Time, stop, stopped chan struct{}) {
	defer close(stopped)
	frames := asciiFrames
	if h.opts.Color {
		frames = spinnerFrames
	}
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	for n := 0; ; n++ {
		h.mu.Lock()
		h.printf("%s%s %s %s %s", clearLine, counter(i), frames[n%len(frames)], i.Name,
			h.paint(ansiDim, FormatDuration(h.opts.Now().Sub(start).Truncate(100*time.Millisecond))))
		h.mu.Unlock()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (h *Human) stopSpinner() {
	if h.stop == nil {
		return
	}
	close(h.stop)
	<-h.stopped
	h.stop, h.stopped = nil, nil
	h.printf("%s", clearLine)
}

// StepRetrying notes a transient failure and the wait before the next try.
func (h *Human) StepRetrying(i Info, attempt int, err error, delay time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opts.Spinner {
		h.printf("%s", clearLine)
	}
	icon := "retry:"
	if h.opts.Color {
		icon = "🔁"
	}
	h.printf("%s %s %s attempt %d failed, retrying in %s: %v\n", counter(i), icon, i.Name, attempt, FormatDuration(delay), err)
}

// StepFinished prints the step's line, and its error chain when it failed.
func (h *Human) StepFinished(r Result) {
	h.stopSpinner()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.header(r.Info)
	desc := ""
	if r.Description != "" {
		desc = h.paint(ansiDim, " — "+r.Description)
	}
	switch r.Outcome {
	case Passed:
		h.printf("%s %s %s%s %s\n", counter(r.Info), h.mark(Passed), h.paint(ansiGreen, r.Name), desc, h.paint(ansiDim, "("+FormatDuration(r.Duration)+")"))
	case Failed:
		h.printf("%s %s %s%s %s\n", counter(r.Info), h.mark(Failed), h.paint(ansiRed+ansiBold, r.Name), desc, h.paint(ansiDim, "("+FormatDuration(r.Duration)+")"))
		pad := strings.Repeat(" ", len(counter(r.Info))+1)
		for n, line := range r.ErrorChain().Lines() {
			if n == 0 {
				line = "error: " + line
			}
			h.printf("%s%s\n", pad, h.paint(ansiRed, line))
		}
	default:
		h.printf("%s %s %s%s %s\n", counter(r.Info), h.mark(NotRun), h.paint(ansiYel, r.Name), desc, h.paint(ansiYel, "(not run: "+r.Reason+")"))
	}
}

// RunFinished prints the totals and lists what did not pass.
func (h *Human) RunFinished(s Summary) {
	h.stopSpinner()
	h.mu.Lock()
	defer h.mu.Unlock()
	passed, failed, notRun := s.Count(Passed), s.Count(Failed), s.Count(NotRun)
	h.printf("\n%s %d passed, %d failed, %d not run (%d steps in %s)\n", h.paint(ansiBold, "Summary:"),
		passed, failed, notRun, len(s.Results), FormatDuration(s.Duration))
	if failed > 0 {
		h.printf("%s\n", h.paint(ansiRed+ansiBold, "Failed steps:"))
		for _, r := range s.Results {
			if r.Outcome == Failed {
				h.printf("  %s %s: %v\n", h.mark(Failed), qualified(r.Info), r.Err)
			}
		}
	}
	if notRun > 0 {
		h.printf("%s\n", h.paint(ansiYel+ansiBold, "Not run:"))
		for _, r := range s.Results {
			if r.Outcome == NotRun {
				h.printf("  %s %s: %s\n", h.mark(NotRun), qualified(r.Info), r.Reason)
			}
		}
	}
	switch s.ExitCode() {
	case ExitAllPassed:
		if h.opts.Color {
			h.printf("%s\n", h.paint(ansiGreen+ansiBold, "🎉 All steps passed."))
		} else {
			h.printf("All steps passed.\n")
		}
	case ExitSomeFailed:
		h.printf("%s\n", h.paint(ansiRed+ansiBold, "Some steps did not pass."))
	default:
		h.printf("%s\n", h.paint(ansiRed+ansiBold, "No step passed."))
	}
}

// qualified is "phase/name", or the name alone without a phase.
func qualified(i Info) string {
	if i.Phase == "" {
		return i.Name
	}
	return i.Phase + "/" + i.Name
}
