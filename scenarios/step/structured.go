package step

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Record is one structured log line, shaped like the OpenTelemetry log data
// model (timestamp, severity, body, attributes, resource).
type Record struct {
	Timestamp      time.Time      `json:"timestamp"`
	SeverityText   string         `json:"severity_text"`
	SeverityNumber int            `json:"severity_number"`
	Body           string         `json:"body"`
	Attributes     map[string]any `json:"attributes"`
	Resource       map[string]any `json:"resource,omitempty"`
}

// OpenTelemetry severity numbers for the texts used here.
const (
	sevInfo  = 9
	sevWarn  = 13
	sevError = 17
	sevFatal = 21
)

// Structured writes one JSON line per event.
type Structured struct {
	w        io.Writer
	now      func() time.Time
	resource map[string]any
	mu       sync.Mutex
}

var _ Reporter = (*Structured)(nil)

// NewStructured returns a structured reporter; now defaults to time.Now and
// service names the resource ("passthru-demo").
func NewStructured(w io.Writer, service string, now func() time.Time) *Structured {
	if now == nil {
		now = time.Now
	}
	var res map[string]any
	if service != "" {
		res = map[string]any{"service.name": service}
	}
	return &Structured{w: w, now: now, resource: res}
}

func (s *Structured) emit(sev string, num int, body string, attrs map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Record{Timestamp: s.now().UTC(), SeverityText: sev, SeverityNumber: num, Body: body, Attributes: attrs, Resource: s.resource}
	_ = json.NewEncoder(s.w).Encode(rec) // Encode ends each record with a newline
}

func stepAttrs(event string, i Info) map[string]any {
	return map[string]any{
		"event.name":           event,
		"scenario.phase":       i.Phase,
		"scenario.step":        i.Name,
		"scenario.step.index":  i.Index,
		"scenario.steps.total": i.Total,
	}
}

func addError(attrs map[string]any, err error) {
	if err == nil {
		return
	}
	c := Chain(err)
	attrs["error.message"] = c.Message
	attrs["error.type"] = c.Type
	attrs["error.chain"] = c
}

func (s *Structured) RunStarted(plan []Info) {
	s.emit("INFO", sevInfo, "scenario run started", map[string]any{"event.name": "scenario.run.start", "scenario.steps.total": len(plan)})
}

func (s *Structured) StepStarted(i Info) {
	s.emit("INFO", sevInfo, "step started: "+i.Name, stepAttrs("scenario.step.start", i))
}

func (s *Structured) StepRetrying(i Info, attempt int, err error, delay time.Duration) {
	a := stepAttrs("scenario.step.retry", i)
	a["retry.attempt"] = attempt
	a["retry.delay_ms"] = ms(delay)
	addError(a, err)
	s.emit("WARN", sevWarn, "step attempt failed, retrying: "+i.Name, a)
}

func (s *Structured) StepFinished(r Result) {
	a := stepAttrs("scenario.step.end", r.Info)
	a["outcome"] = string(r.Outcome)
	a["duration_ms"] = ms(r.Duration)
	if r.Attempts > 0 {
		a["attempts"] = r.Attempts
	}
	switch r.Outcome {
	case Passed:
		s.emit("INFO", sevInfo, "step passed: "+r.Name, a)
	case Failed:
		addError(a, r.Err)
		s.emit("ERROR", sevError, "step failed: "+r.Name, a)
	default:
		a["reason"] = r.Reason
		s.emit("WARN", sevWarn, "step not run: "+r.Name, a)
	}
}

func (s *Structured) RunFinished(sum Summary) {
	a := map[string]any{
		"event.name":        "scenario.run.end",
		"duration_ms":       ms(sum.Duration),
		"steps.total":       len(sum.Results),
		"steps.passed":      sum.Count(Passed),
		"steps.failed":      sum.Count(Failed),
		"steps.not_run":     sum.Count(NotRun),
		"process.exit_code": sum.ExitCode(),
	}
	sev, num := "INFO", sevInfo
	if sum.ExitCode() != ExitAllPassed {
		sev, num = "ERROR", sevError
	}
	s.emit(sev, num, "scenario run finished", a)
}

// Fatal records an error that stopped the run outside any step.
func (s *Structured) Fatal(err error) {
	a := map[string]any{"event.name": "scenario.run.fatal", "process.exit_code": ExitNonePassed}
	addError(a, err)
	s.emit("FATAL", sevFatal, "scenario run failed: "+err.Error(), a)
}
