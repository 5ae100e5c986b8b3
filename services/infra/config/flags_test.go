package config

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseCommonFlags(t *testing.T) {
	cases := []struct {
		desc     string
		args     []string
		want     CommonFlags
		wantOK   bool
		wantCode int
		wantErr  string
	}{
		{desc: "no flags", wantOK: true},
		{desc: "all flags", args: []string{"--config", "/etc/k.yml", "--listen", "127.0.0.1:9", "--data-dir", "/d", "--demo", "--check-config"},
			want: CommonFlags{ConfigPath: "/etc/k.yml", Listen: "127.0.0.1:9", DataDir: "/d", Demo: true, CheckConfig: true}, wantOK: true},
		{desc: "reset-demo implies demo", args: []string{"--reset-demo"}, want: CommonFlags{Demo: true, ResetDemo: true}, wantOK: true},
		{desc: "help exits 0 with the usage", args: []string{"--help"}, wantCode: 0, wantErr: "Usage: svc [flags]"},
		{desc: "unknown flag is a usage error", args: []string{"--frob"}, wantCode: 2, wantErr: "flag provided but not defined: -frob"},
		{desc: "stray argument is a usage error", args: []string{"serve"}, wantCode: 2, wantErr: "svc: unexpected arguments: [serve]"},
		{desc: "bad bool value", args: []string{"--demo=maybe"}, wantCode: 2, wantErr: "invalid boolean value"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var stderr bytes.Buffer
			got, code, ok := ParseCommonFlags(Usage{Service: "svc", About: "A test service.", DefaultListen: "127.0.0.1:1", EnvPrefix: "PASSTHRU_SVC", EnvVars: []string{"PASSTHRU_SVC_LISTEN", "PASSTHRU_SVC_LOG_LEVEL"}}, tc.args, &stderr)
			assert.Equal(t, tc.wantOK, ok)
			if tc.wantOK {
				assert.Equal(t, tc.want, got)
				assert.Empty(t, stderr.String())
				return
			}
			assert.Equal(t, tc.wantCode, code)
			assert.Contains(t, stderr.String(), tc.wantErr)
			assert.Contains(t, stderr.String(), "-check-config", "the usage lists the flags")
			assert.Contains(t, stderr.String(), "(env PASSTHRU_SVC_LISTEN)", "a flag names its environment twin")
			assert.Contains(t, stderr.String(), "\n  PASSTHRU_SVC_LOG_LEVEL\n", "the usage lists the environment variables")
		})
	}
}

func TestEnvNames(t *testing.T) {
	type section struct {
		Level  string `env:"*_LOG_LEVEL"`
		Secret string `yaml:"secret_file"`
	}
	type cfg struct {
		Listen string `env:"*_LISTEN"`
		Log    section
		Ptr    *section
		Abs    string `env:"OTHER_NAME"`
	}
	assert.Equal(t, []string{"P_LISTEN", "P_LOG_LEVEL", "P_LOG_LEVEL", "OTHER_NAME"}, EnvNames(&cfg{}, "P"))
	assert.Nil(t, EnvNames(42, "P"))
}
