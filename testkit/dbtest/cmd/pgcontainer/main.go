// Command pgcontainer starts testkit/dbtest's PostgreSQL container for a
// whole test run, so the run's test processes share one server instead of
// starting one each: ci/test.sh starts it, exports PASSTHRU_TEST_PG_DSN for
// `go test` and stops it when the run ends.
//
//	pgcontainer [-image IMAGE] [-pull] [-dsn-file FILE] [-v]
//
// Once the server accepts connections it prints its DSN (one line) on
// standard output and, with -dsn-file, writes it to FILE (created whole, mode
// 0600). It then runs until SIGINT or SIGTERM, or until its parent process
// ends (so a killed script cannot leave the server running), and removes the
// container before it exits. Killed itself, the container still ends within
// moments (see dbtest.StartContainer).
//
// Exit status: 0 after a stop, 1 on a failure, 2 on a usage error, 3 when
// PostgreSQL cannot be had here: no Docker engine, or the image is not
// present (and, with -pull, could not be pulled); the message says how to
// build the local one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnavailable = 3
)

func main() {
	// testcontainers prints a banner about the Docker engine through its
	// process-wide logger; this command's output is its DSN and its errors.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv, parentGone(os.Getppid(), time.Second), start))
}

// server is the part of *dbtest.Container run uses.
type server interface {
	DSN() string
	Terminate(ctx context.Context) error
}

// start is the real container start.
func start(ctx context.Context, cfg dbtest.ContainerConfig) (server, error) {
	return dbtest.StartContainer(ctx, cfg)
}

// parentGone returns a channel closed once this process's parent is no
// longer parent (it ended, and the process was reparented), polled every
// interval.
func parentGone(parent int, interval time.Duration) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		for os.Getppid() == parent {
			time.Sleep(interval)
		}
		close(gone)
	}()
	return gone
}

// Timeouts: starting covers initdb and two server starts (seconds; minutes
// only when Docker hangs); stopping covers PostgreSQL's fast shutdown.
const (
	startTimeout = 3 * time.Minute
	stopTimeout  = time.Minute
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string,
	parentGone <-chan struct{}, start func(context.Context, dbtest.ContainerConfig) (server, error)) int {
	fs := flag.NewFlagSet("pgcontainer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defImage := getenv(dbtest.EnvPGImage)
	if defImage == "" {
		defImage = dbtest.DefaultPGImage
	}
	image := fs.String("image", defImage, "PostgreSQL image (default: $"+dbtest.EnvPGImage+", else "+dbtest.DefaultPGImage+")")
	pull := fs.Bool("pull", false, "try one pull when the image is not present locally")
	dsnFile := fs.String("dsn-file", "", "also write the DSN to this file (mode 0600)")
	verbose := fs.Bool("v", false, "print testcontainers' progress on standard error")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgcontainer: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg := dbtest.ContainerConfig{Image: *image, Pull: *pull}
	if *verbose {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	srv, err := start(sctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "pgcontainer: %v\n", err)
		if errors.Is(err, dbtest.ErrNoDocker) || errors.Is(err, dbtest.ErrImageMissing) {
			return exitUnavailable
		}
		return exitFailure
	}
	code := exitOK
	if err := announce(srv.DSN(), stdout, *dsnFile); err != nil {
		fmt.Fprintf(stderr, "pgcontainer: %v\n", err)
		code = exitFailure
	} else {
		select {
		case <-ctx.Done():
		case <-parentGone:
		}
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := srv.Terminate(tctx); err != nil {
		fmt.Fprintf(stderr, "pgcontainer: %v\n", err)
		return exitFailure
	}
	return code
}

// announce prints the DSN and writes it to file (when set) whole: a reader
// polling for the file never sees half a line.
func announce(dsn string, stdout io.Writer, file string) error {
	if _, err := fmt.Fprintln(stdout, dsn); err != nil {
		return fmt.Errorf("print the DSN: %w", err)
	}
	if file == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".pgcontainer-dsn-*")
	if err != nil {
		return fmt.Errorf("write the DSN file: %w", err)
	}
	_, werr := fmt.Fprintln(tmp, dsn)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write the DSN file: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write the DSN file: %w", err)
	}
	return nil
}
