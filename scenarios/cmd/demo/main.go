// Command demo runs the Passthru scenarios as a guided demo:
//
//	demo kms|identity|integration|all [flags]
//
// See package scenarios/demo and `demo -h`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/passthru-dev/passthru/scenarios/demo"
)

func main() {
	// Ctrl-C cancels the run: the current step ends, the rest are reported
	// as not run, and the in-process services shut down cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
