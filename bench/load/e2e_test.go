package load

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// buildDemo compiles the demo binary the harness starts.
func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../../scenarios/cmd/demo").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// TestLoadEndToEnd runs the harness as `make load` does, with a small
// load, against the demo services in a child process: every endpoint is in
// the table with no errors, and the benchstat lines are written.
func TestLoadEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo services: not in -short")
	}
	bin := buildDemo(t)
	for _, b := range dbtest.Backends(t) {
		t.Run("db="+string(b), func(t *testing.T) {
			// The two stacks are separate processes on separate
			// databases; side by side they keep the test near a minute.
			t.Parallel()
			testLoad(t, bin, b)
		})
	}
}

func testLoad(t *testing.T, bin string, b dbtest.Backend) {
	getenv := os.Getenv
	if b == dbtest.Postgres {
		// The test's PostgreSQL server (from PASSTHRU_TEST_PG_DSN or a
		// container): the harness creates its own database there.
		dsn := dbtest.Options(t, b).DSN
		getenv = func(k string) string {
			if k == EnvPGDSN {
				return dsn
			}
			return os.Getenv(k)
		}
	}
	out := filepath.Join(t.TempDir(), "load.txt")
	var stdout, stderr bytes.Buffer
	args := []string{"-demo-bin", bin, "-db", string(b), "-n", "50", "-c", "4", "-endpoints", "all", "-count", "2", "-cold", "1s", "-timeout", "2m", "-out", out}
	code := Main(fixture.ITContext(t), args, &stdout, &stderr, getenv)
	require.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	rows := map[string][][]string{}
	for _, l := range strings.Split(stdout.String(), "\n") {
		f := strings.Fields(l)
		if len(f) == 12 && (f[0] == "load" || f[0] == "cold") {
			name := f[0] + " " + f[1] + "/" + f[2]
			rows[name] = append(rows[name], f)
		}
	}
	want := []string{"cold kms-encrypt/basic"}
	for _, auth := range []string{"basic", "bearer"} {
		for _, ep := range []string{"kms-encrypt", "kms-decrypt", "kms-sign", "kms-verify"} {
			want = append(want, "load "+ep+"/"+auth)
		}
	}
	want = append(want, "load identity-token/client", "load identity-introspect/client")
	for _, name := range want {
		phases := 2 // -count 2
		if strings.HasPrefix(name, "cold ") {
			phases = 1 // one cold start
		}
		if !assert.Len(t, rows[name], phases, "%s in the table:\n%s", name, stdout.String()) {
			continue
		}
		for _, f := range rows[name] {
			if f[0] == "load" {
				assert.Equal(t, "50", f[3], "%s: requests", name)
			}
			assert.Equal(t, "0", f[4], "%s: errors", name)
			assert.NotEqual(t, "-", f[10], "%s: server CPU measured", name)
			assert.NotEqual(t, "-", f[11], "%s: server RSS measured", name)
		}
	}
	assert.Len(t, rows, len(want), "no other rows")

	lines, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(lines), fmt.Sprintf("BenchmarkLoad/endpoint=kms-decrypt/auth=bearer/db=%s\t50\t", b))
	assert.Equal(t, 2*len(want)-1, strings.Count(string(lines), "\nBenchmarkLoad"), "a line per row")
}
