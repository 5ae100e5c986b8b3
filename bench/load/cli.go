package load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Exit codes of Main.
const (
	ExitOK     = 0 // every request and check succeeded
	ExitErrors = 1 // the run finished, but some requests or checks failed
	ExitFailed = 2 // usage error, or the run could not be made
)

// EnvPGDSN names a PostgreSQL server: when set, the services started by
// the harness run on a fresh database there.
const EnvPGDSN = "PASSTHRU_TEST_PG_DSN"

type options struct {
	cfg                         Config
	timeout                     time.Duration
	endpoints                   string
	demoBin                     string
	db                          string
	kmsFile, identityFile       string
	kmsURL, identityURL, caFile string
	serverPID                   int
	out                         string
	coldSet                     bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.cfg.Requests, "n", 10000, "measured requests per endpoint")
	fs.IntVar(&o.cfg.Count, "count", 1, "measured phases per endpoint, each its own row and benchstat line (6 give benchstat a confidence interval)")
	fs.IntVar(&o.cfg.Conns, "c", 100, "concurrent requests, each on its own HTTP/1.1 connection (per service)")
	fs.IntVar(&o.cfg.Warmup, "warmup", -1, "unmeasured requests per endpoint before its measured phase (default: 2 × -c)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "time limit of the whole run, service start included (with -soak and no -timeout: the soak + 5m)")
	fs.DurationVar(&o.cfg.RequestTimeout, "request-timeout", 10*time.Second, "time limit of one request")
	fs.StringVar(&o.endpoints, "endpoints", "all", "comma-separated endpoints (kms-encrypt) or endpoint/auth (kms-encrypt/bearer); all: every one")
	fs.DurationVar(&o.cfg.Cold, "cold", 3*time.Second, "length of the cold-start phase right after the services start (kms-encrypt/basic on new connections and uncached credentials); 0: none")
	fs.DurationVar(&o.cfg.Soak, "soak", 0, "instead of -n requests per endpoint, cycle through the endpoints at -rate for this long (6m crosses the credential caches' 5-minute idle expiry)")
	fs.Float64Var(&o.cfg.Rate, "rate", 50, "requests per second of a -soak run (an upper bound)")
	fs.Float64Var(&o.cfg.MaxRSSGrowth, "max-rss-growth", 0, "fail a -soak run whose server RSS grows by more than this many percent from its start (after the warm-up) to its end (0: no limit)")
	fs.StringVar(&o.demoBin, "demo-bin", "bin/demo", "the demo binary (go build -o bin/demo ./scenarios/cmd/demo) that starts the services")
	fs.StringVar(&o.db, "db", "auto", "sqlite or postgres for started services (auto: postgres when "+EnvPGDSN+" is set); with running services, only the label of the output")
	fs.StringVar(&o.kmsFile, "kms-demo-file", "", "demo.json of a running KMS: measure it instead of starting the services (needs -identity-demo-file)")
	fs.StringVar(&o.identityFile, "identity-demo-file", "", "demo.json of the running Identity provider the KMS trusts")
	fs.StringVar(&o.kmsURL, "kms-url", "", "base URL of the running KMS (default: from its demo.json)")
	fs.StringVar(&o.identityURL, "identity-url", "", "base URL of the running Identity provider (default: from its demo.json)")
	fs.StringVar(&o.caFile, "ca-file", "", "CA bundle of the running services (default: from the KMS demo.json)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "pid of the running services' process, for the CPU and RSS columns (0: none)")
	fs.StringVar(&o.out, "out", "", "write the benchstat lines to this file (default: after the table on stdout)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) {
		o.coldSet = o.coldSet || f.Name == "cold"
		timeoutSet = timeoutSet || f.Name == "timeout"
	})
	if o.cfg.Soak > 0 && !timeoutSet {
		// The default limit leaves the start and the warm-up 5 minutes
		// beside a soak of any length.
		o.timeout = o.cfg.Soak + 5*time.Minute
	}
	if o.cfg.Warmup < 0 {
		o.cfg.Warmup = 2 * o.cfg.Conns
	}
	if o.endpoints != "" {
		o.cfg.Endpoints = strings.Split(o.endpoints, ",")
	}
	if (o.kmsFile == "") != (o.identityFile == "") {
		return nil, errors.New("-kms-demo-file and -identity-demo-file go together")
	}
	if o.timeout <= 0 {
		return nil, errors.New("-timeout must be positive")
	}
	if o.cfg.Soak > 0 && o.cfg.Soak >= o.timeout {
		return nil, fmt.Errorf("-soak %s does not fit in -timeout %s", o.cfg.Soak, o.timeout)
	}
	if o.cfg.MaxRSSGrowth > 0 && o.external() && o.serverPID == 0 {
		return nil, errors.New("-max-rss-growth on running services needs -server-pid")
	}
	switch o.db {
	case "auto", "sqlite", "postgres":
	default:
		if o.external() {
			break // a label only
		}
		return nil, fmt.Errorf("-db %q: want auto, sqlite or postgres", o.db)
	}
	return o, o.cfg.validate()
}

func (o *options) external() bool { return o.kmsFile != "" }

// Main runs the harness with the command line args and returns the exit
// code. getenv reads the environment (os.Getenv outside tests).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return ExitFailed
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	rep, err := o.run(ctx, stderr, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return ExitFailed
	}
	if err := WriteTable(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return ExitFailed
	}
	if err := o.writeBenchstat(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return ExitFailed
	}
	code := ExitOK
	if n := rep.Errors(); n > 0 {
		fmt.Fprintf(stderr, "load: %d failed requests or checks\n", n)
		code = ExitErrors
	}
	if msg := rep.RSSProblem(); msg != "" {
		fmt.Fprintf(stderr, "load: %s\n", msg)
		code = ExitErrors
	}
	return code
}

// run starts the services when no running ones are named, and measures.
func (o *options) run(ctx context.Context, progress io.Writer, getenv func(string) string) (*Report, error) {
	o.cfg.Progress = progress
	o.cfg.ClockTicks = ClockTicks()
	if o.external() {
		tgt, err := TargetFromDemoFiles(o.kmsFile, o.identityFile, o.kmsURL, o.identityURL, o.caFile)
		if err != nil {
			return nil, err
		}
		if o.serverPID > 0 {
			o.cfg.Proc = &ProcReader{Root: "/proc", PID: o.serverPID}
		}
		if !o.coldSet {
			o.cfg.Cold = 0 // services that have run before are not cold
		}
		o.cfg.DB = o.db
		if o.db == "auto" {
			o.cfg.DB = "unknown"
		}
		return Run(ctx, o.cfg, tgt)
	}
	demo := DemoOptions{Binary: o.demoBin}
	o.cfg.DB = o.db
	if o.db == "auto" {
		o.cfg.DB = "sqlite"
		if getenv(EnvPGDSN) != "" {
			o.cfg.DB = "postgres"
		}
	}
	if o.cfg.DB == "postgres" {
		dsn := getenv(EnvPGDSN)
		if dsn == "" {
			return nil, fmt.Errorf("-db postgres needs %s", EnvPGDSN)
		}
		pg, err := CreatePostgresDatabase(ctx, dsn)
		if err != nil {
			return nil, err
		}
		// A failed clean-up is worth a warning, not the measurements.
		defer func() {
			if err := pg.Drop(); err != nil {
				fmt.Fprintf(progress, "load: warning: %v\n", err)
			}
		}()
		demo.PostgresDSNFile = pg.DSNFile
	}
	fmt.Fprintf(progress, "Starting the services (%s integration --keep-running, %s)...\n", o.demoBin, o.cfg.DB)
	d, err := StartDemo(ctx, demo)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := d.Stop(); err != nil {
			fmt.Fprintf(progress, "load: warning: %v\n", err)
		}
	}()
	tgt, err := TargetFromDemoFiles(d.KMSDemoFile, d.IdentityFile, "", "", "")
	if err != nil {
		return nil, err
	}
	o.cfg.Proc = &ProcReader{Root: "/proc", PID: d.PID}
	load := fmt.Sprintf("-n %d", o.cfg.Requests)
	if o.cfg.Soak > 0 {
		load = fmt.Sprintf("-soak %s at -rate %g", o.cfg.Soak, o.cfg.Rate)
	}
	fmt.Fprintf(progress, "Measuring (pid %d, %s, -c %d, HTTP/1.1, TLS 1.3):\n", d.PID, load, o.cfg.Conns)
	return Run(ctx, o.cfg, tgt)
}

// writeBenchstat writes the benchstat lines to -out, or after the table.
func (o *options) writeBenchstat(stdout io.Writer, rep *Report) error {
	header := map[string]string{
		"goos": runtime.GOOS, "goarch": runtime.GOARCH, "pkg": "github.com/passthru-dev/passthru/bench/load",
		"cpu": cpuModel(), "load-conns": fmt.Sprint(o.cfg.Conns), "load-protocol": "HTTP/1.1 TLS1.3",
	}
	order := []string{"goos", "goarch", "pkg", "cpu", "load-conns", "load-protocol"}
	if o.out == "" {
		fmt.Fprintln(stdout, "\nbenchstat:")
		return WriteBenchstat(stdout, rep, header, order)
	}
	f, err := os.Create(o.out)
	if err != nil {
		return fmt.Errorf("create -out: %w", err)
	}
	if err := WriteBenchstat(f, rep, header, order); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write -out: %w", err)
	}
	return nil
}

// cpuModel is the "model name" of /proc/cpuinfo, as go test prints it.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
