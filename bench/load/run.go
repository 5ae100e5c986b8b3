// Package load is the load harness behind `make load`: it drives the KMS
// and Identity endpoints over loopback TLS with a bounded number of
// requests and connections, verifies every answer, and reports latency
// percentiles, throughput and the server process's CPU time per request
// and resident memory, as a table and as benchstat-compatible lines.
//
// The services are a child process (the demo binary with --keep-running),
// so their CPU time and memory can be read from /proc without the
// harness's own work mixed in. The demo serves the KMS and Identity from
// one process, so the CPU time of a phase is that process's, whichever
// service the phase calls.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Config is one run.
type Config struct {
	Requests int // per scenario and measured phase
	// Count is how many measured phases each scenario gets (each its own
	// row and benchstat line; benchstat wants 6 for a confidence interval).
	Count int
	Conns int // concurrent requests = TCP connections per service
	// Warmup requests per scenario run before its measured phase: the
	// connections are open and the credentials verified once.
	Warmup         int
	RequestTimeout time.Duration
	Endpoints      []string // Select's syntax; empty: all
	// Cold, when positive, measures kms-encrypt/basic for this long before
	// anything else has run: new connections, credentials not yet cached.
	Cold time.Duration
	// Soak, when positive, replaces the per-scenario phases by one phase of
	// this length that cycles through the scenarios at Rate requests per
	// second (long enough, it crosses the credential caches' idle expiry and
	// shows whether anything expires into a burst).
	Soak time.Duration
	Rate float64
	// MaxRSSGrowth, when positive, fails a soak run whose server RSS grew
	// by more than this many percent from the start of the soak (after the
	// warm-up) to its end. It needs Proc.
	MaxRSSGrowth float64
	DB           string // the database label of the output (sqlite, postgres)
	// Proc reads the server process; nil: no CPU or RSS columns.
	Proc       *ProcReader
	ClockTicks int64     // USER_HZ (ClockTicks())
	Progress   io.Writer // one line per phase; nil: none
}

// Result is one row of the report.
type Result struct {
	Phase    string // "cold", "load" or "soak"
	Endpoint string
	Auth     string
	Summary
	ErrorSamples []string
	CPUPerOp     time.Duration // server CPU time per request; 0 without Proc
	RSSBytes     uint64        // server VmRSS at the end of the phase
	HasProc      bool
}

// Name is the row's scenario name.
func (r Result) Name() string { return r.Endpoint + "/" + r.Auth }

// Report is a whole run.
type Report struct {
	Config  Config
	Results []Result
	Windows []Window // soak only
	// SoakRSS is the server's VmRSS at the start of the soak (after the
	// warm-up) and at its end; zero without Proc.
	SoakRSS struct{ Start, End uint64 }
}

// RSSGrowth is the soak's RSS growth in percent of its start; ok is false
// when there was no soak with a server process to read.
func (r *Report) RSSGrowth() (growth float64, ok bool) {
	if r.SoakRSS.Start == 0 {
		return 0, false
	}
	return (float64(r.SoakRSS.End) - float64(r.SoakRSS.Start)) / float64(r.SoakRSS.Start) * 100, true
}

// RSSProblem says why the soak's RSS growth fails Config.MaxRSSGrowth,
// "" when it does not (or no limit is set).
func (r *Report) RSSProblem() string {
	growth, ok := r.RSSGrowth()
	if r.Config.MaxRSSGrowth <= 0 || !ok || growth <= r.Config.MaxRSSGrowth {
		return ""
	}
	return fmt.Sprintf("server RSS grew %.1f%% during the soak (%.1f MB to %.1f MB), more than -max-rss-growth %g%%",
		growth, megabytes(r.SoakRSS.Start), megabytes(r.SoakRSS.End), r.Config.MaxRSSGrowth)
}

// Errors is the number of failed requests and checks of the run.
func (r *Report) Errors() int {
	n := 0
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// Run measures the target. ctx bounds the whole run. A non-nil error means
// the run could not be made (setup failed); failed requests are counted in
// the report instead.
func Run(ctx context.Context, cfg Config, tgt *Target) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client, err := NewClient(tgt.CAFile, cfg.Conns, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	s, err := newSession(client, tgt)
	if err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg}
	if cfg.Cold > 0 {
		// The demo's own key: this phase runs before the harness has
		// created or prepared anything.
		key, err := tgt.KMS.Tenants[0].KeyByAlgorithm("A256GCM")
		if err != nil {
			return nil, fmt.Errorf("cold phase: %w", err)
		}
		body := mustJSON(map[string][]byte{"plaintext": make([]byte, payloadSize)})
		writer := basic(s.writer.Username, s.writer.Password)
		cold := &Scenario{Endpoint: "kms-encrypt", Auth: "basic", Do: func(ctx context.Context, _ int) error {
			status, resp, err := s.kmsOp(ctx, key.ID, "encrypt", body, writer)
			if err != nil {
				return err
			}
			_, err = verifyEncrypt(status, resp)
			return err
		}}
		res, err := cfg.phase(ctx, "cold", cold, func() phaseResult { return runFor(ctx, cold.Do, cfg.Cold, cfg.Conns) })
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, res)
	}
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("prepare keys and inputs: %w", err)
	}
	n := cfg.Requests
	if cfg.Soak > 0 {
		n = int(cfg.Rate * cfg.Soak.Seconds())
	}
	scs, err := Select(s.scenarios(ctx, n), cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	if cfg.Soak > 0 {
		for _, sc := range scs {
			if err := cfg.warmUp(ctx, sc); err != nil {
				return nil, err
			}
		}
		if err := cfg.soak(ctx, scs, rep); err != nil {
			return nil, err
		}
		return rep, nil
	}
	for _, sc := range scs {
		if err := cfg.warmUp(ctx, sc); err != nil {
			return nil, err
		}
		for range max(cfg.Count, 1) {
			res, err := cfg.phase(ctx, "load", sc, func() phaseResult { return runCount(ctx, sc.Do, cfg.Requests, cfg.Conns) })
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

// warmUp runs the scenario's unmeasured requests: afterwards the
// connections are open and its credentials have been verified once. A
// failure there stops the run: the phase would only measure errors.
func (cfg *Config) warmUp(ctx context.Context, sc *Scenario) error {
	if cfg.Warmup == 0 {
		return nil
	}
	warm := runCount(ctx, sc.Do, cfg.Warmup, cfg.Conns)
	if warm.errors > 0 {
		return fmt.Errorf("warm-up of %s: %d of %d requests failed, first: %s", sc.Name(), warm.errors, cfg.Warmup, warm.samples[0])
	}
	return nil
}

func (cfg *Config) validate() error {
	switch {
	case cfg.Requests <= 0 || cfg.Conns <= 0:
		return errors.New("requests and connections must be positive")
	case cfg.Count < 0:
		return errors.New("count cannot be negative")
	case cfg.Warmup < 0:
		return errors.New("warm-up cannot be negative")
	case cfg.RequestTimeout <= 0:
		return errors.New("the request timeout must be positive")
	case cfg.Soak > 0 && cfg.Rate <= 0:
		return errors.New("a soak run needs a positive rate")
	case cfg.MaxRSSGrowth < 0:
		return errors.New("the RSS growth limit cannot be negative")
	case cfg.MaxRSSGrowth > 0 && cfg.Soak <= 0:
		return errors.New("an RSS growth limit needs a soak run (-soak)")
	}
	return nil
}

// phase runs one measured phase between two readings of the server
// process, then the scenario's after-the-fact check.
func (cfg *Config) phase(ctx context.Context, name string, sc *Scenario, measure func() phaseResult) (Result, error) {
	before, err := cfg.readProc()
	if err != nil {
		return Result{}, err
	}
	pr := measure()
	after, err := cfg.readProc()
	if err != nil {
		return Result{}, err
	}
	if sc.Check != nil {
		if err := sc.Check(ctx); err != nil {
			pr.errors++
			pr.samples = append(pr.samples, err.Error())
		}
	}
	res := Result{Phase: name, Endpoint: sc.Endpoint, Auth: sc.Auth, ErrorSamples: pr.samples}
	res.Summary = Summarize(pr.latencies, pr.errors, pr.elapsed)
	cfg.fillProc(&res, before, after, res.Requests)
	cfg.progress(res)
	return res, nil
}

func (cfg *Config) readProc() (ProcUsage, error) {
	if cfg.Proc == nil {
		return ProcUsage{}, nil
	}
	return cfg.Proc.Read()
}

// fillProc sets the CPU time per request and the RSS from two readings.
func (cfg *Config) fillProc(res *Result, before, after ProcUsage, requests int) {
	if cfg.Proc == nil || requests == 0 {
		return
	}
	res.HasProc = true
	ticks := after.CPUTicks - before.CPUTicks
	res.CPUPerOp = CPUTime(ticks, cfg.ClockTicks) / time.Duration(requests)
	res.RSSBytes = after.RSSBytes
}

// CPUTime converts clock ticks at hz per second to a duration.
func CPUTime(ticks uint64, hz int64) time.Duration {
	if hz <= 0 {
		hz = defaultClockTicks
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz)
}

func (cfg *Config) progress(r Result) {
	if cfg.Progress == nil {
		return
	}
	fmt.Fprintf(cfg.Progress, "  %-5s %-28s %6d requests, %d errors, p99 %s ms\n", r.Phase, r.Name(), r.Requests, r.Errors, ms(r.P99))
}
