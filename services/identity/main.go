package identity

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

// Main is the identity binary: parse flags, start, serve until SIGINT or
// SIGTERM. It returns the process exit code (0 ok, 1 failure, 2 usage).
func Main(args []string, stdout, stderr io.Writer) int {
	f, code, ok := config.ParseCommonFlags("identity", "The Passthru Identity provider (OAuth 2.1 / OpenID Connect).", DefaultListen, args, stderr)
	if !ok {
		return code
	}
	opts := Options{
		ConfigPath: f.ConfigPath, Listen: f.Listen, DataDir: f.DataDir,
		Demo: f.Demo, ResetDemo: f.ResetDemo, Stdout: stdout,
	}

	// The same resolution Start does (file, env, flags, mode), so
	// --check-config refuses exactly what a start would refuse before it
	// touches anything; Start validates again.
	cfg, path, err := resolveConfig(opts)
	if f.CheckConfig {
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
func setupTelemetry(c config.Log, w io.Writer) (*slog.Logger, func(context.Context) error, error) {
	// Config validation has already required the CA bundle with an endpoint.
	opts := telemetry.Options{Format: c.Format, Level: c.Level, Service: "identity", OTLPEndpoint: c.OTLPEndpoint, CAFile: c.OTLPCAFile, Output: w}
	logger, stop, err := telemetry.Setup(context.Background(), opts)
	if err != nil {
		// telemetry's errors carry their own prefix; name the config keys.
		return nil, nil, fmt.Errorf("log.otlp_endpoint/log.otlp_ca_file: %w", err)
	}
	return logger, stop, nil
}
