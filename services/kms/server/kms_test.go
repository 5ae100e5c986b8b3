package server_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/services/kms/api"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestRestartKeepsDemoAndDecrypts: a KMS restarted on the same data dir and
// unseal secret keeps its demo data (no duplicates) and decrypts what it
// encrypted before.
func TestRestartKeepsDemoAndDecrypts(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		ctx := t.Context()
		c := k.APIAs(t, 0, "writer")
		keyID := uuid.MustParse(k.Key(t, 0, "RSA-OAEP-256").ID)
		enc, err := c.EncryptWithResponse(ctx, keyID, api.EncryptRequest{Plaintext: []byte("before restart")})
		require.NoError(t, err)
		require.Equal(t, 200, enc.StatusCode())
		before := k.Demo

		k2 := k.Restart(t)
		assert.Equal(t, before.Tenants, k2.Demo.Tenants, "same tenants, users and keys after restart")
		c2 := k2.APIAs(t, 0, "writer")
		dec, err := c2.DecryptWithResponse(ctx, keyID, api.DecryptRequest{Ciphertext: enc.JSON200.Ciphertext})
		require.NoError(t, err)
		require.Equal(t, 200, dec.StatusCode(), "%s", dec.Body)
		assert.Equal(t, "before restart", string(dec.JSON200.Plaintext))
		list, err := c2.ListElasticKeysWithResponse(ctx, nil)
		require.NoError(t, err)
		assert.Len(t, list.JSON200.Items, 10, "no duplicate demo keys")

		// --reset-demo drops the demo tenants for real and seeds new ones.
		k3 := k2.Restart(t, fixture.WithKMSResetDemo())
		require.Len(t, k3.Demo.Tenants, 2)
		for i := range 2 {
			assert.NotEqual(t, before.Tenants[i].ID, k3.Demo.Tenants[i].ID, "fresh tenant ids")
		}
		old := k3.API(t, before.Tenants[0].Users[0].Username, before.Tenants[0].Users[0].Password)
		got, err := old.GetElasticKeyWithResponse(ctx, keyID)
		require.NoError(t, err)
		assert.Equal(t, 404, got.StatusCode(), "old demo keys are gone")
		c3 := k3.APIAs(t, 0, "writer")
		newKey := uuid.MustParse(k3.Key(t, 0, "RSA-OAEP-256").ID)
		dec, err = c3.DecryptWithResponse(ctx, newKey, api.DecryptRequest{Ciphertext: enc.JSON200.Ciphertext})
		require.NoError(t, err)
		assert.Equal(t, 400, dec.StatusCode(), "the old ciphertext names a kid that no longer exists")
		dec, err = c3.DecryptWithResponse(ctx, keyID, api.DecryptRequest{Ciphertext: enc.JSON200.Ciphertext})
		require.NoError(t, err)
		assert.Equal(t, 404, dec.StatusCode())
	})
}

// noEnv is an empty environment: the tests never pick up PASSTHRU_*
// variables of the machine they run on.
func noEnv(string) (string, bool) { return "", false }

// isolateConfigSearch points the standard config search paths at empty
// directories, so a kms.yml of the machine running the tests is not used.
func isolateConfigSearch(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
}

// runMain runs the binary's code bounded by the integration-test timeout:
// a server that starts when it should have refused is stopped at the
// deadline and the test fails on its exit code instead of hanging.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(fixture.ITContext(t), fixture.ITTimeout(t)/2)
	defer cancel()
	var out, errOut bytes.Buffer
	code = kmsserver.RunMain(ctx, args, &out, &errOut, noEnv)
	return code, out.String(), errOut.String()
}

// TestWrongUnsealSecretRefusesToStart: the same data dir with another
// unseal secret does not start, and says why, quickly.
func TestWrongUnsealSecretRefusesToStart(t *testing.T) {
	isolateConfigSearch(t)
	k := fixture.StartKMS(t, dbtest.SQLite)
	require.NoError(t, k.Shutdown(t.Context()))
	secret := filepath.Join(k.DataDir, "unseal.key")
	require.NoError(t, os.WriteFile(secret, []byte("c29tZSBvdGhlciBzZWNyZXQgdGhhdCBpcyBsb25nIGVub3VnaA=="), 0o600))
	opts := k.Options()
	opts.Logger = nil
	_, err := kmsserver.Start(fixture.ITContext(t), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the barrier stays sealed")
	assert.Contains(t, err.Error(), "unseal")

	// The binary path: SQLite under the data dir, started once, then a
	// different secret file. The error reads once: no "kms" stutter.
	dataDir := t.TempDir()
	inst, err := kmsserver.Start(fixture.ITContext(t), kmsserver.Options{Config: &kmsserver.Config{}, Options: serve.Options{Demo: true, DataDir: dataDir, Listen: "127.0.0.1:0", PBKDF2Iterations: 1000}})
	require.NoError(t, err)
	require.NoError(t, inst.Shutdown(t.Context()))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, serve.DemoSecretFile), []byte("c29tZSBvdGhlciBzZWNyZXQgdGhhdCBpcyBsb25nIGVub3VnaA=="), 0o600))
	begin := time.Now()
	code, stdout, stderr := runMain(t, "--demo", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	assert.Equal(t, 1, code, "stdout=%s stderr=%s", stdout, stderr)
	assert.True(t, strings.HasPrefix(stderr, "kms: cannot start: the barrier stays sealed (wrong or missing unseal secret; demo data is disposable: --reset-demo"), "stderr=%s", stderr)
	assert.Equal(t, 1, strings.Count(stderr, "kms"), "the error names the service once: %s", stderr)
	assert.NotContains(t, stdout, "listening", "it never served")
	assert.Less(t, time.Since(begin), 15*time.Second, "refusing is fast, not a timeout")
}

// TestMainStopsWhenContextEnds: Main serves until its stop signal (here the
// context) and then shuts down cleanly with exit code 0.
func TestMainStopsWhenContextEnds(t *testing.T) {
	isolateConfigSearch(t)
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(fixture.ITContext(t))
	defer cancel()
	var stdout, stderr fixture.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- kmsserver.RunMain(ctx, []string{"--demo", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, &stdout, &stderr, noEnv)
	}()
	demo := filepath.Join(dataDir, "demo.json")
	require.Eventually(t, func() bool {
		_, err := os.Stat(demo)
		return err == nil && strings.Contains(stdout.String(), "Swagger UI")
	}, fixture.ITTimeout(t)/2, 20*time.Millisecond, "the demo server starts: %s", stderr.String())
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, "stderr=%s", stderr.String())
	case <-fixture.ITContext(t).Done():
		t.Fatal("Main did not return after its context ended")
	}
	assert.Contains(t, stdout.String(), "kms: stopped")
}

func TestMainFlagsAndConfig(t *testing.T) {
	isolateConfigSearch(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "kms.yml")
	require.NoError(t, os.WriteFile(good, []byte("listen: 127.0.0.1:0\nauth:\n  cache_ttl: 1m\n"), 0o600))
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("listen: x\nbogus: 1\n"), 0o600))
	invalid := filepath.Join(dir, "invalid.yml")
	require.NoError(t, os.WriteFile(invalid, []byte("database:\n  driver: oracle\n"), 0o600))
	pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "otel-ca"), "otel")
	require.NoError(t, err)
	writeCfg := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	otlpOK := writeCfg("otlp-ok.yml", "log:\n  otlp_endpoint: https://127.0.0.1:4318\n  otlp_ca_file: "+pki.CAFile+"\n")
	otlpHTTP := writeCfg("otlp-http.yml", "log:\n  otlp_endpoint: http://127.0.0.1:4318\n  otlp_ca_file: "+pki.CAFile+"\n")
	otlpNoCA := writeCfg("otlp-noca.yml", "log:\n  otlp_endpoint: https://127.0.0.1:4318\n")
	otlpCAOnly := writeCfg("otlp-caonly.yml", "log:\n  otlp_ca_file: "+pki.CAFile+"\n")
	otlpNoRealms := writeCfg("otlp-norealms.yml", "auth:\n  realms_file: "+filepath.Join(dir, "none-realms.yml")+"\nlog:\n  otlp_endpoint: https://127.0.0.1:4318\n  otlp_ca_file: "+pki.CAFile+"\n")
	otlpMissingCA := writeCfg("otlp-missing.yml", "log:\n  otlp_endpoint: https://127.0.0.1:4318\n  otlp_ca_file: "+filepath.Join(dir, "nope.pem")+"\n")
	tests := []struct {
		desc       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{desc: "otlp over https with a CA bundle is valid", args: []string{"--check-config", "--demo", "--config", otlpOK}, code: 0, wantStdout: "config OK"},
		{desc: "otlp over plain http is refused", args: []string{"--check-config", "--config", otlpHTTP}, code: 1, wantStderr: "log.otlp_endpoint: must be an https URL"},
		{desc: "otlp without a CA bundle is refused", args: []string{"--check-config", "--config", otlpNoCA}, code: 1, wantStderr: "log.otlp_ca_file: required"},
		{desc: "otlp CA bundle without endpoint is refused", args: []string{"--check-config", "--config", otlpCAOnly}, code: 1, wantStderr: "set without log.otlp_endpoint"},
		{desc: "unreadable otlp CA bundle stops the start", args: []string{"--demo", "--config", otlpMissingCA, "--data-dir", t.TempDir()}, code: 1, wantStderr: "log.otlp_ca_file: telemetry: OTLP CA bundle"},
		// Telemetry with the CA bundle is set up; the start then stops at the missing realms file.
		{desc: "otlp exporter set up with the CA bundle", args: []string{"--demo", "--config", otlpNoRealms, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, code: 1, wantStderr: "kms: cannot start: "},
		{desc: "help", args: []string{"--help"}, code: 0, wantStderr: "-reset-demo"},
		{desc: "unknown flag", args: []string{"--nope"}, code: 2},
		{desc: "stray argument", args: []string{"extra"}, code: 2, wantStderr: "unexpected arguments"},
		{desc: "check good config", args: []string{"--check-config", "--demo", "--config", good}, code: 0, wantStdout: "config OK: " + good},
		{desc: "check log format xml", args: []string{"--check-config", "--demo", "--config", writeCfg("xml.yml", "log:\n  format: xml\n")}, code: 1, wantStderr: `config invalid: log.format: "xml", want json or text`},
		{desc: "start with log format xml", args: []string{"--demo", "--data-dir", t.TempDir(), "--config", writeCfg("xml2.yml", "log:\n  format: xml\n")}, code: 1, wantStderr: `kms: invalid config: log.format: "xml"`},
		{desc: "check log level loud", args: []string{"--check-config", "--demo", "--config", writeCfg("loud.yml", "log:\n  level: loud\n")}, code: 1, wantStderr: `log.level: "loud"`},
		{desc: "check listen notanaddr", args: []string{"--check-config", "--demo", "--config", writeCfg("listen.yml", "listen: notanaddr\n")}, code: 1, wantStderr: `listen: "notanaddr" is not host:port`},
		{desc: "check listen flag", args: []string{"--check-config", "--demo", "--listen", "127.0.0.1:99999"}, code: 1, wantStderr: `listen: "127.0.0.1:99999": port`},
		{desc: "flag overrides a file value", args: []string{"--check-config", "--demo", "--config", writeCfg("listen2.yml", "listen: notanaddr\n"), "--listen", "127.0.0.1:0"}, code: 0, wantStdout: "config OK"},
		{desc: "check without demo needs TLS and unseal secrets", args: []string{"--check-config", "--config", good, "--data-dir", t.TempDir()}, code: 1, wantStderr: "tls.cert_file and tls.key_file are required outside demo mode"},
		{desc: "check without demo needs a data dir for sqlite", args: []string{"--check-config", "--config", good}, code: 1, wantStderr: "data_dir: the sqlite database needs a data dir"},
		{desc: "reset-demo implies demo for the check", args: []string{"--check-config", "--reset-demo"}, code: 0, wantStdout: "config OK: no config file found"},
		{desc: "check unknown key", args: []string{"--check-config", "--config", bad}, code: 1, wantStderr: "bogus"},
		{desc: "invalid value stops the start", args: []string{"--demo", "--config", invalid}, code: 1, wantStderr: "kms: invalid config: database.driver"},
		{desc: "check invalid value", args: []string{"--check-config", "--config", invalid}, code: 1, wantStderr: "oracle"},
		{desc: "missing config file", args: []string{"--config", filepath.Join(dir, "none.yml")}, code: 1},
		{desc: "no TLS outside demo", args: []string{"--config", good, "--data-dir", t.TempDir()}, code: 1, wantStderr: "tls.cert_file"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tc.args...)
			assert.Equal(t, tc.code, code, "stdout=%s stderr=%s", stdout, stderr)
			assert.Contains(t, stdout, tc.wantStdout)
			assert.Contains(t, stderr, tc.wantStderr)
		})
	}
}

// TestStartDemoBinaryPath runs the same Start the binary runs (config from
// a file naming realms.yml beside it, env override) and checks what it prints.
func TestStartDemoBinaryPath(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "kms.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:1\npbkdf2_iterations: 1000\nauth:\n  realms_file: realms.yml\n"), 0o600))
	tenant := uuid.New().String()
	realms := `roles:
  - {name: reader, scopes: [kms:read]}
  - {name: writer, inherits: [reader], scopes: [kms:write]}
  - {name: admin, inherits: [writer], scopes: [kms:admin]}
realms:
  - id: ops
    name: ops
    type: file
    demo: true
    users:
      - {username: operator, password: operator-password, roles: [admin], tenant_id: ` + tenant + `, create_tenant: true}
  - {id: local, name: local, type: database}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "realms.yml"), []byte(realms), 0o600))
	var out bytes.Buffer
	dbo := dbtest.Options(t, dbtest.SQLite)
	inst, err := kmsserver.Start(fixture.ITContext(t), kmsserver.Options{Options: serve.Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), Demo: true, DB: &dbo, Stdout: &out, Env: func(k string) (string, bool) {
		if k == "PASSTHRU_KMS_LISTEN" {
			return "127.0.0.1:0", true
		}
		return "", false
	}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	assert.Contains(t, out.String(), "CA bundle:  "+filepath.Join(dir, "data", "tls", "ca.pem"))
	assert.Contains(t, out.String(), "demo.json:  "+filepath.Join(dir, "data", "demo.json"))
	assert.Contains(t, out.String(), "config:     "+cfgPath)
	demo, err := demofile.Read(inst.DemoFile)
	require.NoError(t, err)
	assert.Equal(t, "kms", demo.Service)
	assert.Equal(t, inst.URL, demo.BaseURL)
	require.Len(t, demo.Tenants, 2)
	for _, tn := range demo.Tenants {
		require.Len(t, tn.Users, 3)
		require.Len(t, tn.Keys, 10)
		for _, u := range tn.Users {
			assert.True(t, strings.HasSuffix(u.Username, "@"+tn.Name))
		}
	}

	// The file realm user works, in the tenant realms.yml gave it.
	f := &fixture.KMS{Instance: inst, Server: &fixture.Server{Client: clientFor(t, inst.CAFile)}}
	c := f.API(t, "operator", "operator-password")
	created, err := c.CreateElasticKeyWithResponse(t.Context(), api.CreateElasticKeyRequest{Name: "ops-key", Algorithm: "ES256"})
	require.NoError(t, err)
	require.Equal(t, 201, created.StatusCode(), "%s", created.Body)
	users, err := c.ListRealmUsersWithResponse(t.Context(), nil)
	require.NoError(t, err)
	assert.Empty(t, users.JSON200.Items, "the operator's tenant has no database users")
}

func clientFor(t *testing.T, caFile string) *http.Client {
	t.Helper()
	return fixture.ClientForCA(t, caFile)
}

func TestStartErrors(t *testing.T) {
	dbo := dbtest.Options(t, dbtest.SQLite)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	busy := ln.Addr().String()
	tests := []struct {
		desc string
		opts kmsserver.Options
		want string
	}{
		{desc: "no unseal secret outside demo", opts: kmsserver.Options{Config: &kmsserver.Config{Settings: serve.Settings{TLS: config.TLS{CertFile: "x", KeyFile: "y", CAFile: "z"}}}, Options: serve.Options{DB: &dbo}}, want: "config: unseal.secret_files is required outside demo mode"},
		{desc: "certificate without its CA", opts: kmsserver.Options{Config: &kmsserver.Config{Settings: serve.Settings{TLS: config.TLS{CertFile: "x", KeyFile: "y"}, Unseal: config.Unseal{SecretFiles: []string{"s"}}}}, Options: serve.Options{DB: &dbo}}, want: "tls.ca_file: required with cert_file"},
		{desc: "unreadable certificate", opts: kmsserver.Options{Config: &kmsserver.Config{Settings: serve.Settings{TLS: config.TLS{CertFile: "x", KeyFile: "y", CAFile: "z"}, Unseal: config.Unseal{SecretFiles: []string{"s"}}}}, Options: serve.Options{DB: &dbo}}, want: "tls.cert_file: "},
		{desc: "unreadable unseal secret", opts: kmsserver.Options{Config: &kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{SecretFiles: []string{filepath.Join(t.TempDir(), "none")}}}}, Options: serve.Options{Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}}, want: "unseal secret: "},
		{desc: "sqlite needs a data dir", opts: kmsserver.Options{Config: &kmsserver.Config{}}, want: "the sqlite database needs a data dir"},
		{desc: "invalid config", opts: kmsserver.Options{Config: &kmsserver.Config{Settings: serve.Settings{Database: config.Database{Driver: "postgres"}}}}, want: "dsn_file"},
		{desc: "bad listen address", opts: kmsserver.Options{Config: &kmsserver.Config{}, Options: serve.Options{Demo: true, DataDir: t.TempDir(), DB: &dbo, Listen: "256.0.0.1:99999", PBKDF2Iterations: 1000}}, want: "config: listen: "},
		{desc: "address in use", opts: kmsserver.Options{Config: &kmsserver.Config{}, Options: serve.Options{Demo: true, DataDir: t.TempDir(), DB: &dbo, Listen: busy, PBKDF2Iterations: 1000}}, want: "listen on " + busy},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(fixture.ITContext(t), 30*time.Second)
			defer cancel()
			_, err := kmsserver.Start(ctx, tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDemoNames(t *testing.T) {
	assert.Equal(t, "demo-ecdh-es-a256kw", kmsserver.DemoKeyName("ECDH-ES+A256KW"))
	assert.Equal(t, "demo-rsa-oaep-256", kmsserver.DemoKeyName("RSA-OAEP-256"))
	assert.Equal(t, "admin@demo-tenant-a", kmsserver.DemoUsername("admin", "demo-tenant-a"))
}

// TestDemoWithoutDataDirLeavesNothing: a KMS demo without --data-dir keeps
// its unseal secret, CA key and database in a temporary dir that shutdown
// removes; every request is a span on the configured tracer provider.
func TestDemoWithoutDataDirLeavesNothing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	dbo := dbtest.Options(t, dbtest.SQLite)
	inst, err := kmsserver.Start(fixture.ITContext(t), kmsserver.Options{Config: &kmsserver.Config{}, Options: serve.Options{
		Demo: true, Listen: "127.0.0.1:0", PBKDF2Iterations: 1000, DB: &dbo,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
	}})
	require.NoError(t, err)
	require.DirExists(t, inst.DataDir)
	assert.FileExists(t, filepath.Join(inst.DataDir, serve.DemoSecretFile))
	c := clientFor(t, inst.CAFile)
	resp, err := c.Get(inst.URL + "/api/v1/elastic-keys")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.NotEmpty(t, rec.Ended(), "the KMS emits HTTP spans")
	c.CloseIdleConnections()
	require.NoError(t, inst.Shutdown(t.Context()))
	assert.NoDirExists(t, inst.DataDir, "the temporary demo data dir is gone")
}
