package serve_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// noSearch keeps the standard config search paths away from the machine's.
func noSearch(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

// TestRunFlagsAndCheckConfig: --check-config says OK on stdout and its
// findings on stderr; --help names the environment variables.
func TestRunFlagsAndCheckConfig(t *testing.T) {
	noSearch(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yml", "listen: 127.0.0.1:0\n")
	typo := writeFile(t, dir, "typo.yml", "pbkdf2_iterations: lots\n")
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		desc               string
		args               []string
		env                func(string) (string, bool)
		code               int
		wantOut, wantErr   string
		notOut, notWantErr string
	}{
		{desc: "valid", args: []string{"--check-config", "--demo", "--config", good}, code: 0, wantOut: "config OK: " + good},
		{desc: "findings go to stderr", args: []string{"--check-config", "--config", good}, code: 1,
			wantErr: "config invalid: tls.cert_file and tls.key_file are required outside demo mode", notOut: "invalid"},
		{desc: "a type error names the key", args: []string{"--check-config", "--demo", "--config", typo}, code: 1, wantErr: typo + ":1: pbkdf2_iterations: cannot unmarshal"},
		{desc: "environment applies", args: []string{"--check-config", "--demo"}, code: 1,
			env: func(k string) (string, bool) { return "nope", k == "PASSTHRU_SVC_LISTEN" }, wantErr: `listen: "nope"`},
		{desc: "help names the environment", args: []string{"--help"}, code: 0, wantErr: "  PASSTHRU_SVC_PBKDF2_ITERATIONS\n"},
		{desc: "usage error", args: []string{"--nope"}, code: 2},
		{desc: "invalid config stops a start", args: []string{"--config", good}, code: 1, wantErr: "svc: invalid config: "},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := tc.env
			if env == nil {
				env = noEnv
			}
			code := serve.Run(t.Context(), testService(), tc.args, &stdout, &stderr, env)
			assert.Equal(t, tc.code, code, "stdout=%s stderr=%s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), tc.wantOut)
			assert.Contains(t, stderr.String(), tc.wantErr)
			if tc.notOut != "" {
				assert.NotContains(t, stdout.String(), tc.notOut)
			}
		})
	}
}

// TestRunServesUntilCancelled: Run starts the service from its config file,
// prints the banner (with the service's own lines) and stops cleanly when
// its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	noSearch(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "svc.yml", "pbkdf2_iterations: 1000\nlog:\n  format: json\n")
	svc := testService()
	build := svc.Build
	svc.Build = func(ctx context.Context, env *serve.Env) (http.Handler, []serve.Check, error) {
		env.Banner("hello", env.URL+"/hello")
		ran := make(chan struct{})
		env.Go(func(ctx context.Context) { close(ran); <-ctx.Done() })
		env.Go(func(context.Context) { <-ran })
		return build(ctx, env)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr fixture.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- serve.Run(ctx, svc, []string{"--config", cfg, "--demo", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"}, &stdout, &stderr, nil)
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stdout.String(), "  hello:") {
		select {
		case code := <-done:
			t.Fatalf("Run exited early with %d: %s", code, stderr.String())
		case <-deadline:
			t.Fatalf("no banner: %s", stderr.String())
		case <-time.After(10 * time.Millisecond): // polling for the banner
		}
	}
	out := stdout.String()
	assert.Contains(t, out, "Test service listening on https://127.0.0.1:")
	assert.Contains(t, out, "  config:     "+cfg+"\n")
	assert.Contains(t, out, "  CA bundle:  "+filepath.Join(dir, "data", "tls", "ca.pem"))
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
	assert.Contains(t, stdout.String(), "svc: stopped")
	assert.Contains(t, stderr.String(), `"service":"svc"`, "JSON logs through telemetry")
}

// TestRunTelemetryFailure: a collector CA bundle that cannot be read stops
// the start with the config keys named.
func TestRunTelemetryFailure(t *testing.T) {
	noSearch(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "svc.yml", "log:\n  otlp_endpoint: https://127.0.0.1:4318\n  otlp_ca_file: "+filepath.Join(dir, "none.pem")+"\n")
	var stdout, stderr bytes.Buffer
	code := serve.Run(t.Context(), testService(), []string{"--config", cfg, "--demo", "--data-dir", t.TempDir()}, &stdout, &stderr, nil)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "svc: log.otlp_endpoint/log.otlp_ca_file: ")
}

func TestSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		desc string
		s    serve.Settings
		want string
	}{
		{desc: "defaults"},
		{desc: "bad listen", s: serve.Settings{Listen: "x"}, want: `listen: "x"`},
		{desc: "certificate without CA", s: serve.Settings{TLS: config.TLS{CertFile: "c", KeyFile: "k"}}, want: "tls.ca_file: required with cert_file"},
		{desc: "negative iterations", s: serve.Settings{PBKDF2Iterations: -1}, want: "pbkdf2_iterations: must not be negative"},
		{desc: "log format", s: serve.Settings{Log: config.Log{Format: "xml"}}, want: `log.format: "xml", want json or text`},
		{desc: "log level", s: serve.Settings{Log: config.Log{Level: "loud"}}, want: `log.level: "loud"`},
		{desc: "postgres without DSN file", s: serve.Settings{Database: config.Database{Driver: "postgres"}}, want: "database.dsn_file"},
		{desc: "threshold", s: serve.Settings{Unseal: config.Unseal{Threshold: 3}}, want: "unseal.threshold"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestResolveMode: outside demo mode a certificate, unseal secrets and a
// place for the database are required; a service may refuse more.
func TestResolveMode(t *testing.T) {
	svc := testService()
	_, err := serve.Resolve(svc, serve.Options{ConfigLoaded: true})
	require.Error(t, err)
	for _, want := range []string{"tls.cert_file and tls.key_file are required", "unseal.secret_files is required", "the sqlite database needs a data dir"} {
		assert.ErrorContains(t, err, want)
	}
	svc = testService()
	svc.CheckMode = func(demo bool) error {
		if demo {
			return nil
		}
		return os.ErrInvalid
	}
	_, err = serve.Resolve(svc, serve.Options{ConfigLoaded: true, Demo: true})
	require.NoError(t, err)
	_, err = serve.Resolve(svc, serve.Options{ConfigLoaded: true})
	assert.ErrorIs(t, err, os.ErrInvalid)
	assert.Equal(t, "PASSTHRU_KMS", serve.EnvPrefix("kms"))
}

// TestProductionStart: outside demo mode the certificate, the unseal
// secrets and the database come from the configuration; PostgreSQL's DSN is
// read from its secret file, surrounding white space and all.
func TestProductionStart(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		dir := t.TempDir()
		pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "tls"), "svc")
		require.NoError(t, err)
		secret := filepath.Join(dir, "unseal")
		require.NoError(t, barrier.GenerateSecretFile(secret))
		s := serve.Settings{
			TLS:    config.TLS{CertFile: filepath.Join(dir, "tls", "svc.pem"), KeyFile: filepath.Join(dir, "tls", "svc-key.pem"), CAFile: pki.CAFile},
			Unseal: config.Unseal{SecretFiles: []string{secret}},
		}
		if b == dbtest.Postgres {
			dsn := writeFile(t, dir, "dsn", "  "+dbtest.Options(t, b).DSN+"\n")
			s.Database = config.Database{Driver: string(db.DriverPostgres), DSNFile: dsn}
		} else {
			s.DataDir = filepath.Join(dir, "data")
		}
		svc := testService()
		svc.Config = &testConfig{Settings: s}
		inst, err := serve.Start(t.Context(), svc, serve.Options{ConfigLoaded: true, Listen: "127.0.0.1:0"})
		require.NoError(t, err)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(inst.Roots, nil)}}
		code, _ := get(t, client, inst.URL+"/readyz")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, pki.CAFile, inst.CAFile)
		client.CloseIdleConnections()
		require.NoError(t, inst.Shutdown(t.Context()))
		assert.NoFileExists(t, filepath.Join(dir, serve.DemoSecretFile), "no demo secret outside demo mode")
	})
}
