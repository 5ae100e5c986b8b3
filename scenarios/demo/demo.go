// Package demo is the demo binary (scenarios/cmd/demo) as a library: it
// parses `demo kms|identity|integration|all [flags]`, starts the services in-process or
// targets a running stack, runs the scenario steps with the chosen reporter,
// and maps the outcome to the exit codes of package step.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
)

// StartOptions is what the demo asks of an in-process service.
type StartOptions struct {
	DataDir string       // this service's ephemeral data directory
	PKIDir  string       // demo CA shared by every service of the run
	Logger  *slog.Logger // service logs go to a file, not the report
	// IdentityDemoFile is the demo.json of the run's Identity provider
	// (in-process or external), when there is one: a KMS trusts it.
	IdentityDemoFile string
	// PostgresDSNFile, when set, is the file holding the DSN of the
	// PostgreSQL the service stores its data in (default: ephemeral SQLite).
	PostgresDSNFile string
}

// Instance is a started in-process service.
type Instance struct {
	URL      string
	CAFile   string
	DemoFile string
	Shutdown func(context.Context) error
}

// Starter starts one service in-process and returns once it is listening.
type Starter func(ctx context.Context, opts StartOptions) (*Instance, error)

// Scenario builds the steps of one scenario against a target.
type Scenario func(t *target.Target) []step.Step

// Integration builds the steps that use the KMS and the Identity provider
// together.
type Integration func(kms, identity *target.Target) []step.Step

// Deps are the parts the command wires together; tests substitute them.
type Deps struct {
	Starters  map[string]Starter  // by service name
	Scenarios map[string]Scenario // by scenario name
	// Integration is the integration scenario; nil when this build has none.
	Integration Integration
	Getenv      func(string) string
	IsTerminal  func(io.Writer) bool
	// ShutdownTimeout bounds stopping the in-process services (default 10s).
	ShutdownTimeout time.Duration
	// Ready, when set, is called once --keep-running has printed how to
	// reach the services, before waiting for ctx to end (tests cancel there).
	Ready func()
}

// Main runs the demo with the real services and scenarios.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, args, stdout, stderr, DefaultDeps())
}

// Run is Main with its dependencies given.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, deps Deps) int {
	opts, err := Parse(args)
	if errors.Is(err, errHelp) {
		Usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n\n", err)
		Usage(stderr)
		return step.ExitNonePassed
	}
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	if deps.IsTerminal == nil {
		deps.IsTerminal = step.IsTerminal
	}
	d := &run{opts: opts, deps: deps, stdout: stdout, stderr: stderr}
	// Human output is the report itself; with json or structured, stdout is
	// reserved for the machine-readable report and notes go to stderr.
	d.notes = stderr
	if opts.Output == "human" {
		d.notes = stdout
	}
	return d.main(ctx)
}

type run struct {
	opts           Options
	deps           Deps
	stdout, stderr io.Writer
	notes          io.Writer

	tmp       string
	keepLogs  bool // the run failed: the service logs outlive the demo
	targets   map[string]*target.Target
	instances map[string]*Instance
	logFiles  map[string]string
	closers   []func()
}

func (d *run) notef(format string, args ...any) { fmt.Fprintf(d.notes, format, args...) }

// fatal reports an error that stops the demo outside any step. The json and
// structured outputs still get their machine-readable record.
func (d *run) fatal(err error) int {
	fmt.Fprintf(d.stderr, "demo: %v\n", err)
	var se *startError
	if errors.As(err, &se) {
		se.printLog(d.stderr)
	}
	switch d.opts.Output {
	case "json":
		_ = step.WriteFatal(d.stdout, err)
	case "structured":
		step.NewStructured(d.stdout, serviceName, nil).Fatal(err)
	}
	return step.ExitNonePassed
}

// serviceName is the OpenTelemetry service.name of the demo's records.
const serviceName = "passthru-demo"

func (d *run) main(ctx context.Context) int {
	defer d.cleanup()
	if err := d.prepare(ctx); err != nil {
		return d.fatal(err)
	}
	var steps []step.Step
	for _, name := range d.opts.Scenarios {
		if name == "integration" {
			if d.deps.Integration == nil {
				return d.fatal(fmt.Errorf("scenario %q is not available in this build", name))
			}
			steps = append(steps, d.deps.Integration(d.targets["kms"], d.targets["identity"])...)
			continue
		}
		sc := d.deps.Scenarios[name]
		if sc == nil {
			return d.fatal(fmt.Errorf("scenario %q is not available in this build", name))
		}
		steps = append(steps, sc(d.targets[name])...)
	}
	runner := &step.Runner{
		Reporter:    d.reporter(),
		FailFast:    d.opts.FailFast,
		Retry:       step.RetryPolicy{Attempts: d.opts.Retry + 1, Delay: d.opts.RetryDelay, Multiplier: 2, MaxDelay: 5 * time.Second},
		StepTimeout: d.opts.StepTimeout,
		Deadline:    d.opts.Timeout,
	}
	sum, err := runner.Run(ctx, steps)
	if err != nil {
		return d.fatal(err)
	}
	if sum.ExitCode() != step.ExitAllPassed && len(d.logFiles) > 0 {
		// The logs are where a failure is explained: unlike the rest of
		// the demo directory they stay after exit, so the paths printed
		// here still exist when someone opens them.
		d.keepLogs = true
		d.notef("\nService logs (kept after the demo exits; remove %s when done): %s\n", d.tmp, joinValues(d.logFiles))
	}
	if d.opts.KeepRunning && ctx.Err() == nil {
		d.keepRunning(ctx)
	} else if d.opts.Output == "human" && len(d.instances) > 0 {
		d.notef("\nThe services stop now. To explore them: go run ./scenarios/cmd/demo %s --keep-running\n", scenarioArg(d.opts.Scenarios))
	}
	return sum.ExitCode()
}

func scenarioArg(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return "all"
}

func joinValues(m map[string]string) string {
	out := ""
	for _, k := range []string{"kms", "identity"} {
		if v, ok := m[k]; ok {
			if out != "" {
				out += ", "
			}
			out += v
		}
	}
	return out
}

func (d *run) reporter() step.Reporter {
	switch d.opts.Output {
	case "json":
		return step.NewJSON(d.stdout, step.NewHuman(d.stderr, step.HumanOptions{}))
	case "structured":
		return step.NewStructured(d.stdout, serviceName, nil)
	default:
		style := step.Style(d.opts.NoColor, d.deps.Getenv, d.deps.IsTerminal(d.stdout))
		return step.NewHuman(d.stdout, style)
	}
}

// prepare starts or resolves every service the scenarios need.
func (d *run) prepare(ctx context.Context) error {
	d.targets = map[string]*target.Target{}
	d.instances = map[string]*Instance{}
	d.logFiles = map[string]string{}
	for _, svc := range d.opts.Services() {
		if d.opts.External(svc) {
			t, err := d.external(svc)
			if err != nil {
				return err
			}
			d.notef("Using the %s at %s\n", svc, t.BaseURL)
			d.targets[svc] = t
			continue
		}
		t, err := d.inProcess(ctx, svc)
		if err != nil {
			return err
		}
		d.targets[svc] = t
	}
	return nil
}

func (d *run) external(svc string) (*target.Target, error) {
	url, file := d.opts.KMSURL, d.opts.KMSDemoFile
	if svc == "identity" {
		url, file = d.opts.IdentityURL, d.opts.IdentityDemoFile
	}
	t, err := target.New(target.Options{Service: svc, BaseURL: url, CAFile: d.opts.CACert, DemoFile: file, HealthTimeout: d.opts.HealthTimeout})
	if err != nil {
		return nil, fmt.Errorf("target %s (%s): %w", svc, d.opts.describeExternal(svc), err)
	}
	return t, nil
}

func (d *run) inProcess(ctx context.Context, svc string) (*target.Target, error) {
	start := d.deps.Starters[svc]
	if start == nil {
		return nil, fmt.Errorf("the %s cannot be started in-process by this build; point --%s-url and --%s-demo-file at a running one", svc, svc, svc)
	}
	if d.tmp == "" {
		tmp, err := os.MkdirTemp("", "passthru-demo-")
		if err != nil {
			return nil, fmt.Errorf("create demo directory: %w", err)
		}
		d.tmp = tmp
		d.closers = append(d.closers, func() { d.removeTemp(tmp) })
	}
	logPath := filepath.Join(d.tmp, svc+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", svc, err)
	}
	d.closers = append(d.closers, func() { logFile.Close() })
	d.logFiles[svc] = logPath
	database := "ephemeral SQLite"
	if d.opts.PostgresDSNFile != "" {
		database = "PostgreSQL"
	}
	d.notef("Starting the %s in-process (loopback TLS, %s, demo data)...\n", svc, database)
	began := time.Now()
	so := StartOptions{
		DataDir: filepath.Join(d.tmp, svc),
		PKIDir:  filepath.Join(d.tmp, "tls"),
		Logger:  slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})),

		PostgresDSNFile: d.opts.PostgresDSNFile,
	}
	if idp := d.targets["identity"]; idp != nil && svc == "kms" {
		so.IdentityDemoFile = idp.DemoFile
	}
	inst, err := start(ctx, so)
	if err != nil {
		// The demo directory goes on exit, so the log is shown, not named.
		lines, total, rerr := tailLines(logPath, logTailLines)
		return nil, &startError{svc: svc, err: err, tail: lines, total: total, readErr: rerr}
	}
	d.instances[svc] = inst
	d.closers = append(d.closers, func() { d.shutdown(svc, inst) })
	d.notef("  %s listening on %s (%s)\n", svc, inst.URL, step.FormatDuration(time.Since(began)))
	t, err := target.New(target.Options{Service: svc, BaseURL: inst.URL, CAFile: inst.CAFile, DemoFile: inst.DemoFile, HealthTimeout: d.opts.HealthTimeout})
	if err != nil {
		return nil, fmt.Errorf("in-process %s: %w", svc, err)
	}
	return t, nil
}

func (d *run) shutdown(svc string, inst *Instance) {
	timeout := d.deps.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// A fresh context: the run's may already be cancelled by Ctrl-C, and
	// the services still deserve a graceful stop.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := inst.Shutdown(ctx); err != nil {
		fmt.Fprintf(d.stderr, "demo: stop %s: %v\n", svc, err)
	}
}

// cleanup runs the closers in reverse: services stop before their log
// files close and the temporary directory goes.
func (d *run) cleanup() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// logTailLines is how much of a service's log a start failure shows.
const logTailLines = 40

// startError is an in-process service that failed to start, with the end of
// its log: the log file itself is removed with the demo directory.
type startError struct {
	svc     string
	err     error
	tail    []string // last lines of the service log
	total   int      // lines in the whole log
	readErr error    // the log could not be read
}

func (e *startError) Error() string { return fmt.Sprintf("start %s: %v", e.svc, e.err) }
func (e *startError) Unwrap() error { return e.err }

func (e *startError) printLog(w io.Writer) {
	switch {
	case e.readErr != nil:
		fmt.Fprintf(w, "The %s log could not be read: %v\n", e.svc, e.readErr)
	case e.total == 0:
		fmt.Fprintf(w, "The %s wrote nothing to its log before failing.\n", e.svc)
	default:
		fmt.Fprintf(w, "The %s log (last %d of %d lines):\n", e.svc, len(e.tail), e.total)
		for _, l := range e.tail {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// tailLines returns the last n lines of the file at path and how many
// lines it has. Start-up logs are small; the whole file is read.
func tailLines(path string, n int) ([]string, int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read log: %w", err)
	}
	text := strings.TrimRight(string(raw), "\n")
	if text == "" {
		return nil, 0, nil
	}
	lines := strings.Split(text, "\n")
	return lines[max(0, len(lines)-n):], len(lines), nil
}

// removeTemp deletes the demo directory, or, when the logs are to be kept,
// everything in it but the service logs (data, keys and the demo CA go).
func (d *run) removeTemp(dir string) {
	if !d.keepLogs {
		_ = os.RemoveAll(dir)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
