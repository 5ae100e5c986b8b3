package kms

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// Main is the KMS binary: flags, Start, then wait for SIGINT or SIGTERM.
// It returns the process exit code (0 clean stop, 1 failure, 2 usage).
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

// run is Main with the stop signal as a context and the environment as a
// lookup function, so tests can bound it: a server that starts when it
// should have refused stops at the test's deadline instead of hanging.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	f, code, ok := config.ParseCommonFlags("kms", "The Passthru KMS.", DefaultListen, args, stderr)
	if !ok {
		return code
	}
	opts := Options{ConfigPath: f.ConfigPath, Listen: f.Listen, DataDir: f.DataDir, Demo: f.Demo, ResetDemo: f.ResetDemo}
	opts.Env = env
	// The same resolution Start does (file, env, flags, mode), so
	// --check-config refuses exactly what a start would refuse before it
	// touches anything; Start validates again.
	cfg, path, err := ResolveConfig(opts)
	if f.CheckConfig {
		return config.CheckConfig(stdout, path, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kms: invalid config: %v\n", err)
		return 1
	}
	logger, shutdownTelemetry, err := setupTelemetry(ctx, cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kms: %v\n", err)
		return 1
	}
	defer func() { _ = shutdownTelemetry(context.Background()) }()
	opts.Logger = logger
	opts.Stdout = stdout
	inst, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "kms: cannot start: %v\n", err)
		return 1
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "kms: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := inst.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "kms: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// setupTelemetry builds the logger and, with an OTLP endpoint, the exporters.
// The collector is reached over TLS 1.3 trusting only the configured CA
// bundle (log.otlp_ca_file), never the system roots.
func setupTelemetry(ctx context.Context, c config.Log, w io.Writer) (*slog.Logger, func(context.Context) error, error) {
	// ResolveConfig has checked every value (format, level, https endpoint
	// with its CA bundle); what is left to fail is reading the bundle.
	opts := telemetry.Options{Format: firstOf(c.Format, "text"), Level: c.Level, Service: "kms", OTLPEndpoint: c.OTLPEndpoint, CAFile: c.OTLPCAFile, Output: w}
	logger, stop, err := telemetry.Setup(ctx, opts)
	if err != nil {
		// telemetry's errors carry their own prefix; name the config keys.
		return nil, nil, fmt.Errorf("log.otlp_endpoint/log.otlp_ca_file: %w", err)
	}
	return logger, stop, nil
}
