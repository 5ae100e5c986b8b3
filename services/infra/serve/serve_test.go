package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// testConfig is the smallest service configuration: the shared settings.
type testConfig struct {
	serve.Settings `yaml:",inline"`
}

// Validate shadows the promoted Settings.Validate, as a real service's
// does, so config.Validate reports each shared problem once.
func (*testConfig) Validate() error { return nil }

// testService answers /hello, panics on /panic, and reports checks.
func testService(checks ...serve.Check) *serve.Service {
	return &serve.Service{
		Name: "svc", Title: "Test service", DefaultListen: "127.0.0.1:0", Config: &testConfig{},
		Build: func(_ context.Context, env *serve.Env) (http.Handler, []serve.Check, error) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
			mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
			return mux, checks, nil
		},
	}
}

func start(t *testing.T, svc *serve.Service, opts serve.Options) (*serve.Instance, *http.Client) {
	t.Helper()
	dbo := dbtest.Options(t, dbtest.SQLite)
	opts.DB, opts.Demo, opts.ConfigLoaded = &dbo, true, true
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	inst, err := serve.Start(t.Context(), svc, opts)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(inst.Roots, nil)}, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		require.NoError(t, inst.Shutdown(context.WithoutCancel(t.Context())))
	})
	return inst, client
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestPanicStillLogsTheRequest: the access log sits outside Recover, so a
// request that panicked gets its line, with the 500 it was answered with.
func TestPanicStillLogsTheRequest(t *testing.T) {
	logs := &fixture.LogBuffer{}
	inst, c := start(t, testService(), serve.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	code, _ := get(t, c, inst.URL+"/panic")
	assert.Equal(t, http.StatusInternalServerError, code)
	var line map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"http request"`) && strings.Contains(l, `"/panic"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.NotNil(t, line, "an access-log line for the panicking request: %s", logs.String())
	assert.EqualValues(t, 500, line["status"])
	assert.NotEmpty(t, line["request_id"], "the request id reaches the access log")
}

// TestRequestsBecomeSpans: every request is an OpenTelemetry span on the
// configured tracer provider.
func TestRequestsBecomeSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	inst, c := start(t, testService(), serve.Options{TracerProvider: tp})
	code, body := get(t, c, inst.URL+"/hello")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "hello", body)
	require.NotEmpty(t, rec.Ended(), "the request was traced")
	assert.Equal(t, "GET /hello", rec.Ended()[0].Name())
}

// TestReadyzNamesChecksNotErrors: /readyz says which check failed with a
// fixed word; the error text goes to the log only.
func TestReadyzNamesChecksNotErrors(t *testing.T) {
	var failing sync.Mutex
	fail := false
	check := serve.Check{Name: "upstream", Check: func(context.Context) error {
		failing.Lock()
		defer failing.Unlock()
		if fail {
			return errors.New("dial tcp db.internal:5432: connection refused")
		}
		return nil
	}}
	logs := &fixture.LogBuffer{}
	inst, c := start(t, testService(check), serve.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})

	code, body := get(t, c, inst.URL+"/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready","checks":{"database":"ok","barrier":"ok","upstream":"ok"}}`, body)

	failing.Lock()
	fail = true
	failing.Unlock()
	code, body = get(t, c, inst.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.JSONEq(t, `{"status":"not ready","checks":{"database":"ok","barrier":"ok","upstream":"unavailable"}}`, body)
	assert.NotContains(t, body, "db.internal")
	assert.Contains(t, logs.String(), "db.internal:5432", "the cause is logged for the operator")

	code, body = get(t, c, inst.URL+"/livez")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ok"}`, body)
}

// TestDemoTempDirRemoved: a demo without a data dir keeps its unseal
// secret, CA key and database in a temporary dir that Shutdown removes.
func TestDemoTempDirRemoved(t *testing.T) {
	dbo := dbtest.Options(t, dbtest.SQLite)
	inst, err := serve.Start(t.Context(), testService(), serve.Options{Demo: true, ConfigLoaded: true, DB: &dbo})
	require.NoError(t, err)
	require.DirExists(t, inst.DataDir)
	assert.FileExists(t, filepath.Join(inst.DataDir, serve.DemoSecretFile))
	assert.FileExists(t, inst.CAFile)
	require.NoError(t, inst.Shutdown(t.Context()))
	assert.NoDirExists(t, inst.DataDir)
}

// TestFailedStartRemovesDemoTempDir: a start that fails after making its
// temporary dir removes it again.
func TestFailedStartRemovesDemoTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	svc := testService()
	svc.Build = func(context.Context, *serve.Env) (http.Handler, []serve.Check, error) {
		return nil, nil, errors.New("build failed")
	}
	dbo := dbtest.Options(t, dbtest.SQLite)
	_, err := serve.Start(t.Context(), svc, serve.Options{Demo: true, ConfigLoaded: true, DB: &dbo, Listen: "127.0.0.1:0"})
	require.ErrorContains(t, err, "build failed")
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing left in the temp dir")
}

// TestWaitNoticesAServerThatStopped: Wait returns an error as soon as the
// server stops serving on its own, without a signal.
func TestWaitNoticesAServerThatStopped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dbo := dbtest.Options(t, dbtest.SQLite)
	inst, err := serve.Start(t.Context(), testService(), serve.Options{Listener: ln, Demo: true, ConfigLoaded: true, DB: &dbo, DataDir: t.TempDir()})
	require.NoError(t, err)
	ln.Close()                                                   // the server loses its listener
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // no signal comes
	defer cancel()
	err = inst.Wait(ctx)
	require.Error(t, err)
	assert.NoError(t, ctx.Err(), "Wait returned because serving stopped, not at the deadline")
}

// TestWaitStopsOnSignal: the signal context ending is a clean stop.
func TestWaitStopsOnSignal(t *testing.T) {
	inst, _ := start(t, testService(), serve.Options{Listen: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, inst.Wait(ctx))
	<-inst.Done()
	assert.NoError(t, inst.Err())
}

// TestCertificateMustMatchKey: a key that does not belong to the
// certificate stops the start with an error naming the files.
func TestCertificateMustMatchKey(t *testing.T) {
	dir := t.TempDir()
	a, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "a"), "svc")
	require.NoError(t, err)
	_, err = tlsx.EnsureDemoPKI(filepath.Join(dir, "b"), "svc")
	require.NoError(t, err)
	svc := testService()
	svc.Config = &testConfig{Settings: serve.Settings{TLS: config.TLS{
		CertFile: filepath.Join(dir, "a", "svc.pem"), KeyFile: filepath.Join(dir, "b", "svc-key.pem"), CAFile: a.CAFile,
	}}}
	dbo := dbtest.Options(t, dbtest.SQLite)
	_, err = serve.Start(t.Context(), svc, serve.Options{Demo: true, ConfigLoaded: true, DB: &dbo, DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	require.ErrorContains(t, err, "tls.key_file does not match the first certificate of tls.cert_file")
}

// TestConfigure: a configuration built in code is copied and final; without
// one the defaults are used and the file and environment are still read.
func TestConfigure(t *testing.T) {
	defaults := func() testConfig { return testConfig{Settings: serve.Settings{Listen: "127.0.0.1:1"}} }
	given := &testConfig{Settings: serve.Settings{Listen: "127.0.0.1:2"}}
	cfg, opts := serve.Configure(serve.Options{Listen: "x"}, given, defaults)
	assert.True(t, opts.ConfigLoaded)
	assert.Equal(t, "x", opts.Listen, "the other options pass through")
	cfg.Listen = "changed"
	assert.Equal(t, "127.0.0.1:2", given.Listen, "the caller's config is copied, never modified")

	cfg, opts = serve.Configure[testConfig](serve.Options{}, nil, defaults)
	assert.False(t, opts.ConfigLoaded)
	assert.Equal(t, "127.0.0.1:1", cfg.Listen)
}

// TestHandlerWithoutLogger: Handler used on its own, without a logger,
// still answers a failing readiness check instead of panicking.
func TestHandlerWithoutLogger(t *testing.T) {
	h := serve.Handler("svc", http.NotFoundHandler(), []serve.Check{{Name: "dep", Check: func(context.Context) error { return errors.New("down") }}}, serve.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.JSONEq(t, `{"status":"not ready","checks":{"dep":"unavailable"}}`, rec.Body.String())
}
