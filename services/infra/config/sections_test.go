package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkCase is one row of the section tests: the errors Check returns must
// contain want, in order, one substring per error.
type checkCase struct {
	desc  string
	check func() []error
	want  []string
}

func runCheckCases(t *testing.T, tests []checkCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			errs := tc.check()
			require.Len(t, errs, len(tc.want), "errors: %v", errs)
			for i, w := range tc.want {
				assert.Contains(t, errs[i].Error(), w)
			}
		})
	}
}

func TestTLSCheck(t *testing.T) {
	t.Parallel()
	runCheckCases(t, []checkCase{
		{desc: "no files: demo mode generates them", check: TLS{}.Check},
		{desc: "cert and key", check: TLS{CertFile: "c.pem", KeyFile: "k.pem"}.Check},
		{desc: "cert, key and CA", check: TLS{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem"}.Check},
		{desc: "cert without key", check: TLS{CertFile: "c.pem"}.Check, want: []string{"tls: cert_file and key_file go together"}},
		{desc: "key without cert", check: TLS{KeyFile: "k.pem", CAFile: "ca.pem"}.Check, want: []string{"tls: cert_file and key_file go together"}},
		{desc: "CA alone is not checked here", check: TLS{CAFile: "ca.pem"}.Check},
		{desc: "client auth none", check: TLS{ClientAuth: "none"}.Check},
		{desc: "client auth optional without CA file (demo CA)", check: TLS{ClientAuth: "optional"}.Check},
		{desc: "client auth required with CA file", check: TLS{ClientAuth: "required", ClientCAFile: "clients.pem"}.Check},
		{desc: "unknown client auth", check: TLS{ClientAuth: "Required"}.Check, want: []string{`tls.client_auth: "Required", want none, optional or required`}},
		{desc: "client CA file without client auth", check: TLS{ClientCAFile: "clients.pem"}.Check, want: []string{"tls.client_ca_file: set but tls.client_auth is none"}},
		{desc: "client CA file with client auth none", check: TLS{ClientAuth: "none", ClientCAFile: "clients.pem"}.Check, want: []string{"tls.client_ca_file: set but tls.client_auth is none"}},
		{
			desc:  "every problem at once",
			check: TLS{CertFile: "c.pem", ClientAuth: "maybe"}.Check,
			want:  []string{"tls: cert_file and key_file go together", `tls.client_auth: "maybe"`},
		},
	})
}

func TestTLSClientCertsRequested(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc, mode string
		want       bool
	}{
		{desc: "default", mode: ""},
		{desc: "none", mode: ClientAuthNone},
		{desc: "optional", mode: ClientAuthOptional, want: true},
		{desc: "required", mode: ClientAuthRequired, want: true},
		{desc: "unknown", mode: "maybe"},
	} {
		assert.Equal(t, tc.want, TLS{ClientAuth: tc.mode}.ClientCertsRequested(), tc.desc)
	}
}

func TestUnsealCheck(t *testing.T) {
	t.Parallel()
	runCheckCases(t, []checkCase{
		{desc: "no files, threshold 0: the one demo secret", check: Unseal{}.Check},
		{desc: "no files, threshold 1", check: Unseal{Threshold: 1}.Check},
		{desc: "no files, threshold 2", check: Unseal{Threshold: 2}.Check, want: []string{"unseal.threshold: 2, want 1..1 (0 means 1)"}},
		{desc: "negative threshold", check: Unseal{SecretFiles: []string{"a"}, Threshold: -1}.Check, want: []string{"unseal.threshold: -1, want 1..1"}},
		{desc: "2 of 3", check: Unseal{SecretFiles: []string{"a", "b", "c"}, Threshold: 2}.Check},
		{desc: "3 of 3", check: Unseal{SecretFiles: []string{"a", "b", "c"}, Threshold: 3}.Check},
		{desc: "4 of 3", check: Unseal{SecretFiles: []string{"a", "b", "c"}, Threshold: 4}.Check, want: []string{"unseal.threshold: 4, want 1..3"}},
		{desc: "empty path", check: Unseal{SecretFiles: []string{"a", ""}}.Check, want: []string{"unseal.secret_files[1]: empty path"}},
		{desc: "duplicate path", check: Unseal{SecretFiles: []string{"a", "b", "a"}, Threshold: 2}.Check, want: []string{`unseal.secret_files[2]: "a" is listed twice`}},
		{
			desc:  "every problem at once",
			check: Unseal{SecretFiles: []string{"", "a", "a"}, Threshold: 4}.Check,
			want:  []string{"unseal.secret_files[0]: empty path", `unseal.secret_files[2]: "a" is listed twice`, "unseal.threshold: 4, want 1..3"},
		},
	})
}

func TestDatabaseCheck(t *testing.T) {
	t.Parallel()
	runCheckCases(t, []checkCase{
		{desc: "default is sqlite", check: Database{}.Check},
		{desc: "sqlite", check: Database{Driver: "sqlite"}.Check},
		{desc: "postgres with DSN file", check: Database{Driver: "postgres", DSNFile: "/run/secrets/dsn"}.Check},
		{desc: "postgres without DSN file", check: Database{Driver: "postgres"}.Check, want: []string{"database.dsn_file: required for the postgres driver"}},
		{desc: "DSN file with default driver", check: Database{DSNFile: "/run/secrets/dsn"}.Check, want: []string{"database.dsn_file: set but database.driver is not postgres"}},
		{desc: "DSN file with sqlite", check: Database{Driver: "sqlite", DSNFile: "/run/secrets/dsn"}.Check, want: []string{"database.dsn_file: set but database.driver is not postgres"}},
		{desc: "unknown driver", check: Database{Driver: "mysql", DSNFile: "/run/secrets/dsn"}.Check, want: []string{`database.driver: "mysql" is not sqlite or postgres`}},
		{desc: "driver names are case-sensitive", check: Database{Driver: "Postgres"}.Check, want: []string{`database.driver: "Postgres"`}},
	})
}

// sharedSections is a service config as the services declare it: their own
// absolute tags beside the shared sections' relative ones.
type sharedSections struct {
	Listen   string   `yaml:"listen" env:"PASSTHRU_SVC_LISTEN"`
	Database Database `yaml:"database"`
	TLS      TLS      `yaml:"tls"`
	Unseal   Unseal   `yaml:"unseal"`
	Log      Log      `yaml:"log"`
}

func TestApplyEnvPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		prefix string
		env    map[string]string
		want   func(*sharedSections)
	}{
		{desc: "nothing set keeps values", prefix: "PASSTHRU_SVC", env: map[string]string{}, want: func(*sharedSections) {}},
		{
			desc:   "relative tags read prefixed variables",
			prefix: "PASSTHRU_SVC",
			env: map[string]string{
				"PASSTHRU_SVC_DB_DRIVER": "postgres", "PASSTHRU_SVC_LOG_FORMAT": "json", "PASSTHRU_SVC_LOG_LEVEL": "debug",
				"PASSTHRU_SVC_OTLP_ENDPOINT": "https://otel:4318", "PASSTHRU_SVC_OTLP_CA_FILE": "/etc/otel-ca.pem",
			},
			want: func(s *sharedSections) {
				s.Database.Driver = "postgres"
				s.Log = Log{Format: "json", Level: "debug", OTLPEndpoint: "https://otel:4318", OTLPCAFile: "/etc/otel-ca.pem"}
			},
		},
		{
			desc:   "absolute tags are used as they are",
			prefix: "PASSTHRU_SVC",
			env:    map[string]string{"PASSTHRU_SVC_LISTEN": "127.0.0.1:9"},
			want:   func(s *sharedSections) { s.Listen = "127.0.0.1:9" },
		},
		{
			desc:   "another prefix reads other variables",
			prefix: "PASSTHRU_OTHER",
			env:    map[string]string{"PASSTHRU_SVC_LOG_LEVEL": "debug", "PASSTHRU_OTHER_LOG_LEVEL": "warn"},
			want:   func(s *sharedSections) { s.Log.Level = "warn" },
		},
		{
			desc:   "unprefixed names are never read",
			prefix: "PASSTHRU_SVC",
			env:    map[string]string{"LOG_LEVEL": "debug", "_LOG_LEVEL": "debug", "*_LOG_LEVEL": "debug"},
			want:   func(*sharedSections) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			got := sharedSections{Listen: "default", Log: Log{Format: "text", Level: "info"}}
			want := got
			require.NoError(t, ApplyEnvPrefix(&got, tc.prefix, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }))
			tc.want(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestApplyEnvPrefixRefuses(t *testing.T) {
	t.Parallel()
	type secretRelative struct {
		KeyFile string `yaml:"key_file" secret:"true" env:"*_KEY_FILE"`
	}
	type bareRelative struct {
		X string `env:"*_"`
	}
	type unsupportedRelative struct {
		Ports []int `env:"*_PORTS"`
	}
	type badValue struct {
		Workers int `env:"*_WORKERS"`
	}
	tests := []struct {
		desc    string
		dst     any
		prefix  string
		env     map[string]string
		wantErr []string
	}{
		{desc: "relative tag without a prefix", dst: &sharedSections{}, wantErr: []string{"sharedSections.Database.Driver", `relative env tag "*_DB_DRIVER"`, "no prefix"}},
		{desc: "every relative tag is named", dst: &sharedSections{}, wantErr: []string{"sharedSections.Log.Format", "sharedSections.Log.OTLPCAFile"}},
		{desc: "secret with a relative env tag", dst: &secretRelative{}, prefix: "PASSTHRU_SVC", wantErr: []string{"secretRelative.KeyFile", "secret", "read from files"}},
		{desc: "secret with a relative env tag and no prefix", dst: &secretRelative{}, wantErr: []string{"secretRelative.KeyFile", "secret"}},
		{desc: "relative tag naming nothing", dst: &bareRelative{}, prefix: "PASSTHRU_SVC", wantErr: []string{"bareRelative.X", "names no variable"}},
		{desc: "unsupported type names the expanded variable", dst: &unsupportedRelative{}, prefix: "PASSTHRU_SVC", wantErr: []string{"PASSTHRU_SVC_PORTS", "unsupported type []int"}},
		{desc: "bad value names the expanded variable", dst: &badValue{}, prefix: "PASSTHRU_SVC", env: map[string]string{"PASSTHRU_SVC_WORKERS": "many"}, wantErr: []string{"PASSTHRU_SVC_WORKERS", `invalid integer "many"`}},
		{desc: "prefix ending in an underscore", dst: &sharedSections{}, prefix: "PASSTHRU_SVC_", wantErr: []string{`prefix "PASSTHRU_SVC_"`}},
		{desc: "prefix with a star", dst: &sharedSections{}, prefix: "PASSTHRU_*", wantErr: []string{`prefix "PASSTHRU_*"`}},
		{desc: "nil destination", dst: nil, prefix: "PASSTHRU_SVC", wantErr: []string{"non-nil pointer"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			err := ApplyEnvPrefix(tc.dst, tc.prefix, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			require.Error(t, err)
			for _, w := range tc.wantErr {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestApplyEnvRefusesRelativeTags(t *testing.T) {
	t.Parallel()
	// ApplyEnv has no prefix: a shared section must go through ApplyEnvPrefix,
	// and a failure leaves the destination unchanged.
	got := sharedSections{Listen: "default"}
	want := got
	err := ApplyEnv(&got, func(k string) (string, bool) { return "x", true })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no prefix was given")
	assert.Equal(t, want, got)
}
