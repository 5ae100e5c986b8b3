package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// fakeServer records its termination.
type fakeServer struct {
	dsn          string
	terminated   int
	terminateErr error
}

func (f *fakeServer) DSN() string { return f.dsn }

func (f *fakeServer) Terminate(context.Context) error {
	f.terminated++
	return f.terminateErr
}

func TestRun(t *testing.T) {
	const dsn = "postgres://passthru:passthru@127.0.0.1:32768/passthru?sslmode=disable"
	tests := []struct {
		desc           string
		args           []string
		env            map[string]string
		startErr       error
		terminateErr   error
		stop           string // "signal" or "parent": what ends a started server
		dsnFile        string // "ok", "bad dir" or "" for none
		wantCode       int
		wantCfg        *dbtest.ContainerConfig // nil: start must not be called
		wantStderr     []string
		wantTerminated int
	}{
		{desc: "started, stopped by a signal", stop: "signal", wantCode: exitOK,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage}, wantTerminated: 1},
		{desc: "started, stopped when the parent ends", stop: "parent", wantCode: exitOK,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage}, wantTerminated: 1},
		{desc: "image from the environment, one pull, DSN file", args: []string{"-pull"}, dsnFile: "ok", stop: "signal",
			env: map[string]string{dbtest.EnvPGImage: dbtest.LocalPGImage}, wantCode: exitOK,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.LocalPGImage, Pull: true}, wantTerminated: 1},
		{desc: "image flag wins", args: []string{"-image", "postgres:15"}, env: map[string]string{dbtest.EnvPGImage: dbtest.LocalPGImage},
			stop: "signal", wantCode: exitOK, wantCfg: &dbtest.ContainerConfig{Image: "postgres:15"}, wantTerminated: 1},
		{desc: "no Docker: unavailable", startErr: fmt.Errorf("%w: refused", dbtest.ErrNoDocker), wantCode: exitUnavailable,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage}, wantStderr: []string{"no Docker engine is reachable"}},
		{desc: "missing image: unavailable, says how to build it", startErr: &dbtest.ImageMissingError{Image: dbtest.DefaultPGImage},
			wantCode: exitUnavailable, wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage},
			wantStderr: []string{"not present locally", "`make images`, then set PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15"}},
		{desc: "other start failure", startErr: errors.New("wait until ready: timeout"), wantCode: exitFailure,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage}, wantStderr: []string{"wait until ready: timeout"}},
		{desc: "DSN file cannot be written: fails, container still removed", dsnFile: "bad dir", wantCode: exitFailure,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage}, wantStderr: []string{"write the DSN file"}, wantTerminated: 1},
		{desc: "terminate failure", stop: "signal", terminateErr: errors.New("still present"), wantCode: exitFailure,
			wantCfg: &dbtest.ContainerConfig{Image: dbtest.DefaultPGImage}, wantStderr: []string{"still present"}, wantTerminated: 1},
		{desc: "unknown flag", args: []string{"-bogus"}, wantCode: exitUsage, wantStderr: []string{"-bogus"}},
		{desc: "stray argument", args: []string{"extra"}, wantCode: exitUsage, wantStderr: []string{`unexpected arguments ["extra"]`}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			parent := make(chan struct{})
			args := tc.args
			var file string
			switch tc.dsnFile {
			case "ok":
				file = filepath.Join(t.TempDir(), "dsn")
				args = append(args, "-dsn-file", file)
			case "bad dir":
				args = append(args, "-dsn-file", filepath.Join(t.TempDir(), "missing", "dsn"))
			}
			srv := &fakeServer{dsn: dsn, terminateErr: tc.terminateErr}
			var gotCfg *dbtest.ContainerConfig
			start := func(_ context.Context, cfg dbtest.ContainerConfig) (server, error) {
				gotCfg = &cfg
				if tc.startErr != nil {
					return nil, tc.startErr
				}
				// The server runs until the test stops it, as a person
				// or a script would.
				switch tc.stop {
				case "signal":
					time.AfterFunc(50*time.Millisecond, cancel)
				case "parent":
					time.AfterFunc(50*time.Millisecond, func() { close(parent) })
				}
				return srv, nil
			}
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tc.env[k] }
			code := run(ctx, args, &stdout, &stderr, getenv, parent, start)
			assert.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			for _, w := range tc.wantStderr {
				assert.Contains(t, stderr.String(), w)
			}
			if tc.wantCfg == nil {
				assert.Nil(t, gotCfg, "no container started")
			} else {
				require.NotNil(t, gotCfg)
				assert.Equal(t, tc.wantCfg.Image, gotCfg.Image)
				assert.Equal(t, tc.wantCfg.Pull, gotCfg.Pull)
				assert.Nil(t, gotCfg.Logf, "quiet without -v")
			}
			assert.Equal(t, tc.wantTerminated, srv.terminated)
			if tc.wantTerminated > 0 {
				assert.Equal(t, dsn+"\n", stdout.String(), "the DSN, one line")
			} else {
				assert.Empty(t, stdout.String())
			}
			if file != "" {
				got, err := os.ReadFile(file)
				require.NoError(t, err)
				assert.Equal(t, dsn+"\n", string(got))
				st, err := os.Stat(file)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
				leftovers, err := filepath.Glob(filepath.Join(filepath.Dir(file), ".pgcontainer-dsn-*"))
				require.NoError(t, err)
				assert.Empty(t, leftovers, "no temporary file left")
			}
		})
	}
}

func TestRunVerboseLogsProgress(t *testing.T) {
	var stderr bytes.Buffer
	start := func(_ context.Context, cfg dbtest.ContainerConfig) (server, error) {
		require.NotNil(t, cfg.Logf)
		cfg.Logf("creating container for image %s", cfg.Image)
		return nil, errors.New("stop here")
	}
	code := run(t.Context(), []string{"-v"}, &bytes.Buffer{}, &stderr, func(string) string { return "" }, nil, start)
	assert.Equal(t, exitFailure, code)
	assert.True(t, strings.HasPrefix(stderr.String(), "creating container for image postgres:15-alpine\n"), stderr.String())
}

func TestParentGone(t *testing.T) {
	tests := []struct {
		desc     string
		parent   int
		wantGone bool
	}{
		{desc: "the real parent is still there", parent: os.Getppid()},
		{desc: "another pid: the parent changed", parent: os.Getppid() + 1_000_000, wantGone: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			gone := parentGone(tc.parent, 10*time.Millisecond)
			select {
			case <-gone:
				assert.True(t, tc.wantGone, "reported gone although the parent is there")
			case <-time.After(200 * time.Millisecond):
				assert.False(t, tc.wantGone, "not reported gone")
			}
		})
	}
}
