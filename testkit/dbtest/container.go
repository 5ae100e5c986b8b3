package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The container's superuser and first database. The server is a throwaway
// on loopback: the password is no secret.
const (
	containerUser     = "passthru"
	containerPassword = "passthru"
	containerDB       = "passthru"
)

// serverArgs are the PostgreSQL settings of the test server. The suite's
// parallel packages hold more than the default 100 connections (CI's
// server allows 400 too). fsync, synchronous_commit and full_page_writes
// off trade crash safety for speed: the data directory is a tmpfs of a
// container that lives for one test run, and nothing in it outlives a crash
// anyway.
var serverArgs = []string{
	"postgres",
	"-c", "max_connections=400",
	"-c", "fsync=off",
	"-c", "synchronous_commit=off",
	"-c", "full_page_writes=off",
}

// Labels on every container StartContainer creates: the machine and process
// that own it, so a later start can remove the containers of an owner that
// is gone.
const (
	LabelOwnerHost = "dev.passthru.dbtest.owner-host"
	LabelOwnerPID  = "dev.passthru.dbtest.owner-pid"
)

// watchdog is the container's first process (sh -c WATCHDOG sh ARGS...). It
// runs the image's entrypoint and the server ("$@") in the background and
// stops the server (SIGINT: PostgreSQL's fast shutdown) when the container
// is stopped, or when its standard input ends. That input is the attach
// stream of the process that started the container, and the daemon closes
// it when that one client goes (StdinOnce): so the server ends within
// moments of its owner's end, however the owner ended (a normal exit, a
// panic, a test timeout, kill -9), and AutoRemove then removes the
// container. This does the job of testcontainers' reaper without an image
// to pull.
//
// Two shell rules shape it. An asynchronous command's standard input is
// /dev/null, hence the copy to descriptor 3 first. And it starts with
// SIGINT ignored: the entrypoint script keeps ignoring it until it execs
// PostgreSQL, which handles it; so SIGINT is sent every second until the
// server is gone, which also covers an owner ending during initdb.
const watchdog = `exec 3<&0
"$@" </dev/null 3<&- &
server=$!
stop() { while kill -INT "$server" 2>/dev/null; do sleep 1; done; }
trap 'stop &' INT TERM
{ cat <&3 >/dev/null; stop; } &
while :; do
	wait "$server"
	status=$?
	kill -0 "$server" 2>/dev/null || exit "$status"
done`

// ContainerConfig configures StartContainer.
type ContainerConfig struct {
	// Image is the PostgreSQL image; empty means DefaultPGImage. It must
	// behave like the official image (POSTGRES_USER, POSTGRES_PASSWORD,
	// POSTGRES_DB, PGDATA, "database system is ready to accept connections"
	// twice on first start), as LocalPGImage does.
	Image string
	// Pull tries one pull when the image is not present locally. Without
	// it a missing image fails at once.
	Pull bool
	// Logf receives testcontainers' progress and the removal of stale
	// containers; nil discards them.
	Logf func(format string, args ...any)
}

// Container is a throwaway PostgreSQL server in a Docker container, owned by
// this process: it stops and is removed when Terminate is called or, at the
// latest, moments after this process ends.
type Container struct {
	dsn      string
	id       string
	ctr      *tcpostgres.PostgresContainer
	provider *testcontainers.DockerProvider

	mu    sync.Mutex
	stdin *client.HijackedResponse // the owner's stream; see watchdog
}

// DSN is the server's URL, for a superuser that may CREATE DATABASE.
func (c *Container) DSN() string { return c.dsn }

// ID is the Docker container's id.
func (c *Container) ID() string { return c.id }

type logfLogger func(format string, args ...any)

func (l logfLogger) Printf(format string, args ...any) { l(format, args...) }

// StartContainer starts a PostgreSQL container and returns once the server
// accepts connections. It fails with ErrNoDocker when no engine answers and
// with an *ImageMissingError (errors.Is ErrImageMissing) when the image is
// not there, saying how to build the local one; it never waits for a pull
// that cannot succeed. Before starting it removes stale containers: those
// labelled with this machine and an owner process that no longer exists.
func StartContainer(ctx context.Context, cfg ContainerConfig) (*Container, error) {
	image := cfg.Image
	if image == "" {
		image = DefaultPGImage
	}
	var logger tclog.Logger = tclog.NewNoopLogger()
	if cfg.Logf != nil {
		logger = logfLogger(cfg.Logf)
	}
	p, err := newProvider(logger)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			_ = p.Close()
		}
	}()
	hctx, cancel := context.WithTimeout(ctx, probeTimeout)
	_, err = p.Client().Ping(hctx, client.PingOptions{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	if err := checkImage(ctx, p, image, cfg.Pull); err != nil {
		return nil, err
	}
	inspect, err := p.Client().ImageInspect(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", image, err)
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname for the owner label: %w", err)
	}
	if n, err := removeStale(ctx, p.Client(), host); err != nil {
		logger.Printf("dbtest: removing stale containers: %v (the next start tries again)", err)
	} else if n > 0 {
		logger.Printf("dbtest: removed %d stale container(s) whose owner process is gone", n)
	}

	c := &Container{provider: p}
	attach := func(ctx context.Context, ctr testcontainers.Container) error {
		res, err := p.Client().ContainerAttach(ctx, ctr.GetContainerID(), client.ContainerAttachOptions{Stream: true, Stdin: true})
		if err != nil {
			return fmt.Errorf("attach the owner's stream: %w", err)
		}
		c.mu.Lock()
		c.stdin = &res.HijackedResponse
		c.mu.Unlock()
		return nil
	}
	// The image's entrypoint runs under the watchdog, with the server's
	// arguments after it.
	cmd := append(append([]string{}, inspect.Config.Entrypoint...), serverArgs...)
	pgdata := "/var/lib/postgresql/data"
	for _, kv := range inspect.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PGDATA="); ok && v != "" {
			pgdata = v
		}
	}
	ctr, err := tcpostgres.Run(ctx, image,
		testcontainers.WithLogger(logger),
		tcpostgres.WithDatabase(containerDB),
		tcpostgres.WithUsername(containerUser),
		tcpostgres.WithPassword(containerPassword),
		// The module's BasicWaitStrategies, less the dial from outside:
		// testcontainers dials the Docker bridge's gateway when it runs in
		// a container itself, and the port is published on loopback only.
		// serverReady below dials the address the DSN names instead.
		testcontainers.WithAdditionalWaitStrategy(
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp").SkipExternalCheck(),
		),
		testcontainers.WithEntrypoint("sh", "-c", watchdog, "sh"),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithLabels(map[string]string{
			LabelOwnerHost: host,
			LabelOwnerPID:  strconv.Itoa(os.Getpid()),
		}),
		// A tmpfs data directory: fast, and gone with the container (no
		// anonymous volume left behind).
		testcontainers.WithTmpfs(map[string]string{pgdata: "rw"}),
		testcontainers.WithConfigModifier(func(cc *container.Config) {
			cc.OpenStdin = true
			cc.StdinOnce = true
			cc.AttachStdin = true
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.AutoRemove = true
			// Loopback only: nothing but this machine reaches the server.
			hc.PortBindings = network.PortMap{
				network.MustParsePort("5432/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1")}},
			}
		}),
		testcontainers.WithAdditionalLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostCreates: []testcontainers.ContainerHook{attach},
		}),
	)
	if ctr != nil {
		c.ctr = ctr
		c.id = ctr.GetContainerID()
	}
	if err != nil {
		if ctr != nil {
			_ = c.terminate(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("start PostgreSQL container %s: %w", image, err)
	}
	port, err := ctr.MappedPort(ctx, "5432/tcp")
	if err != nil {
		_ = c.terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("PostgreSQL container %s: published port: %w", image, err)
	}
	c.dsn = "postgres://" + containerUser + ":" + containerPassword + "@" +
		net.JoinHostPort("127.0.0.1", port.Port()) + "/" + containerDB + "?sslmode=disable"
	if err := serverReady(ctx, c.dsn); err != nil {
		_ = c.terminate(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("PostgreSQL container %s: %w", image, err)
	}
	started = true
	return c, nil
}

// readyTimeout bounds waiting for the published port to reach the server,
// which already accepts connections inside the container.
const readyTimeout = 30 * time.Second

// serverReady returns once dsn's server answers a query from this process.
func serverReady(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not reachable on its published port: %w", err)
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// removeTimeout bounds waiting for the daemon to finish removing a
// container.
const removeTimeout = 30 * time.Second

// Terminate stops and removes the container and returns once Docker no
// longer lists it.
func (c *Container) Terminate(ctx context.Context) error {
	defer func() { _ = c.provider.Close() }()
	return c.terminate(ctx)
}

func (c *Container) terminate(ctx context.Context) error {
	var errs []error
	if c.ctr != nil {
		// AutoRemove may win the race to remove the stopped container;
		// "not found" and "removal in progress" then mean done.
		errs = append(errs, ignoreGone(c.ctr.Terminate(ctx, testcontainers.StopTimeout(10*time.Second))))
	}
	c.mu.Lock()
	if c.stdin != nil {
		c.stdin.Close()
		c.stdin = nil
	}
	c.mu.Unlock()
	if c.id != "" {
		errs = append(errs, waitGone(ctx, c.provider.Client(), c.id))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("terminate PostgreSQL container %.12s: %w", c.id, err)
	}
	return nil
}

// ignoreGone drops the errors that say the container is already gone or
// going, from err and from every error joined in it.
func ignoreGone(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var keep []error
		for _, e := range j.Unwrap() {
			if e = ignoreGone(e); e != nil {
				keep = append(keep, e)
			}
		}
		return errors.Join(keep...)
	}
	if cerrdefs.IsNotFound(err) || (cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")) {
		return nil
	}
	return err
}

// waitGone returns once the daemon no longer knows container id.
func waitGone(ctx context.Context, cli client.APIClient, id string) error {
	ctx, cancel := context.WithTimeout(ctx, removeTimeout)
	defer cancel()
	for {
		_, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %.12s still present: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// removeStale removes the containers labelled with host whose owner process
// no longer exists: those a crash left between their creation and the
// watchdog taking over (created, never started), or any the watchdog could
// not end. It returns how many it removed. A container another process is
// removing at the same moment counts as gone.
func removeStale(ctx context.Context, cli client.APIClient, host string) (int, error) {
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelOwnerHost+"="+host),
	})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	removed := 0
	var errs []error
	for _, s := range list.Items {
		pid, err := strconv.Atoi(s.Labels[LabelOwnerPID])
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_, err = cli.ContainerRemove(ctx, s.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err = ignoreGone(err); err != nil {
			errs = append(errs, fmt.Errorf("remove %.12s: %w", s.ID, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// processAlive reports whether process pid exists on this machine (signal 0
// checks without sending anything; EPERM means it exists as another user's).
func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = proc.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
