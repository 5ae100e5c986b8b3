package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/scenarios/demo"
	kmsscenario "github.com/passthru-dev/passthru/scenarios/kms"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// binDir holds the demo binary; TestMain creates and removes it.
var binDir string

// buildDemo compiles this command once per test binary, when a test first
// needs it.
var buildDemo = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "demo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demo-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo test: temp dir for the binary:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// runDemo executes the built binary with a plain environment (no colour).
func runDemo(t *testing.T, args ...string) result {
	t.Helper()
	bin, err := buildDemo()
	require.NoError(t, err)
	cmd := exec.CommandContext(fixture.ITContext(t), bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (r result) String() string { return "stdout:\n" + r.stdout + "\nstderr:\n" + r.stderr }

func TestDemoInProcessAllPass(t *testing.T) {
	t.Parallel()
	r := runDemo(t, "all")
	require.Equal(t, 0, r.code, r)
	assert.Contains(t, r.stdout, "Starting the kms in-process")
	assert.Contains(t, r.stdout, "0 failed, 0 not run")
	assert.Contains(t, r.stdout, "All steps passed.")
	assert.NotContains(t, r.stdout, "\x1b[", "NO_COLOR and a pipe: no escape codes")
}

func TestDemoUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc string
		args []string
		want string
	}{
		{desc: "unknown flag", args: []string{"kms", "--bogus"}, want: "flag provided but not defined: -bogus"},
		{desc: "unknown subcommand", args: []string{"bank"}, want: `unknown scenario "bank"`},
		{desc: "bad flag value", args: []string{"kms", "--output", "yaml"}, want: `--output "yaml"`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := runDemo(t, tc.args...)
			assert.Equal(t, 2, r.code, r)
			assert.Contains(t, r.stderr, tc.want)
			assert.Contains(t, r.stderr, "usage: demo kms|identity|integration|all [flags]")
			assert.Empty(t, r.stdout)
		})
	}
}

func TestDemoUnreachableTarget(t *testing.T) {
	t.Parallel()
	// A demo file whose service is not running: a real CA, a closed port.
	dir := t.TempDir()
	pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "tls"), "kms")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "https://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	path, err := demofile.Write(dir, &demofile.File{Service: "kms", BaseURL: url, CAFile: pki.CAFile, Tenants: []demofile.Tenant{{ID: "x", Name: "t"}}})
	require.NoError(t, err)

	start := time.Now()
	r := runDemo(t, "kms", "--demo-file", path, "--health-timeout", "1s")
	assert.Equal(t, 2, r.code, r)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "gives up only after the health timeout")
	assert.Contains(t, r.stdout, "FAIL readyz")
	assert.Contains(t, r.stdout, "connection refused")
	steps := kmsscenario.Steps(&target.Target{Service: "kms"})
	assert.Contains(t, r.stdout, fmt.Sprintf("0 passed, 1 failed, %d not run", len(steps)-1), "every step but readyz is not run")
}

// startStack starts a fixture KMS the binary can target from outside.
func startStack(t *testing.T) *fixture.KMS {
	t.Helper()
	return fixture.StartKMS(t, dbtest.Backend("sqlite"))
}

func TestDemoJSONOutput(t *testing.T) {
	t.Parallel()
	k := startStack(t)
	r := runDemo(t, "kms", "--demo-file", k.DemoFile, "--output", "json")
	require.Equal(t, 0, r.code, r)

	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var doc step.Document
	require.NoError(t, dec.Decode(&doc), r)
	_, err := dec.Token()
	assert.Error(t, err, "exactly one JSON document on stdout")

	tgt, err := target.New(target.Options{Service: "kms", DemoFile: k.DemoFile})
	require.NoError(t, err)
	steps := kmsscenario.Steps(tgt)
	assert.Equal(t, step.Totals{Steps: len(steps), Passed: len(steps)}, doc.Totals)
	require.Len(t, doc.Steps, len(steps))
	for i, s := range steps {
		assert.Equal(t, s.Name, doc.Steps[i].Step)
		assert.Equal(t, step.Passed, doc.Steps[i].Outcome)
	}
	assert.Contains(t, r.stderr, "Using the kms at "+k.URL, "notes and progress go to stderr")
	assert.Contains(t, r.stderr, "PASS readyz")
}

func TestDemoStructuredOutput(t *testing.T) {
	t.Parallel()
	k := startStack(t)
	r := runDemo(t, "kms", "--demo-file", k.DemoFile, "--output", "structured")
	require.Equal(t, 0, r.code, r)
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	n := 0
	for sc.Scan() {
		var rec step.Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), sc.Text())
		assert.NotEmpty(t, rec.SeverityText)
		assert.NotEmpty(t, rec.Attributes["event.name"])
		n++
	}
	tgt, err := target.New(target.Options{Service: "kms", DemoFile: k.DemoFile})
	require.NoError(t, err)
	assert.Equal(t, 2+2*len(kmsscenario.Steps(tgt)), n, "run start/end plus start/end per step")
}

// TestDemoFailingStack removes a demo user from a running KMS: the step that
// checks every seeded user fails and is named; the rest still pass.
func TestDemoFailingStack(t *testing.T) {
	t.Parallel()
	k := startStack(t)
	tenantB := k.Tenant(t, 1)
	writer, err := target.UserWithRole(tenantB, "writer")
	require.NoError(t, err)
	admin := k.APIAs(t, 1, "admin")
	ctx := fixture.ITContext(t)
	list, err := admin.ListRealmUsersWithResponse(ctx, &api.ListRealmUsersParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode(), string(list.Body))
	removed := false
	for _, u := range list.JSON200.Items {
		if u.Username == writer.Username {
			del, err := admin.DeleteRealmUserWithResponse(ctx, u.Id)
			require.NoError(t, err)
			require.Less(t, del.StatusCode(), 300, string(del.Body))
			removed = true
		}
	}
	require.True(t, removed, "demo user %s found in tenant B", writer.Username)

	r := runDemo(t, "kms", "--demo-file", k.DemoFile)
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stdout, "Failed steps:\n  FAIL kms/seeded-data-present: ")
	assert.Contains(t, r.stdout, writer.Username)
	steps := kmsscenario.Steps(&target.Target{Service: "kms"})
	assert.Contains(t, r.stdout, fmt.Sprintf("%d passed, 1 failed, 0 not run", len(steps)-1))
}

func TestDemoKeepRunningStopsOnInterrupt(t *testing.T) {
	t.Parallel()
	bin, err := buildDemo()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(fixture.ITContext(t))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "kms", "--keep-running")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var seen strings.Builder
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Press Ctrl-C to stop the services.") {
			ready = true
			break
		}
	}
	require.True(t, ready, seen.String())
	text := seen.String()
	assert.Contains(t, text, "curl --cacert '")
	assert.NotContains(t, text, " -k ")

	// The advertised service answers while the demo waits.
	var demoPath string
	for _, line := range strings.Split(text, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "demo credentials: "); ok {
			demoPath = p
		}
	}
	tgt, err := target.New(target.Options{Service: "kms", DemoFile: demoPath})
	require.NoError(t, err, text)
	require.NoError(t, tgt.WaitReady(ctx, 0))

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
	}
	require.NoError(t, cmd.Wait(), seen.String())
	assert.Contains(t, seen.String(), "Stopping the services")
	_, err = os.Stat(demoPath)
	assert.True(t, os.IsNotExist(err), "the demo data is removed on exit")
}

// TestReadmeIntegrationCommands runs the README's integration commands, as
// a reader would paste them, against `demo integration --keep-running`:
// they get a token from Identity with curl, encrypt with it at the KMS, and
// show the 401 without it.
func TestReadmeIntegrationCommands(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "## Integrating with the KMS")
	require.True(t, ok, "README has an integration section")
	_, block, ok := strings.Cut(section, "```sh\n")
	require.True(t, ok)
	block, _, _ = strings.Cut(block, "```")
	require.Equal(t, strings.Join(demo.IntegrationCommands, "\n")+"\n", block, "the README shows the commands the demo prints")

	bin, err := buildDemo()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(fixture.ITContext(t))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "integration", "--keep-running")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	var seen strings.Builder
	var envPath string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		seen.WriteString(line + "\n")
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "environment:      source "); ok {
			envPath = strings.Trim(p, "'")
		}
		if strings.Contains(line, "Press Ctrl-C to stop the services.") {
			break
		}
	}
	require.NotEmpty(t, envPath, seen.String())

	sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", ". "+envPath+"\n"+block)
	got, err := sh.CombinedOutput()
	require.NoError(t, err, string(got))
	text := string(got)
	assert.Contains(t, text, `"ciphertext":"`, "the token encrypts at the KMS")
	assert.Regexp(t, `HTTP/[0-9.]+ 401`, text, "no token: 401")
	assert.Regexp(t, `(?i)www-authenticate: Bearer realm="kms"`, text)
	assert.Regexp(t, `"items":\[\{`, text, "the client certificate lists its tenant's keys")
}
