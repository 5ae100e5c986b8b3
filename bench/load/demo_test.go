package load

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keepRunningText is the shape of `demo integration --keep-running`.
const keepRunningText = `Summary: 9 passed, 0 failed, 0 not run
The services keep running. Demo data lives in /tmp/d and is deleted when the demo stops.

Identity
  URL:              https://127.0.0.1:36287
  demo credentials: /tmp/d/identity/demo.json
  CA bundle:        /tmp/d/tls/ca.pem

KMS
  URL:              https://127.0.0.1:44885
  demo credentials: /tmp/d/kms/demo.json

Press Ctrl-C to stop the services.
`

func TestDemoOutput(t *testing.T) {
	var p demoOutput
	ready := 0
	for i, l := range strings.Split(keepRunningText, "\n") {
		if p.line(l) {
			ready = i
		}
	}
	assert.Equal(t, 12, ready, "the ready line is recognised")
	assert.Equal(t, "/tmp/d/kms/demo.json", p.kms)
	assert.Equal(t, "/tmp/d/identity/demo.json", p.identity)
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	for i := range tailLines + 5 {
		tb.add(strings.Repeat("x", i))
	}
	lines := strings.Split(tb.String(), "\n")
	assert.Len(t, lines, tailLines)
	assert.Equal(t, strings.Repeat("x", 5), lines[0], "the oldest lines go")
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:p@127.0.0.1:5432/passthru?sslmode=disable", "load_1")
	assert.NoError(t, err)
	assert.Equal(t, "postgres://u:p@127.0.0.1:5432/load_1?sslmode=disable", got)
	got, err = withDatabase("host=127.0.0.1 user=u dbname=passthru", "load_1")
	assert.NoError(t, err)
	assert.Equal(t, "host=127.0.0.1 user=u dbname=passthru dbname=load_1", got)
	_, err = withDatabase("postgres://u:secret@[::1", "load_1")
	assert.ErrorContains(t, err, "not a valid URL")
	assert.NotContains(t, err.Error(), "secret", "the password is not echoed")
}

// fakeDemo writes an executable script standing in for the demo binary.
func fakeDemo(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o700))
	return path
}

func TestStartDemo(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the stand-in demo")
	}
	// The stand-in prints what --keep-running prints, then waits for
	// SIGINT like the demo; args go to a file to check the command line.
	args := filepath.Join(t.TempDir(), "args")
	ready := fakeDemo(t, `echo "$@" > `+args+`
trap 'echo Stopping the services...; exit 0' INT
cat <<'EOF'
`+keepRunningText+`EOF
while :; do sleep 0.05; done
`)
	cases := []struct {
		desc    string
		bin     string
		pg      string
		timeout time.Duration
		wantErr string
	}{
		{desc: "ready: the demo files and the pid", bin: ready},
		{desc: "on PostgreSQL", bin: ready, pg: "/run/dsn"},
		{desc: "exits before ready", bin: fakeDemo(t, "echo starting; echo boom >&2; exit 3\n"), wantErr: "exited before it was ready (exit status 3); its output:\nstarting\nboom"},
		{desc: "never ready", bin: fakeDemo(t, "echo starting\nwhile :; do sleep 0.05; done\n"), timeout: 300 * time.Millisecond, wantErr: "not ready within 300ms; its output:\nstarting"},
		{desc: "ready without demo files", bin: fakeDemo(t, "echo 'Press Ctrl-C to stop the services.'\nwhile :; do sleep 0.05; done\n"), wantErr: "did not name both demo.json files"},
		{desc: "no binary", bin: filepath.Join(t.TempDir(), "missing"), wantErr: "start demo"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			d, err := StartDemo(t.Context(), DemoOptions{Binary: tc.bin, PostgresDSNFile: tc.pg, StartTimeout: tc.timeout})
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "/tmp/d/kms/demo.json", d.KMSDemoFile)
			assert.Equal(t, "/tmp/d/identity/demo.json", d.IdentityFile)
			assert.Positive(t, d.PID)
			_, err = ProcReader{Root: "/proc", PID: d.PID}.Read()
			assert.NoError(t, err, "the pid is the running child")
			require.NoError(t, d.Stop())
			require.NoError(t, d.Stop(), "stopping twice is harmless")
			got, err := os.ReadFile(args)
			require.NoError(t, err)
			want := "integration --keep-running --no-color"
			if tc.pg != "" {
				want += " --postgres-dsn-file " + tc.pg
			}
			assert.Equal(t, want+"\n", string(got))
		})
	}
}
