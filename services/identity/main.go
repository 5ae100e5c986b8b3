package identity

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// Main is the identity binary: parse flags, start, serve until SIGINT or
// SIGTERM. It returns the process exit code (0 ok, 1 failure, 2 usage).
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configPath  = fs.String("config", "", "YAML config file (default: search "+strings.Join(config.SearchPaths("identity"), ", ")+")")
		listen      = fs.String("listen", "", "listen address (default "+DefaultListen+")")
		dataDir     = fs.String("data-dir", "", "data directory (SQLite database, demo PKI, demo.json)")
		demo        = fs.Bool("demo", false, "seed demo tenants, users and clients and write <data-dir>/demo.json")
		resetDemo   = fs.Bool("reset-demo", false, "wipe the demo data and seed it again (implies --demo)")
		checkConfig = fs.Bool("check-config", false, "validate the configuration and exit")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: identity [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "identity: unexpected arguments: %v\n", fs.Args())
		return 2
	}
	opts := Options{
		ConfigPath: *configPath, Listen: *listen, DataDir: *dataDir,
		Demo: *demo || *resetDemo, ResetDemo: *resetDemo, Stdout: stdout,
	}

	// The same resolution Start does (file, env, flags, mode), so
	// --check-config refuses exactly what a start would refuse before it
	// touches anything; Start validates again.
	cfg, path, err := resolveConfig(opts)
	if *checkConfig {
		return config.CheckConfig(stdout, path, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "identity: invalid config: %v\n", err)
		return 1
	}
	// Start resolves the configuration again (startup validates too) and
	// reports the config file it used.
	logger, stopTelemetry, err := setupTelemetry(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "identity: %v\n", err)
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTelemetry(ctx)
	}()
	opts.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	inst, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "identity: cannot start: %v\n", err)
		return 1
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case <-inst.Done():
		serveErr = inst.Err()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := inst.Shutdown(sctx); err != nil && serveErr == nil {
		serveErr = err
	}
	if serveErr != nil {
		fmt.Fprintf(stderr, "identity: %v\n", serveErr)
		return 1
	}
	return 0
}

// setupTelemetry builds the logger and, with an OTLP endpoint, the exporters.
// The collector is reached over TLS 1.3 trusting only the configured CA
// bundle (log.otlp_ca_file), never the system roots.
func setupTelemetry(c LogConfig, w io.Writer) (*slog.Logger, func(context.Context) error, error) {
	// Config validation has already required the CA bundle with an endpoint.
	opts := telemetry.Options{Format: c.Format, Level: c.Level, Service: "identity", OTLPEndpoint: c.OTLPEndpoint, CAFile: c.OTLPCAFile, Output: w}
	logger, stop, err := telemetry.Setup(context.Background(), opts)
	if err != nil {
		// telemetry's errors carry their own prefix; name the config keys.
		return nil, nil, fmt.Errorf("log.otlp_endpoint/log.otlp_ca_file: %w", err)
	}
	return logger, stop, nil
}
