package server

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/serve"
)

// TestConfigEnvNames pins every environment variable the Identity service
// reads, the shared sections' (config.Database, config.Log) included: the
// names users see must not change when a section moves between packages.
// It owns the process environment (t.Setenv), so it is not parallel.
func TestConfigEnvNames(t *testing.T) {
	tests := []struct {
		desc string
		yaml string
		name string
		val  string
		want func(*Config) any
	}{
		{desc: "listen", name: "PASSTHRU_IDENTITY_LISTEN", val: "127.0.0.1:9002", want: func(c *Config) any { return c.Listen }},
		{desc: "issuer", name: "PASSTHRU_IDENTITY_ISSUER", val: "https://id.test", want: func(c *Config) any { return c.Issuer }},
		{desc: "data dir", name: "PASSTHRU_IDENTITY_DATA_DIR", val: "/var/lib/identity", want: func(c *Config) any { return c.DataDir }},
		{desc: "database driver", yaml: "database:\n  dsn_file: /run/secrets/dsn\n", name: "PASSTHRU_IDENTITY_DB_DRIVER", val: "postgres",
			want: func(c *Config) any { return c.Database.Driver }},
		{desc: "signing algorithm", name: "PASSTHRU_IDENTITY_SIGNING_ALGORITHM", val: "EdDSA", want: func(c *Config) any { return c.Tokens.SigningAlgorithm }},
		{desc: "pbkdf2 iterations", name: "PASSTHRU_IDENTITY_PBKDF2_ITERATIONS", val: "2000", want: func(c *Config) any { return strconv.Itoa(c.PBKDF2Iterations) }},
		{desc: "log format", name: "PASSTHRU_IDENTITY_LOG_FORMAT", val: "json", want: func(c *Config) any { return c.Log.Format }},
		{desc: "log level", name: "PASSTHRU_IDENTITY_LOG_LEVEL", val: "debug", want: func(c *Config) any { return c.Log.Level }},
		{desc: "otlp endpoint", yaml: "log:\n  otlp_ca_file: /etc/otel-ca.pem\n", name: "PASSTHRU_IDENTITY_OTLP_ENDPOINT", val: "https://otel.test:4318",
			want: func(c *Config) any { return c.Log.OTLPEndpoint }},
		{desc: "otlp CA file", yaml: "log:\n  otlp_endpoint: https://otel.test:4318\n", name: "PASSTHRU_IDENTITY_OTLP_CA_FILE", val: "/etc/otel-ca.pem",
			want: func(c *Config) any { return c.Log.OTLPCAFile }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.yml")
			require.NoError(t, os.WriteFile(path, []byte("pbkdf2_iterations: 1000\n"+tc.yaml), 0o600))
			t.Setenv(tc.name, tc.val)
			cfg, used, err := resolveConfig(Options{Options: serve.Options{ConfigPath: path, Demo: true}})
			require.NoError(t, err)
			assert.Equal(t, path, used)
			assert.Equal(t, tc.val, tc.want(&cfg))
		})
	}
}
