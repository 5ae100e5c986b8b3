package serve

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// Main is a service binary: Run until SIGINT or SIGTERM, with the process
// environment. It returns the exit code.
func Main(svc *Service, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, svc, args, stdout, stderr, os.LookupEnv)
}

// Run is Main with the stop signal as a context and the environment as a
// lookup function (nil: os.LookupEnv), so tests can bound it: the common
// flags, --check-config, telemetry, Start, then serving until ctx ends or the
// server stops on its own, which is a failure. It returns the exit code:
// 0 clean stop, 1 failure, 2 usage error. A first argument "healthcheck"
// runs Healthcheck instead.
func Run(ctx context.Context, svc *Service, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	if len(args) > 0 && args[0] == HealthcheckCommand {
		return Healthcheck(ctx, svc, args[1:], stdout, stderr, env)
	}
	f, code, ok := config.ParseCommonFlags(config.Usage{
		Service: svc.Name, About: svc.About, DefaultListen: svc.DefaultListen,
		EnvPrefix: EnvPrefix(svc.Name), EnvVars: config.EnvNames(svc.Config, EnvPrefix(svc.Name)),
	}, args, stderr)
	if !ok {
		return code
	}
	opts := Options{
		ConfigPath: f.ConfigPath, Listen: f.Listen, DataDir: f.DataDir, Demo: f.Demo, ResetDemo: f.ResetDemo,
		Env: env, Stdout: stdout,
	}
	// The same resolution Start does (file, env, flags, mode), so
	// --check-config refuses exactly what a start would refuse before it
	// touches anything. Start resolves again on the loaded config, which is
	// why the file and environment are not read twice.
	path, err := Resolve(svc, opts)
	if f.CheckConfig {
		return config.CheckConfig(stdout, stderr, path, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid config: %v\n", svc.Name, err)
		return 1
	}
	opts.ConfigLoaded, opts.ConfigPath = true, path
	s := svc.Config.Common()
	tel, err := telemetry.New(ctx, telemetry.Options{
		Format: s.Log.Format, Level: s.Log.Level, Service: svc.Name,
		OTLPEndpoint: s.Log.OTLPEndpoint, CAFile: s.Log.OTLPCAFile, Output: stderr,
	})
	if err != nil {
		// telemetry's errors carry their own prefix; name the config keys.
		fmt.Fprintf(stderr, "%s: log.otlp_endpoint/log.otlp_ca_file: %v\n", svc.Name, err)
		return 1
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(tctx)
	}()
	opts.Logger = tel.Logger
	if s.Log.OTLPEndpoint != "" {
		opts.TracerProvider, opts.MeterProvider = tel.TracerProvider, tel.MeterProvider
	}

	inst, err := Start(ctx, svc, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: cannot start: %v\n", svc.Name, err)
		return 1
	}
	if err := inst.Wait(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", svc.Name, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: stopped\n", svc.Name)
	return 0
}
