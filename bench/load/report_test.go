package load

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleReport() *Report {
	return &Report{
		Config: Config{DB: "sqlite"},
		Results: []Result{
			{Phase: "cold", Endpoint: "kms-encrypt", Auth: "basic", Summary: Summary{Requests: 400, Elapsed: 2 * time.Second, P50: 2 * time.Millisecond, P90: 5 * time.Millisecond, P99: 120 * time.Millisecond, Max: 300 * time.Millisecond}, HasProc: true, CPUPerOp: 750 * time.Microsecond, RSSBytes: 48 << 20},
			{Phase: "load", Endpoint: "identity-token", Auth: "client", Summary: Summary{Requests: 1000, Errors: 2, Elapsed: 500 * time.Millisecond, P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond},
				ErrorSamples: []string{"HTTP 401: want 200"}},
		},
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteTable(&b, sampleReport()))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, []string{"phase", "endpoint", "auth", "requests", "errors", "req/s", "p50", "ms", "p90", "ms", "p99", "ms", "max", "ms", "cpu", "ms/req", "rss", "MB"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"cold", "kms-encrypt", "basic", "400", "0", "200.0", "2.00", "5.00", "120.00", "300.00", "0.750", "48.0"}, strings.Fields(lines[1]))
	assert.Equal(t, []string{"load", "identity-token", "client", "1000", "2", "2000.0", "1.00", "2.00", "3.00", "4.00", "-", "-"}, strings.Fields(lines[2]), "no server process: dashes, not zeros")
	assert.Equal(t, "error load identity-token/client: HTTP 401: want 200", lines[3])
	assert.Equal(t, strings.Index(lines[0], "endpoint"), strings.Index(lines[1], "kms-encrypt"), "columns line up")
}

func TestWriteTableSoakWindows(t *testing.T) {
	rep := &Report{Windows: []Window{{Start: 0, Length: 30 * time.Second, Summary: Summary{Requests: 10, P99: 7 * time.Millisecond}}, {Start: 30 * time.Second, Length: 30 * time.Second, Summary: Summary{Requests: 9, Errors: 1, P99: 250 * time.Millisecond}}}}
	var b bytes.Buffer
	require.NoError(t, WriteTable(&b, rep))
	assert.Contains(t, b.String(), "soak windows")
	assert.Regexp(t, `30s\s+1m0s\s+9\s+1\s+0.00\s+250.00`, b.String())
}

func TestWriteBenchstat(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteBenchstat(&b, sampleReport(), map[string]string{"goos": "linux", "pkg": "p"}, []string{"goos", "pkg"}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, "goos: linux", lines[0])
	assert.Equal(t, "pkg: p", lines[1])
	// The Go benchmark format: name, iterations, then value-unit pairs.
	f := strings.Split(lines[2], "\t")
	assert.Equal(t, "BenchmarkLoadCold/endpoint=kms-encrypt/auth=basic/db=sqlite", f[0])
	assert.Equal(t, "400", f[1])
	assert.Equal(t, []string{"5000000 ns/op", "200.00 req/s", "2.000 p50-ms", "5.000 p90-ms", "120.000 p99-ms", "300.000 max-ms", "0 errors", "0.7500 cpu-ms/op", "48.0 rss-MB"}, f[2:])
	f = strings.Split(lines[3], "\t")
	assert.Equal(t, "BenchmarkLoad/endpoint=identity-token/auth=client/db=sqlite", f[0])
	assert.Equal(t, "2 errors", f[len(f)-1], "no server process: no cpu or rss units")
}

func TestBenchName(t *testing.T) {
	r := Result{Phase: "soak", Endpoint: "kms-sign", Auth: "bearer"}
	assert.Equal(t, "BenchmarkLoadSoak/endpoint=kms-sign/auth=bearer/db=pg_16", BenchName(r, "pg 16"))
	assert.Equal(t, "BenchmarkLoadSoak/endpoint=kms-sign/auth=bearer/db=unknown", BenchName(r, ""))
	r.Phase = "load"
	assert.Equal(t, "BenchmarkLoad/endpoint=kms-sign/auth=bearer/db=a_b", BenchName(r, "a/b"))
}

func TestReportErrors(t *testing.T) {
	assert.Equal(t, 2, sampleReport().Errors())
}
