package server

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/passthru-dev/passthru/services/infra/serve"
)

// Main is the KMS binary: serve.Main with the KMS until SIGINT or SIGTERM.
// It returns the process exit code (0 clean stop, 1 failure, 2 usage).
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

// run is Main with the stop signal as a context and the environment as a
// lookup function, so tests can bound it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	return serve.Main(ctx, newServer(nil).service(), args, stdout, stderr, env)
}
