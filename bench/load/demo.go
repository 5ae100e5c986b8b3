package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DemoOptions start the services as `demo integration --keep-running`: an
// Identity provider and a KMS that trusts it, with demo data, in a child
// process.
type DemoOptions struct {
	Binary string // the built scenarios/cmd/demo
	// PostgresDSNFile, when set, puts both services on that PostgreSQL
	// (the file holds the DSN); otherwise they use ephemeral SQLite.
	PostgresDSNFile string
	// StartTimeout bounds the start, the demo's own scenario steps
	// included.
	StartTimeout time.Duration
}

// Demo is the running child process.
type Demo struct {
	PID                       int
	KMSDemoFile, IdentityFile string
	cmd                       *exec.Cmd
	done                      chan struct{} // closed when the process has exited
	waitErr                   error
}

// readyLine is what the demo prints once its services are up and its
// scenario steps have passed.
const readyLine = "Press Ctrl-C to stop the services."

// StartDemo starts the demo and waits until it is ready.
func StartDemo(ctx context.Context, o DemoOptions) (*Demo, error) {
	args := []string{"integration", "--keep-running", "--no-color"}
	if o.PostgresDSNFile != "" {
		args = append(args, "--postgres-dsn-file", o.PostgresDSNFile)
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("demo stdout: %w", err)
	}
	cmd.Stderr = cmd.Stdout // one stream: a start failure is explained in order
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start demo %s: %w", o.Binary, err)
	}
	d := &Demo{PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	lines := make(chan string)
	// quit ends the hand-over of lines: once StartDemo returns, the reader
	// only drains the pipe, so the demo never blocks on a full one.
	quit := make(chan struct{})
	var quitOnce sync.Once
	stopReading := func() { quitOnce.Do(func() { close(quit) }) }
	defer stopReading()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	fail := func(err error) (*Demo, error) {
		stopReading()
		_ = d.Stop()
		return nil, err
	}
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var p demoOutput
	var tail tailBuffer
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-d.done
				return nil, fmt.Errorf("the demo exited before it was ready (%v); its output:\n%s", d.waitErr, tail.String())
			}
			tail.add(line)
			if !p.line(line) {
				continue
			}
			if p.kms == "" || p.identity == "" {
				return fail(fmt.Errorf("the demo is ready but did not name both demo.json files; its output:\n%s", tail.String()))
			}
			d.KMSDemoFile, d.IdentityFile = p.kms, p.identity
			return d, nil
		case <-timer.C:
			return fail(fmt.Errorf("the demo was not ready within %s; its output:\n%s", timeout, tail.String()))
		case <-ctx.Done():
			return fail(fmt.Errorf("start demo: %w", ctx.Err()))
		}
	}
}

// Stop interrupts the demo (it removes its data on the way out) and kills
// it if it has not exited within 20 seconds.
func (d *Demo) Stop() error {
	select {
	case <-d.done:
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.done:
		var exit *exec.ExitError
		if d.waitErr != nil && !errors.As(d.waitErr, &exit) {
			return fmt.Errorf("stop demo: %w", d.waitErr)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		return errors.New("stop demo: no exit 20s after SIGINT; killed")
	}
}

// demoOutput follows the --keep-running text: a "KMS" or "Identity"
// heading, then that service's "demo credentials: <path>".
type demoOutput struct {
	section       string
	kms, identity string
}

// line reads one line and reports whether it is the ready line.
func (p *demoOutput) line(l string) bool {
	switch strings.TrimSpace(l) {
	case "KMS":
		p.section = "kms"
	case "Identity":
		p.section = "identity"
	case readyLine:
		return true
	}
	if path, ok := strings.CutPrefix(strings.TrimSpace(l), "demo credentials:"); ok {
		switch p.section {
		case "kms":
			p.kms = strings.TrimSpace(path)
		case "identity":
			p.identity = strings.TrimSpace(path)
		}
	}
	return false
}

// tailBuffer keeps the last lines of the demo's output for error messages.
type tailBuffer struct {
	lines []string
}

const tailLines = 40

func (t *tailBuffer) add(l string) {
	t.lines = append(t.lines, l)
	if len(t.lines) > tailLines {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) String() string {
	return strings.Join(t.lines, "\n")
}
