package step

import (
	"encoding/json"
	"io"
	"time"
)

// Document is the single JSON document the json reporter prints at the end.
type Document struct {
	Totals   Totals `json:"totals"`
	ExitCode int    `json:"exit_code"`
	// Error is a fatal error that stopped the run before or outside any
	// step (a service that would not start); steps report their own.
	Error      string    `json:"error,omitempty"`
	Started    time.Time `json:"started"`
	DurationMS float64   `json:"duration_ms"`
	Steps      []StepDoc `json:"steps"`
}

// Totals counts outcomes; Steps = Passed + Failed + NotRun.
type Totals struct {
	Steps  int `json:"steps"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	NotRun int `json:"not_run"`
}

// StepDoc is one step of a Document.
type StepDoc struct {
	Index       int        `json:"index"`
	Phase       string     `json:"phase"`
	Step        string     `json:"step"`
	Description string     `json:"description,omitempty"`
	Outcome     Outcome    `json:"outcome"`
	DurationMS  float64    `json:"duration_ms"`
	Attempts    int        `json:"attempts,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Error       *ErrorNode `json:"error,omitempty"`
}

// NewDocument builds the document for a summary.
func NewDocument(s Summary) Document {
	d := Document{
		Totals:     Totals{Steps: len(s.Results), Passed: s.Count(Passed), Failed: s.Count(Failed), NotRun: s.Count(NotRun)},
		ExitCode:   s.ExitCode(),
		Started:    s.Started.UTC(),
		DurationMS: ms(s.Duration),
		Steps:      make([]StepDoc, 0, len(s.Results)),
	}
	for _, r := range s.Results {
		d.Steps = append(d.Steps, StepDoc{
			Index: r.Index, Phase: r.Phase, Step: r.Name, Description: r.Description,
			Outcome: r.Outcome, DurationMS: ms(r.Duration), Attempts: r.Attempts,
			Reason: r.Reason, Error: r.ErrorChain(),
		})
	}
	return d
}

// WriteFatal prints the one document of a run that could not start: no
// steps, exit code 2, and the error.
func WriteFatal(w io.Writer, err error) error {
	doc := NewDocument(Summary{})
	doc.Error = err.Error()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// JSON prints exactly one Document on its writer when the run ends; progress
// goes to a second reporter (typically a plain Human on stderr), so stdout
// stays machine-readable.
type JSON struct {
	out      io.Writer
	progress Reporter
}

var _ Reporter = (*JSON)(nil)

// NewJSON returns a json reporter writing the document to out and progress
// events to progress (nil: no progress).
func NewJSON(out io.Writer, progress Reporter) *JSON {
	if progress == nil {
		progress = nopReporter{}
	}
	return &JSON{out: out, progress: progress}
}

func (j *JSON) RunStarted(plan []Info) { j.progress.RunStarted(plan) }
func (j *JSON) StepStarted(i Info)     { j.progress.StepStarted(i) }
func (j *JSON) StepRetrying(i Info, attempt int, err error, delay time.Duration) {
	j.progress.StepRetrying(i, attempt, err, delay)
}
func (j *JSON) StepFinished(r Result) { j.progress.StepFinished(r) }

// RunFinished writes the document.
func (j *JSON) RunFinished(s Summary) {
	j.progress.RunFinished(s)
	enc := json.NewEncoder(j.out)
	enc.SetIndent("", "  ")
	// An encoding failure would be a bug in Document; a write failure has
	// nowhere better to go than the exit code the caller already computes.
	_ = enc.Encode(NewDocument(s))
}
