package server_test

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

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		edit    func(c *identityserver.Config)
		wantErr string
	}{
		{desc: "defaults are valid", edit: func(*identityserver.Config) {}},
		{desc: "bad listen", edit: func(c *identityserver.Config) { c.Listen = "nope" }, wantErr: "listen"},
		{desc: "http issuer", edit: func(c *identityserver.Config) { c.Issuer = "http://x" }, wantErr: "issuer"},
		{desc: "issuer with trailing slash", edit: func(c *identityserver.Config) { c.Issuer = "https://x/" }, wantErr: "issuer"},
		{desc: "postgres without dsn_file", edit: func(c *identityserver.Config) { c.Database.Driver = "postgres" }, wantErr: "dsn_file"},
		{desc: "unknown driver", edit: func(c *identityserver.Config) { c.Database.Driver = "mysql" }, wantErr: "database.driver"},
		{desc: "cert without key", edit: func(c *identityserver.Config) { c.TLS.CertFile = "c.pem" }, wantErr: "tls"},
		{desc: "cert without CA", edit: func(c *identityserver.Config) { c.TLS.CertFile, c.TLS.KeyFile = "c", "k" }, wantErr: "tls.ca_file"},
		{desc: "threshold above secrets", edit: func(c *identityserver.Config) { c.Unseal.SecretFiles = []string{"a"}; c.Unseal.Threshold = 2 }, wantErr: "unseal.threshold"},
		{desc: "HS256 signing", edit: func(c *identityserver.Config) { c.Tokens.SigningAlgorithm = "HS256" }, wantErr: "signing_algorithm"},
		{desc: "zero access token lifetime", edit: func(c *identityserver.Config) { c.Tokens.AccessTokenTTL = 0 }, wantErr: "access_token_ttl"},
		{desc: "long code lifetime", edit: func(c *identityserver.Config) { c.Tokens.CodeTTL = time.Hour }, wantErr: "code_ttl"},
		{desc: "zero change check interval", edit: func(c *identityserver.Config) { c.Tokens.ChangeCheckInterval = 0 }, wantErr: "tokens.change_check_interval: must be positive and at most 1m0s"},
		{desc: "change check interval too long", edit: func(c *identityserver.Config) { c.Tokens.ChangeCheckInterval = 2 * time.Minute }, wantErr: "tokens.change_check_interval"},
		{desc: "change check interval at its limit", edit: func(c *identityserver.Config) { c.Tokens.ChangeCheckInterval = identityserver.MaxChangeCheckInterval }},
		{desc: "pre-publication too long", edit: func(c *identityserver.Config) { c.Tokens.KeyPrePublication = c.Tokens.KeyRotationPeriod }, wantErr: "key_pre_publication"},
		{desc: "negative PBKDF2", edit: func(c *identityserver.Config) { c.PBKDF2Iterations = -1 }, wantErr: "pbkdf2"},
		{desc: "bad log format", edit: func(c *identityserver.Config) { c.Log.Format = "xml" }, wantErr: `log.format: "xml", want json or text`},
		{desc: "bad log level", edit: func(c *identityserver.Config) { c.Log.Level = "loud" }, wantErr: `log.level: "loud", want debug, info, warn or error`},
		{desc: "log format and level as telemetry parses them", edit: func(c *identityserver.Config) { c.Log.Format, c.Log.Level = "JSON", "warn+1" }},
		{desc: "empty log level means info", edit: func(c *identityserver.Config) { c.Log.Level = "" }},
		{desc: "listen without a port", edit: func(c *identityserver.Config) { c.Listen = "notanaddr" }, wantErr: `listen: "notanaddr" is not host:port`},
		{desc: "listen port out of range", edit: func(c *identityserver.Config) { c.Listen = "127.0.0.1:70000" }, wantErr: `port "70000" is not a number from 0 to 65535`},
		{desc: "listen host not an address", edit: func(c *identityserver.Config) { c.Listen = "256.0.0.1:1" }, wantErr: `"256.0.0.1" is not a valid IPv4 address`},
		{desc: "listen any free port", edit: func(c *identityserver.Config) { c.Listen = "127.0.0.1:0" }},
		{desc: "dsn file without postgres", edit: func(c *identityserver.Config) { c.Database.DSNFile = "/run/secrets/dsn" }, wantErr: "database.dsn_file: set but database.driver is not postgres"},
		{desc: "empty secret file path", edit: func(c *identityserver.Config) { c.Unseal.SecretFiles = []string{""} }, wantErr: "unseal.secret_files[0]: empty path"},
		{desc: "secret file listed twice", edit: func(c *identityserver.Config) { c.Unseal.SecretFiles = []string{"a", "a"} }, wantErr: `unseal.secret_files[1]: "a" is listed twice`},
		{desc: "threshold above the one demo secret", edit: func(c *identityserver.Config) { c.Unseal.Threshold = 2 }, wantErr: "unseal.threshold: 2, want 1..1"},
		{desc: "negative threshold", edit: func(c *identityserver.Config) { c.Unseal.Threshold = -1 }, wantErr: "unseal.threshold: -1"},
		{desc: "demo credential files", edit: func(c *identityserver.Config) {
			c.Demo.PasswordFiles = map[string]string{"admin": "/run/secrets/a"}
			c.Demo.ClientSecretFiles = map[string]string{"demo-service": "s"}
		}},
		{desc: "demo password file of an unknown user", edit: func(c *identityserver.Config) { c.Demo.PasswordFiles = map[string]string{"root": "f"} }, wantErr: `demo.password_files: "root" is not a demo user`},
		{desc: "demo password file without path", edit: func(c *identityserver.Config) { c.Demo.PasswordFiles = map[string]string{"user": ""} }, wantErr: "demo.password_files[user]: empty path"},
		{desc: "demo secret of a public client", edit: func(c *identityserver.Config) { c.Demo.ClientSecretFiles = map[string]string{"demo-native": "f"} }, wantErr: `demo.client_secret_files: "demo-native" is not a confidential demo client`},
		{desc: "demo client secret file without path", edit: func(c *identityserver.Config) { c.Demo.ClientSecretFiles = map[string]string{"demo-kms-rs": ""} }, wantErr: "demo.client_secret_files[demo-kms-rs]: empty path"},
		{desc: "zero session lifetime", edit: func(c *identityserver.Config) { c.Tokens.SessionTTL = 0 }, wantErr: "tokens.session_ttl: must be positive"},
		{desc: "negative refresh lifetime", edit: func(c *identityserver.Config) { c.Tokens.RefreshTokenTTL = -time.Second }, wantErr: "tokens.refresh_token_ttl: must be positive"},
		{desc: "zero refresh family lifetime", edit: func(c *identityserver.Config) { c.Tokens.RefreshFamilyTTL = 0 }, wantErr: "tokens.refresh_family_ttl: must be positive"},
		{desc: "refresh family shorter than a refresh token", edit: func(c *identityserver.Config) { c.Tokens.RefreshFamilyTTL = 12 * time.Hour },
			wantErr: "tokens.refresh_family_ttl: 12h0m0s is shorter than refresh_token_ttl (24h0m0s)"},
		{desc: "refresh family as long as a refresh token", edit: func(c *identityserver.Config) { c.Tokens.RefreshFamilyTTL = c.Tokens.RefreshTokenTTL }},
		{desc: "longer refresh token needs a longer family", edit: func(c *identityserver.Config) { c.Tokens.RefreshTokenTTL = 40 * 24 * time.Hour },
			wantErr: "tokens.refresh_family_ttl: 720h0m0s is shorter than refresh_token_ttl (960h0m0s)"},
		{desc: "OTLP endpoint without CA file", edit: func(c *identityserver.Config) { c.Log.OTLPEndpoint = "https://otel.test:4318" }, wantErr: "log.otlp_ca_file: required"},
		{desc: "OTLP over plain http", edit: func(c *identityserver.Config) {
			c.Log.OTLPEndpoint, c.Log.OTLPCAFile = "http://127.0.0.1:4318", "ca.pem"
		}, wantErr: "log.otlp_endpoint"},
		{desc: "OTLP endpoint with credentials", edit: func(c *identityserver.Config) {
			c.Log.OTLPEndpoint, c.Log.OTLPCAFile = "https://u:secret@otel.test", "ca.pem"
		}, wantErr: "log.otlp_endpoint"},
		{desc: "OTLP CA file without endpoint", edit: func(c *identityserver.Config) { c.Log.OTLPCAFile = "ca.pem" }, wantErr: "log.otlp_ca_file: set without"},
		{desc: "OTLP endpoint with CA file is valid", edit: func(c *identityserver.Config) {
			c.Log.OTLPEndpoint, c.Log.OTLPCAFile = "https://otel.test:4318/base", "ca.pem"
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := identityserver.DefaultConfig()
			tc.edit(&c)
			err := config.Validate(&c)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestMainFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	require.NoError(t, os.WriteFile(good, []byte("listen: 127.0.0.1:9000\ntokens:\n  access_token_ttl: 5m\n"), 0o600))
	unknown := filepath.Join(dir, "unknown.yml")
	require.NoError(t, os.WriteFile(unknown, []byte("listen: 127.0.0.1:9000\nbogus: 1\n"), 0o600))
	otlpNoCA := filepath.Join(dir, "otlp.yml")
	require.NoError(t, os.WriteFile(otlpNoCA, []byte("log:\n  otlp_endpoint: https://127.0.0.1:4318\n"), 0o600))
	invalid := filepath.Join(dir, "invalid.yml")
	require.NoError(t, os.WriteFile(invalid, []byte("tokens:\n  signing_algorithm: none\n"), 0o600))
	writeCfg := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	xml := writeCfg("xml.yml", "log:\n  format: xml\n")
	loud := writeCfg("loud.yml", "log:\n  level: loud\n")
	notAddr := writeCfg("listen.yml", "listen: notanaddr\n")
	family := writeCfg("family.yml", "tokens:\n  refresh_token_ttl: 24h\n  refresh_family_ttl: 2160h\n")
	shortFamily := writeCfg("short-family.yml", "tokens:\n  refresh_token_ttl: 48h\n  refresh_family_ttl: 24h\n")
	for _, tc := range []struct {
		desc     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{desc: "valid config", args: []string{"--config", good, "--demo", "--check-config"}, wantCode: 0, wantOut: "config OK"},
		{desc: "log format xml", args: []string{"--config", xml, "--demo", "--check-config"}, wantCode: 1, wantOut: `config invalid: log.format: "xml", want json or text`},
		{desc: "log level loud", args: []string{"--config", loud, "--demo", "--check-config"}, wantCode: 1, wantOut: `config invalid: log.level: "loud"`},
		{desc: "listen notanaddr", args: []string{"--config", notAddr, "--demo", "--check-config"}, wantCode: 1, wantOut: `config invalid: listen: "notanaddr" is not host:port`},
		{desc: "refresh family lifetime", args: []string{"--config", family, "--demo", "--check-config"}, wantCode: 0, wantOut: "config OK"},
		{desc: "refresh family shorter than a refresh token", args: []string{"--config", shortFamily, "--demo", "--check-config"}, wantCode: 1,
			wantOut: "config invalid: tokens.refresh_family_ttl: 24h0m0s is shorter than refresh_token_ttl (48h0m0s)"},
		{desc: "log level loud stops the start", args: []string{"--config", loud, "--demo", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, wantCode: 1, wantOut: `identity: invalid config: log.level: "loud"`},
		{desc: "without demo: unseal secrets and persistence are required", args: []string{"--config", good, "--check-config"}, wantCode: 1, wantOut: "unseal.secret_files is required outside demo mode\ndata_dir: the sqlite database needs a data dir"},
		{desc: "reset-demo implies demo for the check", args: []string{"--config", good, "--reset-demo", "--check-config"}, wantCode: 0, wantOut: "config OK: " + good},
		{desc: "unknown key", args: []string{"--config", unknown, "--check-config"}, wantCode: 1, wantOut: "bogus"},
		{desc: "invalid value", args: []string{"--config", invalid, "--check-config"}, wantCode: 1, wantOut: "signing_algorithm"},
		{desc: "OTLP endpoint without its CA bundle", args: []string{"--config", otlpNoCA, "--check-config"}, wantCode: 1, wantOut: "otlp_ca_file"},
		{desc: "flag overrides the file and is validated", args: []string{"--config", good, "--listen", "nope", "--check-config"}, wantCode: 1, wantOut: "listen"},
		{desc: "missing config file", args: []string{"--config", filepath.Join(dir, "missing.yml"), "--check-config"}, wantCode: 1, wantOut: "config invalid"},
		{desc: "unknown flag", args: []string{"--frobnicate"}, wantCode: 2},
		{desc: "stray argument", args: []string{"serve"}, wantCode: 2},
		{desc: "help lists the flags with their environment names", args: []string{"--help"}, wantCode: 0, wantOut: "(env PASSTHRU_IDENTITY_LISTEN)"},
		{desc: "help lists every environment variable", args: []string{"--help"}, wantCode: 0, wantOut: "  PASSTHRU_IDENTITY_PBKDF2_ITERATIONS\n  PASSTHRU_IDENTITY_ISSUER\n"},
		{desc: "start fails without persistence", args: []string{"--config", good}, wantCode: 1, wantOut: "identity: invalid config: tls.cert_file and tls.key_file are required outside demo mode"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := identityserver.Main(tc.args, &out, &errOut)
			assert.Equal(t, tc.wantCode, code, "stdout=%s stderr=%s", out.String(), errOut.String())
			if tc.wantOut != "" {
				assert.Contains(t, out.String()+errOut.String(), tc.wantOut)
			}
		})
	}
}

func TestStartRefusesIncompleteSetups(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		desc    string
		opts    func() identityserver.Options
		wantErr string
	}{
		{desc: "the sqlite database needs a data dir", opts: func() identityserver.Options {
			c := identityserver.DefaultConfig()
			return identityserver.Options{Config: &c, Options: serve.Options{Listen: "127.0.0.1:0"}}
		}, wantErr: "the sqlite database needs a data dir"},
		{desc: "no unseal secrets outside demo", opts: func() identityserver.Options {
			c := identityserver.DefaultConfig()
			return identityserver.Options{Config: &c, Options: serve.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "a")}}
		}, wantErr: "unseal"},
		{desc: "no certificate outside demo: never a self-made CA", opts: func() identityserver.Options {
			secret := filepath.Join(dir, "b", "unseal.key")
			require.NoError(t, barrier.GenerateSecretFile(secret))
			c := identityserver.DefaultConfig()
			c.Unseal = config.Unseal{SecretFiles: []string{secret}, Threshold: 1}
			return identityserver.Options{Config: &c, Options: serve.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "b")}}
		}, wantErr: "tls.cert_file and tls.key_file are required outside demo mode"},
		{desc: "invalid config", opts: func() identityserver.Options {
			c := identityserver.DefaultConfig()
			c.Tokens.CodeTTL = time.Hour
			return identityserver.Options{Config: &c, Options: serve.Options{Demo: true}}
		}, wantErr: "code_ttl"},
		{desc: "postgres DSN file missing", opts: func() identityserver.Options {
			c := identityserver.DefaultConfig()
			c.Database = config.Database{Driver: "postgres", DSNFile: filepath.Join(dir, "nope")}
			return identityserver.Options{Config: &c, Options: serve.Options{Demo: true, Listen: "127.0.0.1:0"}}
		}, wantErr: "dsn_file"},
		{desc: "TLS files missing", opts: func() identityserver.Options {
			c := identityserver.DefaultConfig()
			c.TLS = config.TLS{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem"), CAFile: filepath.Join(dir, "ca.pem")}
			return identityserver.Options{Config: &c, Options: serve.Options{Demo: true, Listen: "127.0.0.1:0"}}
		}, wantErr: "tls.cert_file"},
		{desc: "listen address taken", opts: func() identityserver.Options {
			c := identityserver.DefaultConfig()
			c.PBKDF2Iterations = 1000
			return identityserver.Options{Config: &c, Options: serve.Options{Demo: true, Listen: "256.0.0.1:1"}}
		}, wantErr: "listen"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := identityserver.Start(t.Context(), tc.opts())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestDemoCredentialFiles: demo.password_files and demo.client_secret_files
// give the named users and clients their credentials from files (relative to
// the config file), in the database and in demo.json; the others keep the
// documented passwords and generated secrets. Outside demo mode the keys are
// refused, and a missing file stops the start naming the key.
func TestDemoCredentialFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "user-pw"), []byte("user-from-file\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "svc-secret"), []byte("service-secret-from-file"), 0o600))
	cfgPath := filepath.Join(dir, "identity.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("pbkdf2_iterations: 1000\ndemo:\n  password_files: {user: user-pw}\n  client_secret_files: {demo-service: "+filepath.Join(dir, "svc-secret")+"}\n"), 0o600))
	inst, err := identityserver.Start(t.Context(), identityserver.Options{Options: serve.Options{ConfigPath: cfgPath, Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	f, err := demofile.Read(inst.DemoFile)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(inst.Roots, nil)}}
	token := func(c demofile.Client, secret string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, inst.URL+"/oauth2/v1/token", strings.NewReader("grant_type=client_credentials"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ClientID, secret)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, tn := range f.Tenants {
		u, err := tn.User("user")
		require.NoError(t, err)
		assert.Equal(t, "user-from-file", u.Password)
		a, err := tn.User("admin")
		require.NoError(t, err)
		assert.Equal(t, identityserver.DemoAdminPassword, a.Password)
		svc, err := tn.ClientOfKind(demofile.KindService)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(svc.ClientID, "demo-service-"))
		assert.Equal(t, "service-secret-from-file", svc.ClientSecret)
		assert.Equal(t, http.StatusOK, token(svc, "service-secret-from-file"), "the secret from the file is the client's")
		rs, err := tn.ClientOfKind(demofile.KindResourceServer)
		require.NoError(t, err)
		assert.NotEmpty(t, rs.ClientSecret)
		assert.NotEqual(t, "service-secret-from-file", rs.ClientSecret, "clients not named keep a generated secret")
	}

	_, err = identityserver.Start(t.Context(), identityserver.Options{Options: serve.Options{ConfigPath: cfgPath, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo.password_files, demo.client_secret_files: apply in demo mode only")

	require.NoError(t, os.WriteFile(cfgPath, []byte("pbkdf2_iterations: 1000\ndemo:\n  client_secret_files: {demo-kms-rs: missing-secret}\n"), 0o600))
	_, err = identityserver.Start(t.Context(), identityserver.Options{Options: serve.Options{ConfigPath: cfgPath, Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo.client_secret_files[demo-kms-rs]")
	assert.Contains(t, err.Error(), "missing-secret")
}

func TestEphemeralDemoAndConfiguredDatabase(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		c := identityserver.DefaultConfig()
		c.PBKDF2Iterations = 1000
		opts := identityserver.Options{Config: &c, Options: serve.Options{Demo: true, Listen: "127.0.0.1:0"}}
		if b == dbtest.Postgres {
			// PostgreSQL by DSN from a secrets file, as in ci and prod.
			dbo := dbtest.Options(t, b)
			dsnFile := filepath.Join(t.TempDir(), "dsn")
			require.NoError(t, os.WriteFile(dsnFile, []byte(dbo.DSN+"\n"), 0o600))
			c.Database = config.Database{Driver: string(db.DriverPostgres), DSNFile: dsnFile}
		}
		var out bytes.Buffer
		opts.Stdout = &out
		inst, err := identityserver.Start(t.Context(), opts)
		require.NoError(t, err)
		dataDir := inst.DataDir
		assert.FileExists(t, inst.DemoFile)
		assert.FileExists(t, inst.CAFile)
		assert.True(t, strings.HasPrefix(inst.URL, "https://127.0.0.1:"))
		assert.Equal(t, inst.URL, inst.Issuer, "the issuer defaults to the listen URL")
		assert.Contains(t, out.String(), "Passthru Identity listening on "+inst.URL+"\n")
		assert.Contains(t, out.String(), "  try:        curl --cacert "+inst.CAFile+" "+inst.Issuer+"/.well-known/openid-configuration\n",
			"a ready-to-paste discovery request")
		require.NoError(t, inst.Shutdown(t.Context()))
		require.NoError(t, inst.Shutdown(t.Context()), "idempotent")
		_, err = os.Stat(dataDir)
		assert.True(t, os.IsNotExist(err), "an ephemeral demo leaves nothing behind")
	})
}
