package dbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
)

// PostgresBinRoot is where Debian installs the PostgreSQL server binaries,
// one directory per major version (<root>/<version>/bin).
const PostgresBinRoot = "/usr/lib/postgresql"

// clusterTimeout bounds each initdb, start and stop of a Cluster.
const clusterTimeout = 60 * time.Second

// Cluster is a private PostgreSQL server for one test: its own data
// directory and socket directory in a temporary directory, listening on a
// free 127.0.0.1 port, trust authentication on loopback. Unlike the shared
// test server, a test may stop and start it (to take the database away from
// a running service and give it back). It is stopped and removed when the
// test ends, and also when the test process dies without running its
// cleanups (a watcher process stops it when the test process is gone).
type Cluster struct {
	bin     string // directory of initdb and pg_ctl
	dir     string // temporary directory: data/, the socket, the log
	data    string
	logFile string
	port    int
	asUser  string // run the binaries as this user via runuser ("" = as ourselves)

	mu      sync.Mutex // serialises Start and Stop
	running bool

	watcher   *exec.Cmd
	watcherIn io.WriteCloser
}

// StartCluster initialises and starts a private PostgreSQL server from
// Debian's binaries (the highest version under PostgresBinRoot). Without
// them the test is skipped with a note, or fails under CI=true, where a
// skip would hide that the test never ran. Running as root (initdb refuses
// root) the binaries run as the postgres user via runuser.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := postgresBinDir(PostgresBinRoot)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dbtest: CI=true but no PostgreSQL server binaries for a private cluster: %v (Debian: apt-get install postgresql)", err)
		}
		t.Skipf("dbtest: a private PostgreSQL cluster needs the server binaries: %v (Debian: apt-get install postgresql)", err)
	}
	c, err := newCluster(bin)
	if err != nil {
		t.Fatalf("dbtest: private PostgreSQL cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.remove(); err != nil {
			t.Errorf("dbtest: remove private PostgreSQL cluster: %v", err)
		}
	})
	// The watcher first, so that even a test process killed during initdb
	// leaves no directory behind.
	if err := c.watch(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if err := c.initdb(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	// The free port was free when asked for; another process may take it
	// before the server binds it, so a refused first start tries another.
	for attempt := 1; ; attempt++ {
		err = c.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("dbtest: %v", err)
		}
		if c.port, err = freePort(); err != nil {
			t.Fatalf("dbtest: %v", err)
		}
	}
	return c
}

// postgresBinDir returns <root>/<highest version>/bin holding initdb and
// pg_ctl.
func postgresBinDir(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL installation: %w", err)
	}
	var versions []float64
	names := map[float64]string{}
	for _, e := range entries {
		v, err := strconv.ParseFloat(e.Name(), 64)
		if err != nil {
			continue
		}
		bin := filepath.Join(root, e.Name(), "bin")
		if !isExecutable(filepath.Join(bin, "initdb")) || !isExecutable(filepath.Join(bin, "pg_ctl")) {
			continue
		}
		versions = append(versions, v)
		names[v] = bin
	}
	if len(versions) == 0 {
		return "", fmt.Errorf("no %s/<version>/bin with initdb and pg_ctl", root)
	}
	sort.Float64s(versions)
	return names[versions[len(versions)-1]], nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// newCluster makes the temporary directory (owned by the postgres user when
// running as root) and picks a port.
func newCluster(bin string) (*Cluster, error) {
	// Not t.TempDir: its parent is private to the test's user, and the
	// server may run as another user that must reach its directory.
	dir, err := os.MkdirTemp("", "passthru-pg-*")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &Cluster{bin: bin, dir: dir, data: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "server.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("running as root, the server must run as the postgres user: %w", err), os.RemoveAll(dir))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, errors.Join(fmt.Errorf("chown cluster directory to postgres: %w", err), os.RemoveAll(dir))
		}
		c.asUser = "postgres"
	}
	if c.port, err = freePort(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return c, nil
}

// freePort returns a 127.0.0.1 TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command returns a command running the PostgreSQL binary name, as the
// postgres user when running as root.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// A working directory the server's user can enter (the test's may not
	// be), so the binaries do not warn about it.
	cmd.Dir = c.dir
	return cmd
}

// run runs a PostgreSQL binary to completion, its output in the error.
func (c *Cluster) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	out, err := c.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) initdb() error {
	// trust on loopback is enough for a throwaway server no one else uses;
	// --no-sync because the directory is gone after the test anyway.
	return c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
}

// watch starts a watcher process that stops the server and removes the
// directory once its standard input closes: at remove, or when the test
// process dies without running cleanups (a go test timeout, a kill), so no
// server outlives the test process. It ignores the terminal's signals, so a
// Ctrl-C meant for the test does not end it before it has done that.
func (c *Cluster) watch() error {
	stop := shellQuote(append(c.commandLine("pg_ctl"), "stop", "-D", c.data, "-m", "immediate", "-w"))
	script := "trap '' INT HUP TERM QUIT; read -r _; " + stop + " >/dev/null 2>&1; rm -rf " + shellQuote([]string{c.dir})
	cmd := exec.Command("sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("cluster watcher: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cluster watcher: %w", err)
	}
	c.watcher, c.watcherIn = cmd, stdin
	return nil
}

// commandLine is command's argv, for the watcher's shell.
func (c *Cluster) commandLine(name string) []string {
	path := filepath.Join(c.bin, name)
	if c.asUser != "" {
		return []string{"runuser", "-u", c.asUser, "--", path}
	}
	return []string{path}
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// start starts the server and waits until it accepts connections.
func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	// fsync and full pages off: the data does not outlive the test, and a
	// crash-safe server is not what is under test.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", c.port, c.dir)
	if err := c.run("pg_ctl", "start", "-D", c.data, "-l", c.logFile, "-w", "-t", strconv.Itoa(int(clusterTimeout/time.Second)), "-o", opts); err != nil {
		return fmt.Errorf("start private PostgreSQL on port %d: %w\nserver log:\n%s", c.port, err, c.serverLog())
	}
	c.running = true
	return nil
}

// stop stops the server with mode (fast: sessions are ended, the server
// shuts down cleanly).
func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if err := c.run("pg_ctl", "stop", "-D", c.data, "-m", mode, "-w"); err != nil {
		return fmt.Errorf("stop private PostgreSQL: %w\nserver log:\n%s", err, c.serverLog())
	}
	c.running = false
	return nil
}

// serverLog returns the tail of the server's log, for error messages.
func (c *Cluster) serverLog() string {
	b, err := os.ReadFile(c.logFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const tail = 4000
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return string(b)
}

// remove stops the server, ends the watcher and removes the directory.
func (c *Cluster) remove() error {
	err := c.stop("fast")
	if c.watcherIn != nil {
		// The watcher's own stop then finds nothing running.
		_ = c.watcherIn.Close()
		done := make(chan error, 1)
		go func() { done <- c.watcher.Wait() }()
		select {
		case <-done:
		case <-time.After(clusterTimeout):
			_ = c.watcher.Process.Kill()
			<-done
		}
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// Stop stops the server (pg_ctl stop -m fast): open sessions are ended and
// new connections are refused until Start. It fails the test when the
// server does not stop.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop("fast"); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
}

// Start starts the server again on the same port and data directory and
// returns once it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
}

// Port is the server's 127.0.0.1 TCP port.
func (c *Cluster) Port() int { return c.port }

// DSN is the URL of the server's postgres database as the superuser
// postgres (trust authentication: no password).
func (c *Cluster) DSN() string { return c.dsnFor("postgres") }

func (c *Cluster) dsnFor(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// Options returns options for a fresh, empty database on the cluster, for
// the service of namespace (as dbtest.Options does for the shared server).
// The database is not dropped at the end of the test: the whole cluster is
// removed then, and it may well be stopped by that time.
func (c *Cluster) Options(t testing.TB, namespace string) db.Options {
	t.Helper()
	name := "test_" + strings.ReplaceAll(ids.NewEntity().String(), "-", "")
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := adminExec(ctx, c.DSN(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("dbtest: create database %s on the private cluster: %v", name, err)
	}
	return db.Options{Driver: db.DriverPostgres, Namespace: namespace, DSN: c.dsnFor(name), Logger: testLogger(t)}
}

// Database returns the database name of options made by Options.
func Database(o db.Options) string {
	dsn := o.DSN
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		dsn = dsn[:i]
	}
	return dsn[strings.LastIndexByte(dsn, '/')+1:]
}
