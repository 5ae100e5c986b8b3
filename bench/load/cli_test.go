package load

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDefaults(t *testing.T) {
	o, err := parse(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 10000, o.cfg.Requests)
	assert.Equal(t, 100, o.cfg.Conns)
	assert.Equal(t, 1, o.cfg.Count)
	assert.Equal(t, 200, o.cfg.Warmup, "two requests per connection")
	assert.Equal(t, 5*time.Minute, o.timeout)
	assert.Equal(t, 10*time.Second, o.cfg.RequestTimeout)
	assert.Equal(t, 3*time.Second, o.cfg.Cold)
	assert.Equal(t, []string{"all"}, o.cfg.Endpoints)
	assert.False(t, o.external())
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		desc string
		args []string
		want string
	}{
		{desc: "no requests", args: []string{"-n", "0"}, want: "must be positive"},
		{desc: "negative connections", args: []string{"-c", "-1"}, want: "must be positive"},
		{desc: "one demo file", args: []string{"-kms-demo-file", "k.json"}, want: "go together"},
		{desc: "soak longer than the run", args: []string{"-soak", "10m", "-timeout", "5m"}, want: "does not fit"},
		{desc: "rss limit without a soak", args: []string{"-max-rss-growth", "20"}, want: "needs a soak run"},
		{desc: "negative rss limit", args: []string{"-soak", "1m", "-max-rss-growth", "-1"}, want: "cannot be negative"},
		{desc: "rss limit without a process", args: []string{"-soak", "1m", "-max-rss-growth", "20", "-kms-demo-file", "k.json", "-identity-demo-file", "i.json"}, want: "needs -server-pid"},
		{desc: "soak without rate", args: []string{"-soak", "1m", "-rate", "0"}, want: "positive rate"},
		{desc: "unknown database", args: []string{"-db", "mysql"}, want: "want auto, sqlite or postgres"},
		{desc: "stray argument", args: []string{"now"}, want: `unexpected argument "now"`},
		{desc: "negative count", args: []string{"-count", "-1"}, want: "count cannot be negative"},
		{desc: "no request timeout", args: []string{"-request-timeout", "0"}, want: "request timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(t.Context(), tc.args, &stdout, &stderr, func(string) string { return "" })
			assert.Equal(t, ExitFailed, code)
			assert.Contains(t, stderr.String(), tc.want)
			assert.Empty(t, stdout.String())
		})
	}
}

func TestMainRefusesARemoteTarget(t *testing.T) {
	k, i := writeDemoFiles(t, "https://127.0.0.1:1", "https://127.0.0.1:2", "/ca.pem")
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"-kms-demo-file", k, "-identity-demo-file", i, "-kms-url", "https://203.0.113.7:8081"}, &stdout, &stderr, func(string) string { return "" })
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, stderr.String(), "not a loopback address")
}

func TestMainPostgresNeedsADSN(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"-db", "postgres"}, &stdout, &stderr, func(string) string { return "" })
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, stderr.String(), "-db postgres needs "+EnvPGDSN)
}
