package demo

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Options is the parsed command line.
type Options struct {
	Scenarios     []string // "kms", "identity", "integration" in run order
	Output        string   // human | json | structured
	NoColor       bool
	FailFast      bool
	HealthTimeout time.Duration
	Retry         int // retries after the first attempt, for transient failures
	RetryDelay    time.Duration
	StepTimeout   time.Duration
	Timeout       time.Duration // whole run; 0 = none
	KeepRunning   bool
	// PostgresDSNFile, when set, puts the in-process services on that
	// PostgreSQL instead of ephemeral SQLite (each in its own namespace).
	PostgresDSNFile string

	KMSURL, IdentityURL           string
	KMSDemoFile, IdentityDemoFile string
	CACert                        string

	demoFile string // --demo-file, resolved by validate
}

// UsageError is a bad command line: exit 2 with the usage.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

var errHelp = errors.New("help requested")

const usageHead = `usage: demo kms|identity|integration|all [flags]

Runs the Passthru scenarios: by default it starts the services in-process on
loopback TLS with ephemeral SQLite and demo data, runs every step, prints a
summary and stops the services. Point it at a running stack with the
--*-url, --*-demo-file and --ca-cert flags instead.

Exit status: 0 every step passed; 1 some passed, others failed or did not
run; 2 nothing passed, a fatal error, or a usage error.

flags (before or after the scenario):
`

// noColorUsage says exactly what step.Style does with --no-color.
const noColorUsage = "no colour or emoji (also: NO_COLOR or CI set, or output not a terminal); the progress spinner runs only on a terminal and never when CI is set"

func newFlagSet(o *Options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.Output, "output", "human", "report format: human, json (one document on stdout, progress on stderr) or structured (one JSON log line per event)")
	// The spinner is not covered: it only ever runs on a terminal, where it
	// is harmless, and stops under CI (step.Style).
	fs.BoolVar(&o.NoColor, "no-color", false, noColorUsage)
	fs.BoolVar(&o.FailFast, "fail-fast", false, "stop at the first failed step; later steps are reported as not run")
	fs.DurationVar(&o.HealthTimeout, "health-timeout", 30*time.Second, "how long to wait for each service's /readyz")
	fs.IntVar(&o.Retry, "retry", 2, "retries of a step after a transient failure (connection refused, HTTP 503)")
	fs.DurationVar(&o.RetryDelay, "retry-delay", 200*time.Millisecond, "wait before the first retry; doubles on each further retry")
	fs.DurationVar(&o.StepTimeout, "step-timeout", 30*time.Second, "time limit of one step, retries included")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "time limit of the whole run (0: none)")
	fs.BoolVar(&o.KeepRunning, "keep-running", false, "keep the in-process services up after the run and print URLs, credentials file and curl commands; Ctrl-C stops them")
	fs.StringVar(&o.PostgresDSNFile, "postgres-dsn-file", "", "file holding a PostgreSQL DSN: the in-process services store their data there instead of in ephemeral SQLite (the database should be empty or hold an earlier demo's data)")
	fs.StringVar(&o.KMSURL, "kms-url", "", "base URL of a running KMS (default: start one in-process)")
	fs.StringVar(&o.IdentityURL, "identity-url", "", "base URL of a running Identity provider (default: start one in-process)")
	fs.StringVar(&o.KMSDemoFile, "kms-demo-file", "", "demo.json of a running KMS (required with --kms-url; base URL and CA default to its contents)")
	fs.StringVar(&o.IdentityDemoFile, "identity-demo-file", "", "demo.json of a running Identity provider (required with --identity-url)")
	fs.Func("demo-file", "shorthand for --kms-demo-file or --identity-demo-file when one scenario is selected", func(s string) error {
		o.demoFile = s
		return nil
	})
	fs.StringVar(&o.CACert, "ca-cert", "", "CA bundle (PEM) trusted for running services (default: ca_file of each demo file)")
	return fs
}

// Usage prints the synopsis and every flag, GNU style (--flag), which the
// parser accepts as well as -flag.
func Usage(w io.Writer) {
	var o Options
	fmt.Fprint(w, usageHead)
	newFlagSet(&o, io.Discard).VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if typ == "value" {
			typ = "string"
		}
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, usage)
	})
}

// Parse reads the command line: the scenario name and flags, in any order.
// It returns errHelp for -h/--help and a *UsageError for anything wrong.
func Parse(args []string) (Options, error) {
	var o Options
	fs := newFlagSet(&o, io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, errHelp
			}
			return o, &UsageError{Msg: err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(positional) == 0:
		return o, &UsageError{Msg: "missing scenario: kms, identity, integration or all"}
	case len(positional) > 1:
		return o, &UsageError{Msg: fmt.Sprintf("unexpected argument %q after scenario %q", positional[1], positional[0])}
	}
	switch positional[0] {
	case "kms", "identity", "integration":
		o.Scenarios = []string{positional[0]}
	case "all":
		o.Scenarios = []string{"kms", "identity", "integration"}
	default:
		return o, &UsageError{Msg: fmt.Sprintf("unknown scenario %q: want kms, identity, integration or all", positional[0])}
	}
	if err := o.validate(); err != nil {
		return o, err
	}
	return o, nil
}

func (o *Options) validate() error {
	switch o.Output {
	case "human", "json", "structured":
	default:
		return &UsageError{Msg: fmt.Sprintf("--output %q: want human, json or structured", o.Output)}
	}
	if o.HealthTimeout <= 0 {
		return &UsageError{Msg: "--health-timeout must be positive"}
	}
	if o.Retry < 0 {
		return &UsageError{Msg: "--retry must be 0 or more"}
	}
	if o.RetryDelay < 0 || o.StepTimeout < 0 || o.Timeout < 0 {
		return &UsageError{Msg: "--retry-delay, --step-timeout and --timeout cannot be negative"}
	}
	if o.demoFile != "" {
		if len(o.Scenarios) != 1 || o.Scenarios[0] == "integration" {
			return &UsageError{Msg: "--demo-file is ambiguous with \"all\": use --kms-demo-file and --identity-demo-file"}
		}
		switch o.Scenarios[0] {
		case "kms":
			if o.KMSDemoFile != "" {
				return &UsageError{Msg: "give --demo-file or --kms-demo-file, not both"}
			}
			o.KMSDemoFile = o.demoFile
		case "identity":
			if o.IdentityDemoFile != "" {
				return &UsageError{Msg: "give --demo-file or --identity-demo-file, not both"}
			}
			o.IdentityDemoFile = o.demoFile
		}
	}
	if o.KMSURL != "" && o.KMSDemoFile == "" {
		return &UsageError{Msg: "--kms-url needs --kms-demo-file (or --demo-file): the demo credentials of that KMS"}
	}
	if o.IdentityURL != "" && o.IdentityDemoFile == "" {
		return &UsageError{Msg: "--identity-url needs --identity-demo-file (or --demo-file): the demo credentials of that Identity provider"}
	}
	if o.KeepRunning && !o.anyInProcess() {
		return &UsageError{Msg: "--keep-running keeps in-process services up, but every selected service is external"}
	}
	return nil
}

// External reports whether the service is targeted by flags rather than
// started in-process.
func (o *Options) External(service string) bool {
	switch service {
	case "kms":
		return o.KMSURL != "" || o.KMSDemoFile != ""
	case "identity":
		return o.IdentityURL != "" || o.IdentityDemoFile != ""
	}
	return false
}

// Services returns the services the selected scenarios need, in start
// order: Identity first, so that a KMS started in-process can trust it.
func (o *Options) Services() []string {
	need := map[string]bool{}
	for _, s := range o.Scenarios {
		if s == "integration" {
			need["kms"], need["identity"] = true, true
			continue
		}
		need[s] = true
	}
	var out []string
	for _, svc := range []string{"identity", "kms"} {
		if need[svc] {
			out = append(out, svc)
		}
	}
	return out
}

func (o *Options) anyInProcess() bool {
	for _, s := range o.Services() {
		if !o.External(s) {
			return true
		}
	}
	return false
}

// describeExternal prints where an external service is, for the log.
func (o *Options) describeExternal(service string) string {
	url, file := o.KMSURL, o.KMSDemoFile
	if service == "identity" {
		url, file = o.IdentityURL, o.IdentityDemoFile
	}
	parts := []string{}
	if url != "" {
		parts = append(parts, url)
	}
	parts = append(parts, "demo file "+file)
	return strings.Join(parts, ", ")
}
