package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		desc string
		cfg  kmsserver.Config
		want string
	}{
		{desc: "defaults are valid"},
		{desc: "postgres needs dsn file", cfg: kmsserver.Config{Settings: serve.Settings{Database: config.Database{Driver: "postgres"}}}, want: "dsn_file"},
		{desc: "unknown driver", cfg: kmsserver.Config{Settings: serve.Settings{Database: config.Database{Driver: "mysql"}}}, want: "mysql"},
		{desc: "cert without key", cfg: kmsserver.Config{Settings: serve.Settings{TLS: config.TLS{CertFile: "c"}}}, want: "go together"},
		{desc: "threshold above secrets", cfg: kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{SecretFiles: []string{"a"}, Threshold: 2}}}, want: "threshold"},
		{desc: "negative ttl", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{CacheTTL: -1}}, want: "cache_ttl"},
		{desc: "key cache bounds", cfg: kmsserver.Config{Keys: kmsserver.KeysConfig{CacheMaxKeys: 100, CacheMaxAge: time.Minute, GenerationRefresh: time.Second, AuditQueue: 10}}},
		{desc: "negative generation refresh", cfg: kmsserver.Config{Keys: kmsserver.KeysConfig{GenerationRefresh: -1}}, want: "keys: cache_max_keys, cache_max_age, generation_refresh and audit_queue must not be negative"},
		{desc: "negative cache max age", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{CacheMaxAge: -1}}, want: "cache_max_age"},
		{desc: "demo password files", cfg: kmsserver.Config{Demo: kmsserver.DemoConfig{PasswordFiles: map[string]string{"admin": "/run/secrets/a", "reader": "r"}}}},
		{desc: "demo password file of an unknown role", cfg: kmsserver.Config{Demo: kmsserver.DemoConfig{PasswordFiles: map[string]string{"root": "/run/secrets/a"}}}, want: `demo.password_files: "root" is not a demo role`},
		{desc: "demo password file without path", cfg: kmsserver.Config{Demo: kmsserver.DemoConfig{PasswordFiles: map[string]string{"writer": ""}}}, want: "demo.password_files[writer]: empty path"},
		{desc: "negative user freshness", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{UserFreshness: -1}}, want: "user_freshness"},
		{desc: "negative iterations", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{}, Settings: serve.Settings{PBKDF2Iterations: -1}}, want: "pbkdf2_iterations"},
		{desc: "listen host:port", cfg: kmsserver.Config{Settings: serve.Settings{Listen: "127.0.0.1:8081"}}},
		{desc: "listen any free port on all interfaces", cfg: kmsserver.Config{Settings: serve.Settings{Listen: ":0"}}},
		{desc: "listen without a port", cfg: kmsserver.Config{Settings: serve.Settings{Listen: "notanaddr"}}, want: `listen: "notanaddr" is not host:port`},
		{desc: "listen port out of range", cfg: kmsserver.Config{Settings: serve.Settings{Listen: "127.0.0.1:99999"}}, want: `listen: "127.0.0.1:99999": port "99999"`},
		{desc: "listen host not an address", cfg: kmsserver.Config{Settings: serve.Settings{Listen: "256.0.0.1:80"}}, want: "listen: "},
		{desc: "log format json", cfg: kmsserver.Config{Settings: serve.Settings{Log: config.Log{Format: "json", Level: "debug"}}}},
		{desc: "log format and level in upper case", cfg: kmsserver.Config{Settings: serve.Settings{Log: config.Log{Format: "TEXT", Level: "WARN"}}}},
		{desc: "log level with offset", cfg: kmsserver.Config{Settings: serve.Settings{Log: config.Log{Level: "info+2"}}}},
		{desc: "log format xml", cfg: kmsserver.Config{Settings: serve.Settings{Log: config.Log{Format: "xml"}}}, want: `log.format: "xml", want json or text`},
		{desc: "log level loud", cfg: kmsserver.Config{Settings: serve.Settings{Log: config.Log{Level: "loud"}}}, want: `log.level: "loud", want debug, info, warn or error`},
		{desc: "dsn file without postgres", cfg: kmsserver.Config{Settings: serve.Settings{Database: config.Database{DSNFile: "/run/secrets/dsn"}}}, want: "database.dsn_file: set but database.driver is not postgres"},
		{desc: "postgres with dsn file", cfg: kmsserver.Config{Settings: serve.Settings{Database: config.Database{Driver: "postgres", DSNFile: "/run/secrets/dsn"}}}},
		{desc: "empty secret file path", cfg: kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{SecretFiles: []string{"a", ""}}}}, want: "unseal.secret_files[1]: empty path"},
		{desc: "secret file listed twice", cfg: kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{SecretFiles: []string{"a", "b", "a"}, Threshold: 2}}}, want: `unseal.secret_files[2]: "a" is listed twice`},
		{desc: "threshold 2 of 3", cfg: kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{SecretFiles: []string{"a", "b", "c"}, Threshold: 2}}}},
		{desc: "threshold above the one demo secret", cfg: kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{Threshold: 2}}}, want: "unseal.threshold: 2, want 1..1"},
		{desc: "negative threshold", cfg: kmsserver.Config{Settings: serve.Settings{Unseal: config.Unseal{Threshold: -1}}}, want: "unseal.threshold: -1"},
		{desc: "unknown authenticator", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Authenticators: []string{"basic", "kerberos"}}}, want: `auth.authenticators[1]: "kerberos"`},
		{desc: "authenticator twice", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Authenticators: []string{"basic", "basic"}}}, want: "listed twice"},
		{desc: "bearer without issuers", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Authenticators: []string{"bearer"}}}, want: "bearer needs at least one entry in auth.issuers"},
		{desc: "mtls without rules", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Authenticators: []string{"mtls"}}}, want: "mtls needs at least one entry in auth.mtls"},
		{desc: "scope hierarchy with a cycle", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Scopes: map[string][]string{"kms:a": {"kms:b"}, "kms:b": {"kms:a"}}}}, want: "auth.scopes"},
		{desc: "issuer valid", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Issuers: []kmsserver.IssuerConfig{okIssuer()}}}},
		{desc: "issuer over http", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Issuer = "http://idp" }), want: "auth.issuers[0]: issuer: \"http://idp\": want an https URL"},
		{desc: "issuer without CA", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.CAFile = "" }), want: "ca_file: required"},
		{desc: "issuer with HS256", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Algorithms = []string{"HS256"} }), want: "never none or an HMAC"},
		{desc: "issuer with alg none", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Algorithms = []string{"none"} }), want: "algorithms[0]"},
		{desc: "leeway above 30s", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Leeway = time.Minute }), want: "allowed only with auth.dev_mode"},
		{desc: "leeway above 5m", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Leeway = time.Hour }), want: "at most 5m0s"},
		{desc: "default revocation needs clients", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Revocation = kmsserver.RevocationConfig{} }), want: "mode sensitive needs"},
		{desc: "unknown revocation mode", cfg: withIssuer(func(is *kmsserver.IssuerConfig) { is.Revocation.Mode = "sometimes" }), want: `revocation.mode: "sometimes"`},
		{desc: "tls_client_auth without cert", cfg: withIssuer(func(is *kmsserver.IssuerConfig) {
			is.Revocation.Mode = "every-request"
			is.Revocation.Method = "tls_client_auth"
		}), want: "required with method tls_client_auth"},
		{desc: "introspection client without secret", cfg: withIssuer(func(is *kmsserver.IssuerConfig) {
			is.Revocation = kmsserver.RevocationConfig{Mode: "interval", Clients: []kmsserver.IntrospectionClient{{TenantID: uuid.NewString(), ClientID: "rs"}}}
		}), want: "client_secret_file: required"},
		{desc: "tenant rule for an unknown issuer", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{TenantMapping: []kmsserver.TenantRule{{Issuer: "https://other"}}}}, want: "is not one of auth.issuers"},
		{desc: "tenant rule with a bad tenant", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Issuers: []kmsserver.IssuerConfig{okIssuer()}, TenantMapping: []kmsserver.TenantRule{{Issuer: okIssuer().Issuer, Values: map[string]string{"a": "nope"}}}}}, want: `values["a"]`},
		{desc: "two issuers without mapping rules", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Issuers: []kmsserver.IssuerConfig{okIssuer(), otherIssuer()}}}, want: "auth.issuers[0]: with several issuers each needs a tenant_mapping rule"},
		{desc: "two issuers, each mapped", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{Issuers: []kmsserver.IssuerConfig{okIssuer(), otherIssuer()},
			TenantMapping: []kmsserver.TenantRule{{Issuer: okIssuer().Issuer, Claim: "tenant_id"}, {Issuer: otherIssuer().Issuer, Tenant: uuid.NewString()}}}}},
		{desc: "cert rule needs one SAN", cfg: kmsserver.Config{Auth: kmsserver.AuthConfig{MTLS: []kmsserver.CertRule{{TenantID: uuid.NewString(), Roles: []string{"reader"}}}}}, want: "exactly one of uri and dns"},
		{desc: "otlp endpoint without CA", cfg: kmsserver.Config{Settings: serve.Settings{Log: config.Log{OTLPEndpoint: "https://127.0.0.1:4318"}}}, want: "log.otlp_ca_file: required"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := config.Validate(&tc.cfg)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestStartProductionConfig starts without demo mode: certificate files,
// 2-of-3 unseal secret files, the database from the config (SQLite under
// the data dir, or PostgreSQL through a DSN file).
func TestStartProductionConfig(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		dir := t.TempDir()
		pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "tls"), "kms")
		require.NoError(t, err)
		var secrets []string
		for _, n := range []string{"s1", "s2", "s3"} {
			p := filepath.Join(dir, n)
			require.NoError(t, barrier.GenerateSecretFile(p))
			secrets = append(secrets, p)
		}
		cfg := &kmsserver.Config{Settings: serve.Settings{PBKDF2Iterations: 1000, TLS: config.TLS{CertFile: filepath.Join(dir, "tls", "kms.pem"), KeyFile: filepath.Join(dir, "tls", "kms-key.pem"), CAFile: pki.CAFile}, Unseal: config.Unseal{SecretFiles: secrets, Threshold: 2}}}
		if b == dbtest.Postgres {
			opts := dbtest.Options(t, b)
			dsn := filepath.Join(dir, "dsn")
			require.NoError(t, os.WriteFile(dsn, []byte(opts.DSN+"\n"), 0o600))
			cfg.Database = config.Database{Driver: string(db.DriverPostgres), DSNFile: dsn}
		}
		var out bytes.Buffer
		inst, err := kmsserver.Start(t.Context(), kmsserver.Options{Config: cfg, Options: serve.Options{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Stdout: &out}})
		require.NoError(t, err)
		assert.Empty(t, inst.DemoFile, "no demo.json outside demo mode")
		assert.Equal(t, pki.CAFile, inst.CAFile)
		assert.Contains(t, out.String(), inst.URL)
		c := fixture.ClientForCA(t, inst.CAFile)
		resp, err := c.Get(inst.URL + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		resp, err = c.Get(inst.URL + "/api/v1/elastic-keys")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode, "no demo users exist")
		require.NoError(t, inst.Shutdown(t.Context()))
		require.NoError(t, inst.Shutdown(t.Context()), "shutdown is idempotent")

		// Two of the three secrets still unseal; one does not.
		cfg.Unseal.SecretFiles = secrets[1:]
		inst, err = kmsserver.Start(t.Context(), kmsserver.Options{Config: cfg, Options: serve.Options{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0"}})
		require.NoError(t, err)
		require.NoError(t, inst.Shutdown(t.Context()))
		cfg.Unseal.SecretFiles, cfg.Unseal.Threshold = secrets[:1], 1
		_, err = kmsserver.Start(t.Context(), kmsserver.Options{Config: cfg, Options: serve.Options{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0"}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "sealed")

		cfg.Unseal.SecretFiles = nil
		_, err = kmsserver.Start(t.Context(), kmsserver.Options{Config: cfg, Options: serve.Options{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0"}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "unseal.secret_files is required")
		assert.NoFileExists(t, filepath.Join(dir, "data", serve.DemoSecretFile), "no demo secret outside demo mode")
	})
}

func TestStartRejectsBadRealms(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "realms.yml"), []byte("roles: []\nrealms:\n  - {id: demo, name: demo, type: file}\n"), 0o600))
	cfgPath := filepath.Join(dir, "kms.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("auth:\n  realms_file: realms.yml\n"), 0o600))
	_, err := kmsserver.Start(t.Context(), kmsserver.Options{Options: serve.Options{ConfigPath: cfgPath, Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0", PBKDF2Iterations: 1000}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reserved for the demo users")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "realms.yml"), []byte("roles: []\nrealms:\n  - {id: f, name: f, type: file}\n"), 0o600))
	_, err = kmsserver.Start(t.Context(), kmsserver.Options{Config: nil, Options: serve.Options{ConfigPath: cfgPath, DataDir: t.TempDir(), Listen: "127.0.0.1:0", Demo: false, PBKDF2Iterations: 1000}})
	require.Error(t, err)
}

// TestDemoPasswordFiles: demo.password_files gives the named roles their
// passwords from files (relative to the config file), in the database and in
// demo.json; the other roles keep the documented ones. Outside demo mode the
// key is refused, and a missing file stops the start naming the key.
func TestDemoPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "admin-pw"), []byte("admin-from-file\n"), 0o600))
	cfgPath := filepath.Join(dir, "kms.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("demo:\n  password_files: {admin: admin-pw}\n"), 0o600))
	inst, err := kmsserver.Start(t.Context(), kmsserver.Options{Options: serve.Options{ConfigPath: cfgPath, Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0", PBKDF2Iterations: 1000}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })

	f, err := demofile.Read(inst.DemoFile)
	require.NoError(t, err)
	for _, tn := range f.Tenants {
		admin, err := tn.User("admin@" + tn.Name)
		require.NoError(t, err)
		assert.Equal(t, "admin-from-file", admin.Password)
		writer, err := tn.User("writer@" + tn.Name)
		require.NoError(t, err)
		assert.Equal(t, kmsserver.DemoUsers[1].Password, writer.Password)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(inst.Roots, nil)}}
	get := func(user, pw string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, inst.URL+"/api/v1/elastic-keys", nil)
		require.NoError(t, err)
		req.SetBasicAuth(user, pw)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("admin@demo-tenant-a", "admin-from-file"))
	assert.Equal(t, http.StatusUnauthorized, get("admin@demo-tenant-a", kmsserver.DemoUsers[0].Password))
	assert.Equal(t, http.StatusOK, get("writer@demo-tenant-a", kmsserver.DemoUsers[1].Password))

	_, err = kmsserver.Start(t.Context(), kmsserver.Options{Options: serve.Options{ConfigPath: cfgPath, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo.password_files: applies in demo mode only")

	require.NoError(t, os.WriteFile(cfgPath, []byte("demo:\n  password_files: {reader: missing-pw}\n"), 0o600))
	_, err = kmsserver.Start(t.Context(), kmsserver.Options{Options: serve.Options{ConfigPath: cfgPath, Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0", PBKDF2Iterations: 1000}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo.password_files[reader]")
	assert.Contains(t, err.Error(), "missing-pw")
}

// TestConfigEnvNames pins every environment variable the KMS reads, the
// shared sections' (config.Database, config.Log) included: the names users
// see must not change when a section moves between packages.
func TestConfigEnvNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		yaml string
		name string
		val  string
		want func(*kmsserver.Config) any
	}{
		{desc: "listen", name: "PASSTHRU_KMS_LISTEN", val: "127.0.0.1:9001", want: func(c *kmsserver.Config) any { return c.Listen }},
		{desc: "data dir", name: "PASSTHRU_KMS_DATA_DIR", val: "/var/lib/kms", want: func(c *kmsserver.Config) any { return c.DataDir }},
		{desc: "database driver", yaml: "database:\n  dsn_file: /run/secrets/dsn\n", name: "PASSTHRU_KMS_DB_DRIVER", val: "postgres",
			want: func(c *kmsserver.Config) any { return c.Database.Driver }},
		{desc: "pbkdf2 iterations", name: "PASSTHRU_KMS_PBKDF2_ITERATIONS", val: "2000", want: func(c *kmsserver.Config) any { return strconv.Itoa(c.PBKDF2Iterations) }},
		{desc: "auth cache ttl", name: "PASSTHRU_KMS_AUTH_CACHE_TTL", val: "1m0s", want: func(c *kmsserver.Config) any { return c.Auth.CacheTTL.String() }},
		{desc: "auth cache max age", name: "PASSTHRU_KMS_AUTH_CACHE_MAX_AGE", val: "30m0s", want: func(c *kmsserver.Config) any { return c.Auth.CacheMaxAge.String() }},
		{desc: "auth user freshness", name: "PASSTHRU_KMS_AUTH_USER_FRESHNESS", val: "10s", want: func(c *kmsserver.Config) any { return c.Auth.UserFreshness.String() }},
		{desc: "log format", name: "PASSTHRU_KMS_LOG_FORMAT", val: "json", want: func(c *kmsserver.Config) any { return c.Log.Format }},
		{desc: "log level", name: "PASSTHRU_KMS_LOG_LEVEL", val: "debug", want: func(c *kmsserver.Config) any { return c.Log.Level }},
		{desc: "otlp endpoint", yaml: "log:\n  otlp_ca_file: /etc/otel-ca.pem\n", name: "PASSTHRU_KMS_OTLP_ENDPOINT", val: "https://otel.test:4318",
			want: func(c *kmsserver.Config) any { return c.Log.OTLPEndpoint }},
		{desc: "otlp CA file", yaml: "log:\n  otlp_endpoint: https://otel.test:4318\n", name: "PASSTHRU_KMS_OTLP_CA_FILE", val: "/etc/otel-ca.pem",
			want: func(c *kmsserver.Config) any { return c.Log.OTLPCAFile }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "kms.yml")
			require.NoError(t, os.WriteFile(path, []byte("pbkdf2_iterations: 1000\n"+tc.yaml), 0o600))
			cfg, used, err := kmsserver.ResolveConfig(kmsserver.Options{Options: serve.Options{ConfigPath: path, Demo: true, Env: func(k string) (string, bool) {
				return tc.val, k == tc.name
			}}})
			require.NoError(t, err)
			assert.Equal(t, path, used)
			assert.Equal(t, tc.val, tc.want(cfg))
		})
	}
}

func okIssuer() kmsserver.IssuerConfig {
	return kmsserver.IssuerConfig{Issuer: "https://127.0.0.1:8082", CAFile: "/etc/passthru/ca.pem", Revocation: kmsserver.RevocationConfig{Mode: "none"}}
}

func withIssuer(edit func(*kmsserver.IssuerConfig)) kmsserver.Config {
	is := okIssuer()
	edit(&is)
	return kmsserver.Config{Auth: kmsserver.AuthConfig{Issuers: []kmsserver.IssuerConfig{is}}}
}

func otherIssuer() kmsserver.IssuerConfig {
	is := okIssuer()
	is.Issuer = "https://127.0.0.1:9092"
	return is
}

// TestRealmsFileOnlyWhenConfigured: a realms.yml beside the config file is
// not read unless auth.realms_file names it, and a file user's tenant_id
// that names no registered tenant stops the start unless the entry says
// create_tenant: true (then the tenant is registered and the user works).
func TestRealmsFileOnlyWhenConfigured(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "kms.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("pbkdf2_iterations: 1000\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "realms.yml"), []byte("not: [a realms file\n"), 0o600))
	start := func(t *testing.T) (*kmsserver.Instance, error) {
		inst, err := kmsserver.Start(t.Context(), kmsserver.Options{Options: serve.Options{ConfigPath: cfgPath, Demo: true, DataDir: t.TempDir(), Listen: "127.0.0.1:0"}})
		if err == nil {
			t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
		}
		return inst, err
	}
	_, err := start(t)
	require.NoError(t, err, "an unconfigured realms.yml beside the config is not read")

	tenant := uuid.New().String()
	realms := func(create string) string {
		return "roles:\n  - {name: reader, scopes: [kms:read]}\n  - {name: writer, inherits: [reader], scopes: [kms:write]}\n  - {name: admin, inherits: [writer], scopes: [kms:admin]}\n" +
			"realms:\n  - id: ops\n    name: ops\n    type: file\n    demo: true\n    users:\n" +
			"      - {username: operator, password: operator-password, roles: [admin], tenant_id: " + tenant + create + "}\n" +
			"  - {id: local, name: local, type: database}\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "realms.yml"), []byte(realms("")), 0o600))
	require.NoError(t, os.WriteFile(cfgPath, []byte("pbkdf2_iterations: 1000\nauth:\n  realms_file: realms.yml\n"), 0o600))
	_, err = start(t)
	require.Error(t, err, "an unknown tenant is not created silently")
	assert.Contains(t, err.Error(), tenant)
	assert.Contains(t, err.Error(), "create_tenant")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "realms.yml"), []byte(realms(", create_tenant: true")), 0o600))
	inst, err := start(t)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(inst.Roots, nil)}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, inst.URL+"/api/v1/elastic-keys", nil)
	require.NoError(t, err)
	req.SetBasicAuth("operator", "operator-password")
	resp, err := client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the declared tenant was created")
}
