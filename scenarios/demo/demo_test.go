package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// fakeService is a loopback TLS server from the demo PKI that answers
// /readyz and /hello, and writes a demo.json like a real service would.
type fakeService struct {
	mu       sync.Mutex
	started  map[string]string // service -> data dir
	stopped  []string
	notReady bool
}

func (f *fakeService) starter(svc string) Starter {
	return func(ctx context.Context, o StartOptions) (*Instance, error) {
		pki, err := tlsx.EnsureDemoPKI(o.PKIDir, svc)
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if f.notReady {
				http.Error(w, `{"not_ready":["db"]}`, http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, `{"status":"ready"}`)
		})
		mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello "+svc) })
		srv := httptest.NewUnstartedServer(mux)
		srv.TLS = tlsx.ServerConfig(pki.Certificate, nil)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected in some cases
		srv.StartTLS()
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, err
		}
		o.Logger.Info("started", "service", svc)
		path, err := demofile.Write(o.DataDir, demoDoc(svc, srv.URL, pki.CAFile))
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		if f.started == nil {
			f.started = map[string]string{}
		}
		f.started[svc] = o.DataDir
		f.mu.Unlock()
		return &Instance{URL: srv.URL, CAFile: pki.CAFile, DemoFile: path, Shutdown: func(context.Context) error {
			srv.Close()
			f.mu.Lock()
			f.stopped = append(f.stopped, svc)
			f.mu.Unlock()
			return nil
		}}, nil
	}
}

func demoDoc(svc, url, ca string) *demofile.File {
	return &demofile.File{
		Service: svc, BaseURL: url, CAFile: ca,
		Tenants: []demofile.Tenant{{
			ID: "3f0c6b8e-1d2a-4b5c-8d9e-0a1b2c3d4e5f", Name: "demo-tenant-a",
			Users:   []demofile.User{{Username: "admin", Password: "pa'ss", Roles: []string{"admin"}}, {Username: "writer", Password: "w", Roles: []string{"writer"}}},
			Keys:    []demofile.Key{{ID: "0193f3c2-0000-7000-8000-000000000001", Name: "demo-aes", Algorithm: "A256GCM", Purpose: "encrypt"}},
			Clients: []demofile.Client{{ClientID: "svc-client", ClientSecret: "s3cret", Kind: demofile.KindService, Scopes: []string{"kms:read"}}},
		}},
	}
}

// helloScenario waits for readiness, then checks /hello over the target's
// CA-pinned client; failing adds a step that fails and one that depends on it.
func helloScenario(failing bool) Scenario {
	return func(t *target.Target) []step.Step {
		steps := []step.Step{
			{Phase: t.Service, Name: "readyz", Timeout: t.HealthTimeout, Run: func(ctx context.Context) error { return t.WaitReady(ctx, 10*time.Millisecond) }},
			{Phase: t.Service, Name: "hello", DependsOn: []string{"readyz"}, Run: func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.URL("/hello"), nil)
				resp, body, err := t.Do(req)
				if err != nil {
					return err
				}
				if err := target.CheckStatus(resp, body, http.StatusOK); err != nil {
					return err
				}
				if string(body) != "hello "+t.Service {
					return fmt.Errorf("body %q", body)
				}
				return nil
			}},
		}
		if failing {
			steps = append(steps,
				step.Step{Phase: t.Service, Name: "broken", Run: func(context.Context) error { return errors.New("deliberately broken") }},
				step.Step{Phase: t.Service, Name: "after-broken", DependsOn: []string{"broken"}, Run: func(context.Context) error { return nil }},
			)
		}
		return steps
	}
}

func testDeps(f *fakeService, failing bool) Deps {
	return Deps{
		Starters:  map[string]Starter{"kms": f.starter("kms"), "identity": f.starter("identity")},
		Scenarios: map[string]Scenario{"kms": helloScenario(failing), "identity": helloScenario(false)},
		Integration: func(kms, idp *target.Target) []step.Step {
			return []step.Step{{Phase: "integration", Name: "both-up", Run: func(ctx context.Context) error {
				if err := kms.WaitReady(ctx, 10*time.Millisecond); err != nil {
					return err
				}
				return idp.WaitReady(ctx, 10*time.Millisecond)
			}}}
		},
		Getenv:     func(string) string { return "" },
		IsTerminal: func(io.Writer) bool { return false },
	}
}

func TestRunInProcess(t *testing.T) {
	cases := []struct {
		desc     string
		args     []string
		failing  bool
		wantCode int
		wantOut  []string
		wantErr  []string
		check    func(t *testing.T, stdout, stderr string)
	}{
		{
			desc:     "all scenarios pass: exit 0, human report, services stopped",
			args:     []string{"all"},
			wantCode: 0,
			wantOut: []string{
				"Starting the kms in-process", "Starting the identity in-process",
				"== kms ==", "== identity ==", "== integration ==", "[1/5] PASS readyz", "[4/5] PASS hello", "[5/5] PASS both-up",
				"Summary: 5 passed, 0 failed, 0 not run", "--keep-running",
			},
		},
		{
			desc:     "a failing step: exit 1, step named, dependent not run, logs pointed to",
			args:     []string{"kms", "--no-color"},
			failing:  true,
			wantCode: 1,
			wantOut: []string{
				"FAIL broken", "error: deliberately broken",
				"Failed steps:\n  FAIL kms/broken: deliberately broken",
				`SKIP kms/after-broken: depends on "broken", which failed`,
				"Service logs (kept after the demo exits; remove ", "kms.log",
			},
		},
		{
			desc:     "json output: one document on stdout, progress and notes on stderr",
			args:     []string{"--output", "json", "all"},
			wantCode: 0,
			wantErr:  []string{"Starting the kms in-process", "[1/5] PASS readyz"},
			check: func(t *testing.T, stdout, _ string) {
				dec := json.NewDecoder(strings.NewReader(stdout))
				var doc step.Document
				require.NoError(t, dec.Decode(&doc))
				assert.False(t, dec.More(), "exactly one document")
				assert.Equal(t, step.Totals{Steps: 5, Passed: 5}, doc.Totals)
				assert.Equal(t, "identity", doc.Steps[3].Phase)
			},
		},
		{
			desc:     "structured output: JSON lines only on stdout",
			args:     []string{"kms", "--output=structured"},
			failing:  true,
			wantCode: 1,
			check: func(t *testing.T, stdout, _ string) {
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				require.Len(t, lines, 1+3*2+1+1, "run start, 3 steps with start+end, 1 not-run end, run end")
				for _, l := range lines {
					var rec step.Record
					require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
				}
			},
		},
		{
			desc:     "fail-fast: later steps not run",
			args:     []string{"kms", "--fail-fast"},
			failing:  true,
			wantCode: 1,
			wantOut:  []string{`fail-fast: stopped after "kms/broken" failed`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			f := &fakeService{}
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), tc.args, &stdout, &stderr, testDeps(f, tc.failing))
			assert.Equal(t, tc.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			for _, w := range tc.wantOut {
				assert.Contains(t, stdout.String(), w)
			}
			for _, w := range tc.wantErr {
				assert.Contains(t, stderr.String(), w)
			}
			if tc.check != nil {
				tc.check(t, stdout.String(), stderr.String())
			}
			assert.Len(t, f.stopped, len(f.started), "every started service is stopped")
			for svc, dir := range f.started {
				demoDir := filepath.Dir(dir)
				if tc.wantCode == 0 {
					_, err := os.Stat(demoDir)
					assert.True(t, os.IsNotExist(err), "the demo directory is removed")
					continue
				}
				// A failed run keeps only the logs it pointed to.
				t.Cleanup(func() { os.RemoveAll(demoDir) })
				entries, err := os.ReadDir(demoDir)
				require.NoError(t, err)
				var left []string
				for _, e := range entries {
					left = append(left, e.Name())
				}
				assert.Equal(t, []string{svc + ".log"}, left, "data and keys are removed, the log stays")
				logText, err := os.ReadFile(filepath.Join(demoDir, svc+".log"))
				require.NoError(t, err)
				assert.Contains(t, string(logText), `"msg":"started"`)
				if !strings.Contains(strings.Join(tc.args, " "), "--output") { // human output names the kept file
					assert.Contains(t, stdout.String(), filepath.Join(demoDir, svc+".log"))
				}
			}
		})
	}
}

// freePort returns a loopback address nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestRunExternal(t *testing.T) {
	// A "running stack": one fake service started outside the demo.
	f := &fakeService{}
	pkiDir := t.TempDir()
	inst, err := f.starter("kms")(t.Context(), StartOptions{DataDir: t.TempDir(), PKIDir: pkiDir, Logger: discardLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })

	unreachable := "https://" + freePort(t)
	cases := []struct {
		desc     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{
			desc:     "demo file alone: URL and CA from it",
			args:     []string{"kms", "--demo-file", inst.DemoFile},
			wantCode: 0,
			wantOut:  []string{"Using the kms at " + inst.URL, "Summary: 2 passed"},
		},
		{
			desc:     "explicit URL and CA",
			args:     []string{"kms", "--kms-url", inst.URL + "/", "--kms-demo-file", inst.DemoFile, "--ca-cert", inst.CAFile},
			wantCode: 0,
		},
		{
			desc:     "unreachable target: nothing passed, exit 2 after the health timeout",
			args:     []string{"kms", "--kms-url", unreachable, "--demo-file", inst.DemoFile, "--health-timeout", "300ms"},
			wantCode: 2,
			wantOut:  []string{"FAIL readyz", "connection refused", `depends on "readyz", which failed`, "No step passed."},
		},
		{
			desc:     "a CA that did not issue the server certificate is refused",
			args:     []string{"kms", "--demo-file", inst.DemoFile, "--ca-cert", otherCA(t), "--health-timeout", "300ms"},
			wantCode: 2,
			wantOut:  []string{"certificate signed by unknown authority"},
		},
		{
			desc:     "demo file of another service",
			args:     []string{"identity", "--demo-file", inst.DemoFile},
			wantCode: 2,
			wantErr:  []string{`describes service "kms"`},
		},
		{
			desc:     "missing demo file",
			args:     []string{"kms", "--demo-file", filepath.Join(t.TempDir(), "nope.json")},
			wantCode: 2,
			wantErr:  []string{"read demo file"},
		},
		{
			desc:     "plain http URL is refused",
			args:     []string{"kms", "--kms-url", "http://127.0.0.1:1", "--demo-file", inst.DemoFile},
			wantCode: 2,
			wantErr:  []string{"want https://host:port"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			deps := testDeps(&fakeService{}, false)
			deps.Starters = nil // nothing may be started in-process here
			code := Run(t.Context(), tc.args, &stdout, &stderr, deps)
			assert.Equal(t, tc.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			for _, w := range tc.wantOut {
				assert.Contains(t, stdout.String(), w)
			}
			for _, w := range tc.wantErr {
				assert.Contains(t, stderr.String(), w)
			}
		})
	}
}

func otherCA(t *testing.T) string {
	t.Helper()
	pki, err := tlsx.EnsureDemoPKI(t.TempDir(), "other")
	require.NoError(t, err)
	return pki.CAFile
}

func discardLogger() *slogLogger { return newDiscardLogger() }

func TestRunFatal(t *testing.T) {
	cases := []struct {
		desc    string
		args    []string
		deps    func(Deps) Deps
		wantErr []string
	}{
		{
			desc: "a service that cannot start",
			args: []string{"kms"},
			deps: func(d Deps) Deps {
				d.Starters["kms"] = func(context.Context, StartOptions) (*Instance, error) { return nil, errors.New("port in use") }
				return d
			},
			wantErr: []string{"start kms: port in use", "The kms wrote nothing to its log before failing."},
		},
		{
			desc: "a service missing from this build",
			args: []string{"identity"},
			deps: func(d Deps) Deps {
				delete(d.Starters, "identity")
				return d
			},
			wantErr: []string{"the identity cannot be started in-process by this build"},
		},
		{
			desc: "a scenario missing from this build",
			args: []string{"identity"},
			deps: func(d Deps) Deps {
				delete(d.Scenarios, "identity")
				return d
			},
			wantErr: []string{`scenario "identity" is not available in this build`},
		},
		{
			desc: "an invalid step plan",
			args: []string{"kms"},
			deps: func(d Deps) Deps {
				d.Scenarios["kms"] = func(*target.Target) []step.Step { return []step.Step{{Name: "x"}} }
				return d
			},
			wantErr: []string{"invalid step plan"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), tc.args, &stdout, &stderr, tc.deps(testDeps(&fakeService{}, false)))
			assert.Equal(t, 2, code)
			for _, w := range tc.wantErr {
				assert.Contains(t, stderr.String(), w)
			}
		})
	}
}

func TestKeepRunning(t *testing.T) {
	f := &fakeService{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	deps := testDeps(f, false)
	var atReady string
	var stdout, stderr bytes.Buffer
	deps.Ready = func() {
		atReady = stdout.String()
		f.mu.Lock()
		assert.Empty(t, f.stopped, "services still up while keep-running waits")
		f.mu.Unlock()
		cancel() // Ctrl-C
	}
	code := Run(ctx, []string{"all", "--keep-running"}, &stdout, &stderr, deps)
	assert.Equal(t, 0, code, stderr.String())
	for _, w := range []string{
		"The services keep running",
		"KMS\n  URL:              https://127.0.0.1:",
		"demo credentials: ", "demo.json",
		"Swagger UI:",
		`curl --cacert '`, `-u 'admin:pa'\''ss'`, "/api/v1/elastic-keys'",
		"/api/v1/elastic-keys/0193f3c2-0000-7000-8000-000000000001/encrypt'",
		"Identity\n", "/.well-known/openid-configuration'", `-u 'svc-client:s3cret' -d grant_type=client_credentials`, `'scope=kms:read'`,
		"Press Ctrl-C to stop the services.",
	} {
		assert.Contains(t, atReady, w)
	}
	assert.NotContains(t, atReady, " -k ")
	assert.NotContains(t, atReady, "--insecure")
	assert.Contains(t, stdout.String(), "Stopping the services")
	assert.ElementsMatch(t, []string{"kms", "identity"}, f.stopped)
}

func TestInterruptedRun(t *testing.T) {
	f := &fakeService{notReady: true}
	ctx, cancel := context.WithCancel(t.Context())
	deps := testDeps(f, false)
	time.AfterFunc(200*time.Millisecond, cancel)
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"all", "--keep-running", "--health-timeout", "1m"}, &stdout, &stderr, deps)
	assert.Equal(t, 2, code)
	assert.Contains(t, stdout.String(), "run interrupted")
	assert.NotContains(t, stdout.String(), "The services keep running", "Ctrl-C during the run does not keep them up")
	assert.ElementsMatch(t, []string{"kms", "identity"}, f.stopped)
	// No step passed: the logs are kept for the user, at the path printed.
	for svc, dir := range f.started {
		demoDir := filepath.Dir(dir)
		t.Cleanup(func() { os.RemoveAll(demoDir) })
		assert.FileExists(t, filepath.Join(demoDir, svc+".log"))
		assert.NoDirExists(t, dir, "service data is removed")
		assert.Contains(t, stdout.String(), filepath.Join(demoDir, svc+".log"))
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		desc     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  []string
	}{
		{desc: "help", args: []string{"-h"}, wantCode: 0, wantOut: "usage: demo kms|identity|integration|all [flags]"},
		{desc: "no scenario", args: nil, wantCode: 2, wantErr: []string{"missing scenario", "usage: demo"}},
		{desc: "unknown scenario", args: []string{"bank"}, wantCode: 2, wantErr: []string{`unknown scenario "bank"`}},
		{desc: "two scenarios", args: []string{"kms", "identity"}, wantCode: 2, wantErr: []string{`unexpected argument "identity"`}},
		{desc: "unknown flag", args: []string{"kms", "--bogus"}, wantCode: 2, wantErr: []string{"flag provided but not defined: -bogus", "--output"}},
		{desc: "bad output", args: []string{"kms", "--output", "xml"}, wantCode: 2, wantErr: []string{`--output "xml"`}},
		{desc: "bad duration", args: []string{"kms", "--timeout", "soon"}, wantCode: 2, wantErr: []string{"invalid value"}},
		{desc: "non-positive health timeout", args: []string{"kms", "--health-timeout", "0s"}, wantCode: 2, wantErr: []string{"--health-timeout must be positive"}},
		{desc: "negative retry", args: []string{"kms", "--retry", "-1"}, wantCode: 2, wantErr: []string{"--retry must be 0 or more"}},
		{desc: "negative delay", args: []string{"kms", "--retry-delay", "-1s"}, wantCode: 2, wantErr: []string{"cannot be negative"}},
		{desc: "ambiguous demo file", args: []string{"all", "--demo-file", "x.json"}, wantCode: 2, wantErr: []string{"--demo-file is ambiguous"}},
		{desc: "both demo file flags", args: []string{"kms", "--demo-file", "x", "--kms-demo-file", "y"}, wantCode: 2, wantErr: []string{"not both"}},
		{desc: "both identity demo file flags", args: []string{"identity", "--demo-file", "x", "--identity-demo-file", "y"}, wantCode: 2, wantErr: []string{"not both"}},
		{desc: "kms url without demo file", args: []string{"kms", "--kms-url", "https://127.0.0.1:1"}, wantCode: 2, wantErr: []string{"--kms-url needs --kms-demo-file"}},
		{desc: "identity url without demo file", args: []string{"identity", "--identity-url", "https://127.0.0.1:1"}, wantCode: 2, wantErr: []string{"--identity-url needs"}},
		{desc: "keep-running with nothing in-process", args: []string{"kms", "--demo-file", "x", "--keep-running"}, wantCode: 2, wantErr: []string{"--keep-running keeps in-process services up"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), tc.args, &stdout, &stderr, testDeps(&fakeService{}, false))
			assert.Equal(t, tc.wantCode, code)
			assert.Contains(t, stdout.String(), tc.wantOut)
			for _, w := range tc.wantErr {
				assert.Contains(t, stderr.String(), w)
			}
		})
	}
}

func TestParseOrderAndDefaults(t *testing.T) {
	o, err := Parse([]string{"--retry", "4", "all", "--output", "json", "--identity-demo-file", "i.json"})
	require.NoError(t, err)
	assert.Equal(t, []string{"kms", "identity", "integration"}, o.Scenarios)
	assert.Equal(t, 4, o.Retry)
	assert.Equal(t, "json", o.Output)
	assert.Equal(t, 30*time.Second, o.HealthTimeout)
	assert.False(t, o.External("kms"))
	assert.True(t, o.External("identity"))
	assert.False(t, o.External("other"))
	assert.Equal(t, "demo file i.json", o.describeExternal("identity"))
}

func TestFatalMachineReadable(t *testing.T) {
	cases := []struct {
		desc  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{
			desc: "json: one document with the error",
			args: []string{"kms", "--output", "json"},
			check: func(t *testing.T, stdout string) {
				var doc step.Document
				require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
				assert.Equal(t, 2, doc.ExitCode)
				assert.Contains(t, doc.Error, "start kms: port in use")
				assert.Zero(t, doc.Totals.Steps)
			},
		},
		{
			desc: "structured: one fatal record",
			args: []string{"kms", "--output", "structured"},
			check: func(t *testing.T, stdout string) {
				var rec step.Record
				require.NoError(t, json.Unmarshal([]byte(stdout), &rec))
				assert.Equal(t, "FATAL", rec.SeverityText)
				assert.Equal(t, "passthru-demo", rec.Resource["service.name"])
			},
		},
		{
			desc:  "human: nothing on stdout",
			args:  []string{"kms"},
			check: func(t *testing.T, stdout string) { assert.NotContains(t, stdout, "{") },
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			deps := testDeps(&fakeService{}, false)
			deps.Starters["kms"] = func(context.Context, StartOptions) (*Instance, error) { return nil, errors.New("port in use") }
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), tc.args, &stdout, &stderr, deps)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr.String(), "demo: start kms: port in use")
			tc.check(t, stdout.String())
		})
	}
}

// TestNoColorHelpIsTrue checks that --help says exactly what --no-color,
// NO_COLOR and CI do to colour, emoji and the spinner (the spinner
// runs while a step runs on a terminal; colour and emoji switch off with
// --no-color, NO_COLOR or CI).
func TestNoColorHelpIsTrue(t *testing.T) {
	var help bytes.Buffer
	require.Equal(t, 0, Run(t.Context(), []string{"--help"}, &help, io.Discard, testDeps(&fakeService{}, false)))
	assert.Contains(t, help.String(), "  --no-color\n        no colour or emoji (also: NO_COLOR or CI set, or output not a terminal); "+
		"the progress spinner runs only on a terminal and never when CI is set\n")
	assert.NotContains(t, help.String(), "emoji or spinner", "--no-color does not stop the spinner")

	for _, tc := range []struct {
		desc        string
		args        []string
		env         map[string]string
		terminal    bool
		wantColor   bool
		wantSpinner bool
	}{
		{desc: "terminal, nothing set: colour and spinner", terminal: true, wantColor: true, wantSpinner: true},
		{desc: "--no-color on a terminal: no colour, spinner still runs", args: []string{"--no-color"}, terminal: true, wantSpinner: true},
		{desc: "NO_COLOR on a terminal: no colour, spinner still runs", env: map[string]string{"NO_COLOR": "1"}, terminal: true, wantSpinner: true},
		{desc: "CI on a terminal: neither", env: map[string]string{"CI": "true"}, terminal: true},
		{desc: "not a terminal: neither", terminal: false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			o, err := Parse(append([]string{"kms"}, tc.args...))
			require.NoError(t, err)
			style := step.Style(o.NoColor, func(k string) string { return tc.env[k] }, tc.terminal)
			assert.Equal(t, tc.wantColor, style.Color, "colour and emoji")
			assert.Equal(t, tc.wantSpinner, style.Spinner, "spinner")
		})
	}
}

// TestStartFailureShowsLog: when a service fails to start, the demo shows
// the end of its log on stderr instead of naming a file in the demo
// directory, which is gone by the time the user reads the message.
func TestStartFailureShowsLog(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		logLines  int
		output    string
		wantErr   []string
		forbidden []string
	}{
		{
			desc: "a short log is shown whole", logLines: 3,
			wantErr: []string{"demo: start kms: open database: disk on fire\n", "The kms log (last 3 of 3 lines):\n", `  {"time":`, `"msg":"step 0"`, `"msg":"step 2"`},
		},
		{
			desc: "a long log is cut to its last 40 lines", logLines: 100,
			wantErr:   []string{"The kms log (last 40 of 100 lines):\n", `"msg":"step 60"`, `"msg":"step 99"`},
			forbidden: []string{`"msg":"step 59"`},
		},
		{
			desc: "an empty log says so", logLines: 0,
			wantErr: []string{"The kms wrote nothing to its log before failing."},
		},
		{
			desc: "json output: the log still goes to stderr", logLines: 2, output: "json",
			wantErr: []string{"The kms log (last 2 of 2 lines):\n", `"msg":"step 1"`},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			deps := testDeps(&fakeService{}, false)
			var dataDir string
			deps.Starters["kms"] = func(_ context.Context, o StartOptions) (*Instance, error) {
				dataDir = o.DataDir
				for i := range tc.logLines {
					o.Logger.Info(fmt.Sprintf("step %d", i))
				}
				return nil, errors.New("open database: disk on fire")
			}
			args := []string{"kms"}
			if tc.output != "" {
				args = append(args, "--output", tc.output)
			}
			var stdout, stderr bytes.Buffer
			code := Run(t.Context(), args, &stdout, &stderr, deps)
			assert.Equal(t, 2, code)
			for _, w := range tc.wantErr {
				assert.Contains(t, stderr.String(), w)
			}
			for _, w := range tc.forbidden {
				assert.NotContains(t, stderr.String(), w)
			}
			require.NotEmpty(t, dataDir)
			demoDir := filepath.Dir(dataDir)
			_, err := os.Stat(demoDir)
			assert.True(t, os.IsNotExist(err), "the demo directory is removed")
			assert.NotContains(t, stderr.String()+stdout.String(), demoDir, "no pointer to a removed file")
		})
	}
}

func TestTailLines(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		desc      string
		content   string
		n         int
		want      []string
		wantTotal int
	}{
		{desc: "empty", content: "", n: 2},
		{desc: "fewer lines than asked", content: "a\nb\n", n: 5, want: []string{"a", "b"}, wantTotal: 2},
		{desc: "last n, no final newline", content: "a\nb\nc", n: 2, want: []string{"b", "c"}, wantTotal: 3},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.desc, " ", "-"))
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			got, total, err := tailLines(path, tc.n)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantTotal, total)
		})
	}
	_, _, err := tailLines(filepath.Join(dir, "missing"), 3)
	assert.ErrorContains(t, err, "read log")
}

func TestIntegrationNeedsBothServicesIdentityFirst(t *testing.T) {
	o, err := Parse([]string{"integration"})
	require.NoError(t, err)
	assert.Equal(t, []string{"integration"}, o.Scenarios)
	assert.Equal(t, []string{"identity", "kms"}, o.Services())
	o, err = Parse([]string{"kms"})
	require.NoError(t, err)
	assert.Equal(t, []string{"kms"}, o.Services())
	_, err = Parse([]string{"integration", "--demo-file", "x"})
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
}

// TestPostgresDSNFileReachesEveryService: --postgres-dsn-file is handed to
// each in-process service, and the notes say where the data goes.
func TestPostgresDSNFileReachesEveryService(t *testing.T) {
	f := &fakeService{}
	deps := testDeps(f, false)
	var mu sync.Mutex
	got := map[string]string{}
	for _, svc := range []string{"kms", "identity"} {
		start := deps.Starters[svc]
		deps.Starters[svc] = func(ctx context.Context, o StartOptions) (*Instance, error) {
			mu.Lock()
			got[svc] = o.PostgresDSNFile
			mu.Unlock()
			return start(ctx, o)
		}
	}
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"integration", "--postgres-dsn-file", "/run/secrets/pg-dsn"}, &stdout, &stderr, deps)
	require.Equal(t, 0, code, stderr.String())
	assert.Equal(t, map[string]string{"kms": "/run/secrets/pg-dsn", "identity": "/run/secrets/pg-dsn"}, got)
	assert.Contains(t, stdout.String(), "Starting the kms in-process (loopback TLS, PostgreSQL, demo data)")
}

func TestUseDatabase(t *testing.T) {
	db := config.Database{}
	useDatabase(&db, StartOptions{})
	assert.Equal(t, config.Database{}, db, "no DSN file: the SQLite default stays")
	useDatabase(&db, StartOptions{PostgresDSNFile: "/dsn"})
	assert.Equal(t, config.Database{Driver: "postgres", DSNFile: "/dsn"}, db)
}
