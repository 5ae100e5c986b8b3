package dbtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// envHelper makes the test binary, run by TestContainerEndsWithItsOwner, act
// as a container's owner process instead of running the tests.
const envHelper = "DBTEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(envHelper) {
	case "owner":
		os.Exit(ownerProcess())
	case "server":
		deaf, _ := time.ParseDuration(os.Getenv(envDeaf))
		os.Exit(standInServer(os.Getenv(envMarker), deaf))
	}
	os.Exit(m.Run())
}

// envMarker names the file standInServer writes when it is stopped; envDeaf
// how long it keeps SIGINT ignored first.
const (
	envMarker = "DBTEST_MARKER"
	envDeaf   = "DBTEST_DEAF"
)

// standInServer stands in for the entrypoint and PostgreSQL under the
// watchdog: started with SIGINT ignored, it keeps it ignored for deaf (the
// entrypoint script running initdb), then handles it (PostgreSQL), and
// records the signal in marker before it exits.
func standInServer(marker string, deaf time.Duration) int {
	time.Sleep(deaf)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	s := <-sig
	if err := os.WriteFile(marker, []byte(s.String()), 0o600); err != nil {
		return 1
	}
	return 0
}

// ownerProcess starts a container, prints its id and waits to be killed.
func ownerProcess() int {
	ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
	c, err := StartContainer(ctx, ContainerConfig{Image: pgImage(os.LookupEnv)})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("container", c.ID())
	select {} // until killed
}

// needContainer returns the image to start, and skips (saying why) when the
// run is SQLite only (ci/test.sh's SQLite leg: the PostgreSQL leg runs these)
// or this machine cannot start it: no Docker engine, or the image is not
// present. When the run asks for PostgreSQL without a DSN, the container is
// how it gets one, so a missing engine or image fails the test instead.
func needContainer(t *testing.T) string {
	t.Helper()
	if strings.TrimSpace(os.Getenv(EnvDB)) == string(SQLite) {
		t.Skipf("%s=sqlite: PostgreSQL containers are not part of this run", EnvDB)
	}
	image := pgImage(os.LookupEnv)
	err := defaultEngine.reachable()
	if err == nil {
		err = defaultEngine.image(image, false)
	}
	if err == nil {
		return image
	}
	mode := strings.TrimSpace(os.Getenv(EnvDB))
	if dsn := os.Getenv(EnvPGDSN); dsn == "" && (mode == "postgres" || mode == "all") {
		t.Fatalf("%s=%s without %s needs the container: %v", EnvDB, mode, EnvPGDSN, err)
	}
	t.Skipf("needs a Docker engine with the image %s (%s names another): %v", image, EnvPGImage, err)
	return ""
}

func dockerClient(t *testing.T) client.APIClient {
	t.Helper()
	p, err := newProvider(tclog.NewNoopLogger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p.Client()
}

func queryString(t *testing.T, dsn, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var v string
	require.NoError(t, conn.QueryRow(t.Context(), sql).Scan(&v))
	return v
}

// TestContainerLifecycle starts a container of its own, checks how it runs,
// gives two tests a fresh database each in it, and terminates it.
func TestContainerLifecycle(t *testing.T) {
	image := needContainer(t)
	cli := dockerClient(t)
	begin := time.Now()
	c, err := StartContainer(t.Context(), ContainerConfig{Image: image, Logf: t.Logf})
	require.NoError(t, err)
	t.Logf("%s ready in %v", image, time.Since(begin).Round(time.Millisecond))
	terminated := false
	t.Cleanup(func() {
		if !terminated {
			_ = c.Terminate(context.Background())
		}
	})

	t.Run("runs as configured", func(t *testing.T) {
		tests := []struct{ setting, want string }{
			{setting: "max_connections", want: "400"},
			{setting: "fsync", want: "off"},
			{setting: "synchronous_commit", want: "off"},
			{setting: "full_page_writes", want: "off"},
		}
		for _, tc := range tests {
			t.Run(tc.setting, func(t *testing.T) {
				assert.Equal(t, tc.want, queryString(t, c.DSN(), "SHOW "+tc.setting))
			})
		}
		assert.Equal(t, "true", queryString(t, c.DSN(), "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"),
			"the role may CREATE DATABASE")
	})

	t.Run("labelled, loopback only, removed on exit, stdin its owner's", func(t *testing.T) {
		ins, err := cli.ContainerInspect(t.Context(), c.ID(), client.ContainerInspectOptions{})
		require.NoError(t, err)
		host, err := os.Hostname()
		require.NoError(t, err)
		cfg, hc := ins.Container.Config, ins.Container.HostConfig
		assert.Equal(t, host, cfg.Labels[LabelOwnerHost])
		assert.Equal(t, strconv.Itoa(os.Getpid()), cfg.Labels[LabelOwnerPID])
		assert.True(t, hc.AutoRemove, "a stopped container removes itself")
		assert.True(t, cfg.OpenStdin && cfg.StdinOnce, "stdin closes when the owner's stream ends")
		require.NotEmpty(t, hc.PortBindings)
		for port, bindings := range hc.PortBindings {
			for _, b := range bindings {
				assert.Equal(t, "127.0.0.1", b.HostIP.String(), "port %s published on loopback only", port)
			}
		}
		assert.Equal(t, "true", os.Getenv(EnvRyukDisabled), "the reaper is off")
		reapers, err := cli.ContainerList(t.Context(), client.ContainerListOptions{
			All: true, Filters: make(client.Filters).Add("label", "org.testcontainers.ryuk=true"),
		})
		require.NoError(t, err)
		assert.Empty(t, reapers.Items, "no reaper container")
	})

	t.Run("a fresh database per test, dropped after it", func(t *testing.T) {
		server := pgServer{lookup: env(nil), container: func(string) (string, error) { return c.DSN(), nil }}
		exists := func(t *testing.T, name string) bool {
			return queryString(t, c.DSN(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '"+name+"')::text") == "true"
		}
		var names []string
		for _, desc := range []string{"first test", "second test"} {
			var name string
			t.Run(desc, func(t *testing.T) {
				cfg, err := pgx.ParseConfig(freshDatabase(t, server))
				require.NoError(t, err)
				name = cfg.Database
				assert.True(t, exists(t, name), "database %s exists during its test", name)
				assert.Equal(t, "0", queryString(t, cfg.ConnString(), "SELECT count(*)::text FROM information_schema.tables WHERE table_schema = 'public'"), "empty")
			})
			require.NotEmpty(t, name)
			assert.False(t, exists(t, name), "database %s dropped when its test ended", name)
			names = append(names, name)
		}
		assert.NotEqual(t, names[0], names[1])
	})

	require.NoError(t, c.Terminate(t.Context()))
	terminated = true
	_, err = cli.ContainerInspect(t.Context(), c.ID(), client.ContainerInspectOptions{})
	assert.True(t, cerrdefs.IsNotFound(err), "the container is gone after Terminate: %v", err)
}

// TestContainerEndsWithItsOwner kills (SIGKILL: no cleanup runs) a process
// that started a container, and expects the container to be gone soon
// after: its watchdog stops the server when the owner's stream ends, and
// AutoRemove removes it.
func TestContainerEndsWithItsOwner(t *testing.T) {
	image := needContainer(t)
	cli := dockerClient(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"=owner", EnvPGImage+"="+image)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "container ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("owner process printed %q: %v", line, err)
	}
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	})
	ins, err := cli.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{})
	require.NoError(t, err)
	require.Equal(t, container.StateRunning, ins.Container.State.Status)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, waitGone(ctx, cli, id), "the container must end with its owner")
	t.Logf("container gone %v after its owner was killed", time.Since(killed).Round(time.Millisecond))
}

// TestRemoveStale: a start removes the containers of this machine whose
// owner process is gone, and leaves those of a live owner and of other
// machines alone.
func TestRemoveStale(t *testing.T) {
	image := needContainer(t)
	cli := dockerClient(t)
	host, err := os.Hostname()
	require.NoError(t, err)
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadPID := dead.Process.Pid
	require.False(t, processAlive(deadPID))

	tests := []struct {
		desc        string
		host, pid   string
		wantRemoved bool
	}{
		{desc: "owner gone", host: host, pid: strconv.Itoa(deadPID), wantRemoved: true},
		{desc: "owner alive", host: host, pid: strconv.Itoa(os.Getpid())},
		{desc: "owner on another machine", host: host + "-elsewhere", pid: strconv.Itoa(deadPID)},
		{desc: "no owner pid", host: host, pid: "none"},
	}
	ids := make([]string, len(tests))
	for i, tc := range tests {
		// Created, never started: what a crash between create and start
		// leaves behind.
		res, err := cli.ContainerCreate(t.Context(), client.ContainerCreateOptions{
			Config: &container.Config{
				Image:      image,
				Entrypoint: []string{"true"},
				Labels:     map[string]string{LabelOwnerHost: tc.host, LabelOwnerPID: tc.pid},
			},
		})
		require.NoError(t, err, tc.desc)
		ids[i] = res.ID
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		})
	}
	n, err := removeStale(t.Context(), cli, host)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := cli.ContainerInspect(t.Context(), ids[i], client.ContainerInspectOptions{})
			if tc.wantRemoved {
				assert.True(t, cerrdefs.IsNotFound(err), "removed: %v", err)
			} else {
				assert.NoError(t, err, "kept")
			}
		})
	}
}

// TestMissingImageFailsFast asks a real engine for an image that exists
// nowhere, with one pull: the answer comes at once, and says how to build
// the local image.
func TestMissingImageFailsFast(t *testing.T) {
	if err := defaultEngine.reachable(); err != nil {
		t.Skipf("needs a Docker engine: %v", err)
	}
	tests := []struct {
		desc string
		pull bool
	}{
		{desc: "inspect only"},
		{desc: "with one pull", pull: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			const image = "passthru-local/dbtest-no-such-image:0"
			begin := time.Now()
			_, err := StartContainer(t.Context(), ContainerConfig{Image: image, Pull: tc.pull})
			require.Error(t, err)
			assert.Less(t, time.Since(begin), 30*time.Second, "no waiting for a pull that cannot succeed")
			var missing *ImageMissingError
			require.ErrorAs(t, err, &missing)
			assert.Equal(t, image, missing.Image)
			assert.Equal(t, tc.pull, missing.PullErr != nil, "a pull tried only when asked")
			assert.Contains(t, err.Error(), "`make images`, then set PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15")
		})
	}
}

func TestDockerEngineCachesItsAnswers(t *testing.T) {
	// Whether an engine is reachable depends on the machine; what must hold
	// everywhere is that the (slow) probes run once and answer consistently.
	e := &dockerEngine{}
	first := e.reachable()
	assert.Equal(t, first, e.reachable())
	if first != nil {
		assert.ErrorIs(t, e.image(DefaultPGImage, false), ErrNoDocker, "no engine, no image")
		return
	}
	const image = "passthru-local/dbtest-no-such-image:0"
	err := e.image(image, false)
	assert.ErrorIs(t, err, ErrImageMissing)
	assert.Same(t, err, e.image(image, false), "cached")
}

func TestDisableReaper(t *testing.T) {
	tests := []struct {
		desc    string
		value   *string // nil: unset
		wantErr string
	}{
		{desc: "unset becomes true"},
		{desc: "true stays", value: ptr("true")},
		{desc: "1 is refused: testcontainers would keep its reaper on", value: ptr("1"), wantErr: `TESTCONTAINERS_RYUK_DISABLED="1"`},
		{desc: "false is refused", value: ptr("false"), wantErr: "needs testcontainers' reaper off"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv(EnvRyukDisabled, "placeholder") // restores the value after the test
			if tc.value == nil {
				require.NoError(t, os.Unsetenv(EnvRyukDisabled))
			} else {
				t.Setenv(EnvRyukDisabled, *tc.value)
			}
			err := disableReaper()
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "true", os.Getenv(EnvRyukDisabled))
		})
	}
}

func ptr(s string) *string { return &s }

func TestIgnoreGone(t *testing.T) {
	notFound := cerrdefs.ErrNotFound.WithMessage("No such container: x")
	inProgress := cerrdefs.ErrConflict.WithMessage("removal of container x is already in progress")
	otherConflict := cerrdefs.ErrConflict.WithMessage("name already in use")
	boom := errors.New("boom")
	tests := []struct {
		desc string
		err  error
		want error
	}{
		{desc: "nil", err: nil, want: nil},
		{desc: "not found", err: fmt.Errorf("stop: %w", notFound), want: nil},
		{desc: "removal in progress", err: inProgress, want: nil},
		{desc: "another conflict stays", err: otherConflict, want: otherConflict},
		{desc: "joined: only the real failure stays", err: errors.Join(notFound, boom, inProgress), want: boom},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := ignoreGone(tc.err)
			if tc.want == nil {
				assert.NoError(t, got)
				return
			}
			assert.ErrorIs(t, got, tc.want)
			assert.NotErrorIs(t, got, notFound)
		})
	}
}

func TestProcessAlive(t *testing.T) {
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	tests := []struct {
		desc string
		pid  int
		want bool
	}{
		{desc: "this process", pid: os.Getpid(), want: true},
		{desc: "the parent", pid: os.Getppid(), want: true},
		{desc: "a process that ended", pid: dead.Process.Pid, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, processAlive(tc.pid))
		})
	}
}

// TestWatchdog runs the container's first process on this machine's sh,
// with a stand-in server, and checks both ways it ends the server: its
// standard input ending (the owner is gone) and a stop signal.
func TestWatchdog(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skipf("needs sh: %v", err)
	}
	tests := []struct {
		desc string
		deaf time.Duration
		end  func(t *testing.T, cmd *exec.Cmd, stdin io.WriteCloser)
	}{
		{desc: "owner's stream ends", end: func(t *testing.T, _ *exec.Cmd, stdin io.WriteCloser) { require.NoError(t, stdin.Close()) }},
		{desc: "owner's stream ends during initdb", deaf: 1500 * time.Millisecond,
			end: func(t *testing.T, _ *exec.Cmd, stdin io.WriteCloser) { require.NoError(t, stdin.Close()) }},
		{desc: "SIGINT (docker stop)", end: func(t *testing.T, cmd *exec.Cmd, _ io.WriteCloser) {
			require.NoError(t, cmd.Process.Signal(os.Interrupt))
		}},
		{desc: "SIGTERM", end: func(t *testing.T, cmd *exec.Cmd, _ io.WriteCloser) {
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "stopped")
			cmd := exec.CommandContext(t.Context(), "sh", "-c", watchdog, "sh", os.Args[0])
			cmd.Env = append(os.Environ(), envHelper+"=server", envMarker+"="+marker, envDeaf+"="+tc.deaf.String())
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			time.Sleep(300 * time.Millisecond) // let the traps be set
			begin := time.Now()
			tc.end(t, cmd, stdin)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err, "the watchdog exits with the server's status")
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("the watchdog did not end")
			}
			got, err := os.ReadFile(marker)
			require.NoError(t, err, "the server was stopped with SIGINT")
			assert.Equal(t, os.Interrupt.String(), string(got))
			t.Logf("ended in %v", time.Since(begin).Round(time.Millisecond))
		})
	}
}
