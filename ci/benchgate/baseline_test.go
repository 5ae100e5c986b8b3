package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/perf/benchfmt"
)

// storedBaseline is the committed baseline, relative to this package.
const storedBaseline = "../../baselines/bench.txt"

// TestStoredBaseline keeps the committed baseline able to fail the gate: it
// must hold the benchmarks with -benchmem and enough samples, and a synthetic
// regression of any one benchmark's allocations or bytes must fail.
func TestStoredBaseline(t *testing.T) {
	t.Parallel()
	base, err := readFile(storedBaseline, nil)
	require.NoError(t, err)
	require.NotEmpty(t, base.order, "the stored baseline has no benchmarks")
	for _, key := range base.order {
		b := base.benchmarks[key]
		for _, unit := range []string{unitTime, unitBytes, unitAllocs} {
			assert.GreaterOrEqual(t, len(b.values[unit]), 5, "%s: %s needs several samples (record with -count=6 -benchmem)", b.name, unit)
		}
	}

	// The endpoint benchmarks count the SQL statements of a request: a
	// baseline recorded without them (no sqlite_trace tag) could not catch
	// an extra query.
	byName := map[string]*benchmark{}
	for _, b := range base.benchmarks {
		byName[b.name] = b
	}
	// A warm introspection runs none (every cache answers), the others at
	// least the one write they must make: a 0 there would mean statements
	// went uncounted.
	for name, writes := range map[string]bool{"KMSEncrypt": true, "IdentityClientCredentials": true, "IdentityIntrospect": false} {
		b := byName[name]
		require.NotNil(t, b, "%s missing from the stored baseline", name)
		assert.NotEmpty(t, b.values["queries/op"], "%s has no queries/op (record with make bench-update)", name)
		for _, q := range b.values["queries/op"] {
			if writes {
				assert.GreaterOrEqual(t, q, 1.0, "%s: a request writes a row", name)
			}
		}
	}
	// The bearer benchmarks count the work a token costs; a baseline
	// without those counts could not catch a cache that stopped working.
	for name, units := range map[string][]string{
		"BearerVerifyCached":   {"verifications/op", "jwks-fetches/op"},
		"BearerVerifyUncached": {"verifications/op", "jwks-fetches/op"},
		"KMSEncryptBearer":     {"jwks-verifications/op", "jwks-fetches/op", "introspections/op", "queries/op"},
	} {
		b := byName[name]
		require.NotNil(t, b, "%s missing from the stored baseline", name)
		for _, unit := range units {
			assert.NotEmpty(t, b.values[unit], "%s has no %s", name, unit)
		}
	}

	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"-baseline", storedBaseline, "-new", storedBaseline}, &stdout, &stderr),
		"the baseline compared with itself must pass:\n%s%s", stdout.String(), stderr.String())

	tests := []struct {
		desc    string
		unit    string
		factor  float64 // multiplies the values of unit
		add     float64 // added to them (after factor, when both are set)
		want    int
		wantOut string
	}{
		{desc: "allocations up 5% fail", unit: unitAllocs, factor: 1.05, want: exitRegressed, wantOut: "(+5.0%, limit +2%)"},
		{desc: "bytes up 5% fail", unit: unitBytes, factor: 1.05, want: exitRegressed, wantOut: "(+5.0%, limit +2%)"},
		{desc: "allocations up 1.5% (noise) pass", unit: unitAllocs, factor: 1.015, want: exitOK, wantOut: "PASS"},
		{desc: "bytes up 1.5% (noise) pass", unit: unitBytes, factor: 1.015, want: exitOK, wantOut: "PASS"},
		{desc: "time ten times slower is shown and passes", unit: unitTime, factor: 10, want: exitOK, wantOut: "+900.00%"},
		{desc: "one more query per op fails", unit: "queries/op", add: 1, want: exitRegressed, wantOut: "limit +2%)"},
		{desc: "one more signature check per op fails", unit: "verifications/op", add: 1, want: exitRegressed, wantOut: "limit +2%)"},
		{desc: "a signature check on a cached token fails", unit: "jwks-verifications/op", add: 1, want: exitRegressed, wantOut: "limit +2%)"},
		{desc: "an introspection call on a cached token fails", unit: "introspections/op", add: 1, want: exitRegressed, wantOut: "limit +2%)"},
		{desc: "a JWK set fetch per op fails", unit: "jwks-fetches/op", add: 1, want: exitRegressed, wantOut: "limit +2%)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			factor := tc.factor
			if factor == 0 {
				factor = 1
			}
			edited := 0
			for _, key := range base.order {
				name := base.benchmarks[key].name
				if len(base.benchmarks[key].values[tc.unit]) == 0 {
					continue // queries/op: only some benchmarks count them
				}
				edited++
				run := editedCopy(t, storedBaseline, name, tc.unit, func(v float64) float64 { return v*factor + tc.add })
				var stdout, stderr bytes.Buffer
				code := run2(run, &stdout, &stderr)
				assert.Equal(t, tc.want, code, "%s scaled %s by %g:\n%s%s", name, tc.unit, tc.factor, stdout.String(), stderr.String())
				assert.Contains(t, stdout.String(), tc.wantOut, name)
				if tc.want == exitRegressed {
					assert.Contains(t, stdout.String(), name+" "+tc.unit+":")
				}
			}
			assert.Positive(t, edited, "no benchmark reports %s", tc.unit)
		})
	}
}

// run2 gates a synthetic run against the stored baseline.
func run2(newPath string, stdout, stderr *bytes.Buffer) int {
	return run([]string{"-baseline", storedBaseline, "-new", newPath}, stdout, stderr)
}

// editedCopy writes a copy of the benchmark file src in which benchmark
// name's values of unit are replaced by edit(value), and returns its path.
func editedCopy(t *testing.T, src, name, unit string, edit func(float64) float64) string {
	t.Helper()
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	var out bytes.Buffer
	w := benchfmt.NewWriter(&out)
	rd := benchfmt.NewReader(f, src)
	scaled := 0
	for rd.Scan() {
		res, ok := rd.Result().(*benchfmt.Result)
		require.True(t, ok, "stored baseline: %v", rd.Result())
		if benchName(res.Name) == name {
			for i := range res.Values {
				if v := &res.Values[i]; v.Unit == unit {
					// The Writer prints the original form (ns/op, not sec/op).
					v.Value, v.OrigValue = edit(v.Value), edit(v.OrigValue)
					scaled++
				}
			}
		}
		require.NoError(t, w.Write(res))
	}
	require.NoError(t, rd.Err())
	require.NotZero(t, scaled, "%s has no %s to edit", name, unit)
	p := filepath.Join(t.TempDir(), "bench.out")
	require.NoError(t, os.WriteFile(p, out.Bytes(), 0o644))
	return p
}
