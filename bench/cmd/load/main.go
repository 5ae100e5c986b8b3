// Command load is the load harness behind `make load`: it starts the demo
// services in a child process (or targets running ones), drives the KMS and
// Identity endpoints over loopback TLS, and prints latency, throughput and
// the server's CPU time per request as a table and as benchstat lines.
//
//	load [-n 10000] [-c 100] [-endpoints all] [-out FILE] ...
//
// See package bench/load and `load -h`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/passthru-dev/passthru/bench/load"
)

func main() {
	// Ctrl-C ends the run; the child services are stopped on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := load.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
