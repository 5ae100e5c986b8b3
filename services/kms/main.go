package kms

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	fs := flag.NewFlagSet("kms", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts Options
	var checkConfig bool
	fs.StringVar(&opts.ConfigPath, "config", "", "YAML config file (default: search /etc/passthru/kms.yml, then $XDG_CONFIG_HOME/passthru/kms.yml)")
	fs.StringVar(&opts.Listen, "listen", "", "listen address (default "+DefaultListen+")")
	fs.StringVar(&opts.DataDir, "data-dir", "", "data directory (SQLite database, demo CA, unseal secret, demo.json); demo default: a fresh temp dir")
	fs.BoolVar(&opts.Demo, "demo", false, "demo mode: generate CA chain, unseal secret and database; seed demo tenants, users and keys")
	fs.BoolVar(&opts.ResetDemo, "reset-demo", false, "delete all demo tenants and their data, then seed fresh ones (implies --demo)")
	fs.BoolVar(&checkConfig, "check-config", false, "validate the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kms [flags]\n\nThe Passthru KMS.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kms: unexpected arguments: %v\n", fs.Args())
		return 2
	}
	cfg, path, err := LoadConfig(opts.ConfigPath, nil)
	if checkConfig {
		return config.CheckConfig(stdout, path, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kms: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger, shutdownTelemetry, err := telemetry.Setup(ctx, telemetry.Options{
		Format: firstOf(cfg.Log.Format, "text"), Level: cfg.Log.Level, Service: "kms", Output: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "kms: telemetry: %v\n", err)
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
