package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// kmsEncrypt is a result shaped like BenchmarkKMSEncrypt's (the whole HTTP
// encrypt request): its allocation count, its bytes, and a count of SQL
// statements per request.
func kmsEncrypt(allocs, bytesPerOp, queries float64) result {
	return result{
		name: "KMSEncrypt-2", ns: 700000, allocs: allocs, bytes: bytesPerOp, samples: 6,
		extra:                fmt.Sprintf("%g queries/op\t 0 pbkdf2/op", queries),
		allocsJitterPerEntry: true, // concurrent HTTP benchmarks vary by an allocation or so
	}
}

// TestGateCatchesEncryptPathRegressions shows the default thresholds doing
// their job on the encrypt path: one more SQL statement per request fails,
// 5% more allocations fail, and the noise the CI machine shows between runs
// of the same code (well under 2%) passes.
func TestGateCatchesEncryptPathRegressions(t *testing.T) {
	t.Parallel()
	const allocs, bytesPerOp, queries = 941, 98566, 4
	tests := []struct {
		desc        string
		baseQueries float64 // queries/op of the baseline; 0 means 4
		run         result
		wantCode    int
		wantOut     []string
	}{
		{
			desc:     "the same code passes",
			run:      kmsEncrypt(allocs, bytesPerOp, queries),
			wantCode: exitOK,
		},
		{
			desc:     "noise within 2% passes",
			run:      kmsEncrypt(allocs*1.015, bytesPerOp*1.018, queries),
			wantCode: exitOK,
		},
		{
			desc:     "one more query per request fails",
			run:      kmsEncrypt(allocs, bytesPerOp, queries+1),
			wantCode: exitRegressed,
			wantOut:  []string{"KMSEncrypt queries/op: 4.000 -> 5.000 (+25.0%, limit +2%)", "FAIL: 1 gate failure(s)"},
		},
		{
			desc:        "one more query on a path of 20 fails too",
			baseQueries: 20,
			run:         kmsEncrypt(allocs, bytesPerOp, 21),
			wantCode:    exitRegressed,
			wantOut:     []string{"KMSEncrypt queries/op: 20.00 -> 21.00 (+5.0%, limit +2%)"},
		},
		{
			desc:     "5% more allocations fail",
			run:      kmsEncrypt(allocs*1.05, bytesPerOp, queries),
			wantCode: exitRegressed,
			wantOut:  []string{"KMSEncrypt allocs/op:", "limit +2%)", "FAIL: 1 gate failure(s)"},
		},
		{
			desc:     "5% more bytes fail",
			run:      kmsEncrypt(allocs, bytesPerOp*1.05, queries),
			wantCode: exitRegressed,
			wantOut:  []string{"KMSEncrypt B/op:", "(+5.0%, limit +2%)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			baseQueries := tc.baseQueries
			if baseQueries == 0 {
				baseQueries = queries
			}
			base := kmsEncrypt(allocs, bytesPerOp, baseQueries)
			dir := t.TempDir()
			basePath := writeFile(t, dir, "base.txt", benchText(base))
			newPath := writeFile(t, dir, "new.txt", benchText(tc.run))
			var stdout, stderr bytes.Buffer
			code := run([]string{"-baseline", basePath, "-new", filepath.Clean(newPath)}, &stdout, &stderr)
			assert.Equal(t, tc.wantCode, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			for _, w := range tc.wantOut {
				assert.Contains(t, stdout.String(), w)
			}
		})
	}
}
