// Package procs runs the real KMS and Identity servers as separate OS
// processes on loopback TLS, for tests that need what an in-process fixture
// cannot give: a SIGKILL that takes the whole process (open transactions,
// buffers, goroutines) down at once, a restart on the same data directory
// and database, and replicas sharing both.
//
// A child is the test binary itself, re-executed with an environment
// variable that makes RunIfChild run the service's Main (the same code as
// the kms and identity binaries, configured by a YAML file as an operator
// would), so no separate build is needed. A package using procs must
// therefore call RunIfChild first thing in its TestMain:
//
//	func TestMain(m *testing.M) {
//		procs.RunIfChild()
//		os.Exit(m.Run())
//	}
//
// Children run in demo mode (seeded tenants, users, keys and clients, a
// demo CA, demo.json in the data directory) and are killed when the test
// ends; on Linux they are also killed when the test process dies.
package procs

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// Service names a server the harness can run.
type Service string

// The services.
const (
	KMS      Service = "kms"
	Identity Service = "identity"
)

// envService makes the re-executed test binary run a service instead of
// its tests (see RunIfChild).
const envService = "PASSTHRU_PROCS_SERVICE"

// RunIfChild runs the service named by the environment and exits when the
// process is a child started by this package; otherwise it returns at once.
// Call it first in TestMain, before m.Run parses the test flags: the
// child's arguments are the service's own.
func RunIfChild() {
	svc, ok := os.LookupEnv(envService)
	if !ok {
		return
	}
	os.Exit(runService(Service(svc), os.Args[1:], os.Stdout, os.Stderr))
}

func runService(svc Service, args []string, stdout, stderr io.Writer) int {
	switch svc {
	case KMS:
		return kmsserver.Main(args, stdout, stderr)
	case Identity:
		return identityserver.Main(args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "procs: %s=%q: want %q or %q\n", envService, svc, KMS, Identity)
		return 2
	}
}

// Options describe one server process. A restart reuses them unchanged.
type Options struct {
	Service Service
	// Name labels the process in logs and messages (default: Service).
	Name string
	// DataDir is the server's data directory: the unseal secret, demo.json,
	// and the SQLite database when DSN is empty. Reused across restarts and
	// shared by replicas (default: a fresh t.TempDir()).
	DataDir string
	// PKIDir holds the demo CA and the servers' leaf certificates (default
	// <DataDir>/tls, where the binary looks). Another directory is linked
	// as <DataDir>/tls, so servers given one PKIDir share one CA, as the
	// compose stack shares one mounted tls directory.
	PKIDir string
	// DSN puts the server on PostgreSQL (e.g. dbtest.Options(t,
	// dbtest.Postgres).DSN); empty: SQLite under DataDir.
	DSN string
	// Listen is the loopback address (default: a free port picked once, so
	// the URL survives restarts).
	Listen string
	// Issuer is Identity's issuer (default: its own URL). A replica of
	// Identity keeps the first server's, so tokens carry one issuer.
	Issuer string
	// IdentityDemoFile makes a KMS trust that Identity demo (its
	// demo.identity_file): the same tenant ids and its tokens.
	IdentityDemoFile string
	// Config is merged into the YAML configuration the harness writes
	// (top-level keys replace the harness's; e.g. {"keys":
	// {"audit_queue": 16}}).
	Config map[string]any
}

// Proc is one server process; Kill, Stop and Restart act on it.
type Proc struct {
	opts Options
	// URL is https://127.0.0.1:<port>, the same after every restart.
	URL string
	// CAFile is the demo CA bundle, the only trust anchor clients need.
	CAFile string
	// DemoFile is <DataDir>/demo.json; Demo reads it.
	DemoFile string
	// Client speaks TLS 1.3 to the server and trusts only CAFile.
	Client *http.Client

	configFile string
	logs       *fixture.LogBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	waitErr error
	starts  int
}

// Start starts a server process, waits until its /readyz answers 200 over
// TLS verified against the demo CA, and registers its end with the test:
// killed if still running, its log printed if the test failed.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	if _, ok := os.LookupEnv(envService); ok {
		// A child running tests instead of a service: its package's
		// TestMain does not call RunIfChild. Stop here, not a level deeper.
		t.Fatalf("procs: %s is set in a test: the package's TestMain must call procs.RunIfChild()", envService)
	}
	p, err := newProc(t, o)
	if err != nil {
		t.Fatalf("procs: %v", err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s process log:\n%s", p.opts.Name, p.logs.String())
		}
	})
	p.launch(t)
	return p
}

func newProc(t testing.TB, o Options) (*Proc, error) {
	if o.Service != KMS && o.Service != Identity {
		return nil, fmt.Errorf("service %q: want %q or %q", o.Service, KMS, Identity)
	}
	if o.Name == "" {
		o.Name = string(o.Service)
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	var err error
	if o.DataDir, err = filepath.Abs(o.DataDir); err != nil {
		return nil, fmt.Errorf("%s data dir: %w", o.Name, err)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("%s data dir: %w", o.Name, err)
	}
	if err := linkPKIDir(o.DataDir, &o.PKIDir); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	if o.Listen == "" {
		if o.Listen, err = freeLoopbackAddr(); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Name, err)
		}
	}
	p := &Proc{
		opts:     o,
		URL:      "https://" + o.Listen,
		CAFile:   filepath.Join(o.PKIDir, tlsx.DemoCAFile),
		DemoFile: filepath.Join(o.DataDir, demofile.Name),
		logs:     &fixture.LogBuffer{},
	}
	// The configuration lives beside the data directory, not in it:
	// replicas share the data directory but not their listen address.
	p.configFile = filepath.Join(t.TempDir(), o.Name+".yml")
	if err := p.writeConfig(t); err != nil {
		return nil, err
	}
	return p, nil
}

// linkPKIDir makes <dataDir>/tls the PKI directory: the binary only knows
// that path. An existing link to the same directory (a replica, a restart)
// is kept.
func linkPKIDir(dataDir string, pkiDir *string) error {
	own := filepath.Join(dataDir, "tls")
	if *pkiDir == "" || *pkiDir == own {
		*pkiDir = own
		return nil
	}
	abs, err := filepath.Abs(*pkiDir)
	if err != nil {
		return fmt.Errorf("pki dir: %w", err)
	}
	*pkiDir = abs
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("pki dir: %w", err)
	}
	switch target, err := os.Readlink(own); {
	case err == nil && target == abs:
		return nil
	case err == nil:
		return fmt.Errorf("pki dir: %s already links to %s, not %s", own, target, abs)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("pki dir: %s exists and is not a link to %s", own, abs)
	}
	if err := os.Symlink(abs, own); err != nil {
		return fmt.Errorf("pki dir: %w", err)
	}
	return nil
}

// freeLoopbackAddr returns a loopback address with a port free right now.
// The port is held for the process's life by the process itself; the short
// window before it listens is the price of a URL that survives restarts.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a loopback port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("pick a loopback port: %w", err)
	}
	return addr, nil
}

// writeConfig writes the YAML file the process reads: what an operator
// would configure, with the fixtures' low PBKDF2 cost.
func (p *Proc) writeConfig(t testing.TB) error {
	o := p.opts
	cfg := map[string]any{
		"listen":            o.Listen,
		"data_dir":          o.DataDir,
		"pbkdf2_iterations": fixture.TestPBKDF2Iterations,
		"log":               map[string]any{"format": "json", "level": "info"},
	}
	if o.DSN != "" {
		dsnFile := filepath.Join(t.TempDir(), o.Name+"-dsn")
		if err := os.WriteFile(dsnFile, []byte(o.DSN), 0o600); err != nil {
			return fmt.Errorf("%s dsn file: %w", o.Name, err)
		}
		cfg["database"] = map[string]any{"driver": "postgres", "dsn_file": dsnFile}
	}
	switch o.Service {
	case Identity:
		if o.Issuer != "" {
			cfg["issuer"] = o.Issuer
		}
	case KMS:
		if o.IdentityDemoFile != "" {
			cfg["demo"] = map[string]any{"identity_file": o.IdentityDemoFile}
		}
	}
	for k, v := range o.Config {
		cfg[k] = v
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("%s config: %w", o.Name, err)
	}
	if err := os.WriteFile(p.configFile, data, 0o600); err != nil {
		return fmt.Errorf("%s config: %w", o.Name, err)
	}
	return nil
}

// Options returns the options the process runs with (defaults filled in).
func (p *Proc) Options() Options { return p.opts }

// Issuer is the issuer of an Identity process's tokens.
func (p *Proc) Issuer() string {
	if p.opts.Issuer != "" {
		return p.opts.Issuer
	}
	return p.URL
}

// Log returns the process's output so far, every start included.
func (p *Proc) Log() string { return p.logs.String() }

// PID is the running process's id, 0 when it is not running.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Demo reads the process's demo.json as it is now.
func (p *Proc) Demo(t testing.TB) *demofile.File {
	t.Helper()
	f, err := demofile.Read(p.DemoFile)
	if err != nil {
		t.Fatalf("procs: %s: %v", p.opts.Name, err)
	}
	return f
}

// exited reports whether the current process has exited; p.mu is held.
func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// launch starts the process and waits until it is ready.
func (p *Proc) launch(t testing.TB) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("procs: %v", err)
	}
	p.mu.Lock()
	if p.cmd != nil && !p.exited() {
		p.mu.Unlock()
		t.Fatalf("procs: %s is already running (pid %d)", p.opts.Name, p.cmd.Process.Pid)
	}
	p.starts++
	cmd := exec.Command(self, "--config", p.configFile, "--demo")
	cmd.Env = append(os.Environ(), envService+"="+string(p.opts.Service))
	if d := coverDir(); d != "" {
		cmd.Env = append(cmd.Env, "GOCOVERDIR="+d)
	}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(p.logs, "--- procs: %s start %d ---\n", p.opts.Name, p.starts)
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		t.Fatalf("procs: start %s: %v", p.opts.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.waitErr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Unlock()
	if err := p.waitReady(t, done); err != nil {
		p.kill()
		t.Fatalf("procs: %s not ready: %v\n%s log:\n%s", p.opts.Name, err, p.opts.Name, p.logs.String())
	}
}

// waitReady polls /readyz until it answers 200, the process exits or the
// integration-test timeout passes. Before the first start has written the
// demo CA there is nothing to trust yet, so that is polled for too.
func (p *Proc) waitReady(t testing.TB, done <-chan struct{}) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fixture.ITTimeout(t))
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = p.probe(ctx); last == nil {
			return nil
		}
		select {
		case <-done:
			p.mu.Lock()
			err := p.waitErr
			p.mu.Unlock()
			return fmt.Errorf("exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// probe is one GET /readyz. The client is made once the CA exists and kept:
// restarts keep the CA, so callers may hold on to p.Client.
func (p *Proc) probe(ctx context.Context) error {
	if p.Client == nil {
		certs, err := tlsx.ReadCertsPEM(p.CAFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		p.Client = &http.Client{
			Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(pool, nil), ForceAttemptHTTP2: true},
			Timeout:   30 * time.Second,
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, p.URL+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s", resp.Status)
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to be gone: nothing it
// had not committed survives.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if !p.signal(syscall.SIGKILL, 30*time.Second) {
		t.Fatalf("procs: %s did not exit within 30s of SIGKILL", p.opts.Name)
	}
}

// Stop sends SIGTERM (a graceful shutdown) and waits up to 20 seconds for
// the exit, then kills the process and fails the test.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if !p.signal(syscall.SIGTERM, 20*time.Second) {
		p.kill()
		t.Fatalf("procs: %s did not stop within 20s of SIGTERM; killed", p.opts.Name)
	}
}

// Restart stops the process if it runs (SIGTERM), then starts it again with
// the same configuration, data directory, database and address, and waits
// until it is ready. After Kill it is the restart after a crash.
func (p *Proc) Restart(t testing.TB) {
	t.Helper()
	p.Stop(t)
	p.launch(t)
}

// ExitErr is how the last run of the process ended (nil while running or
// after a clean exit).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// signal sends sig to the running process and reports whether it exited
// within d; a process that is not running counts as exited.
func (p *Proc) signal(sig syscall.Signal, d time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	if c := p.Client; c != nil {
		// Connections to the old process are dead or dying.
		defer c.CloseIdleConnections()
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// kill is the cleanup: SIGKILL, and wait (a killed process exits).
func (p *Proc) kill() {
	p.signal(syscall.SIGKILL, 30*time.Second)
}

// coverDir is where `go test -cover` collects counters, so the children's
// coverage counts too.
func coverDir() string {
	if f := flag.Lookup("test.gocoverdir"); f != nil {
		return f.Value.String()
	}
	return ""
}
