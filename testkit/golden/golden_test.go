package golden

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records failures instead of failing the
// real test; Fatalf ends the calling goroutine, as the real one does.
type recorder struct {
	testing.TB
	errors, fatals, logs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// run calls fn with a fresh recorder on its own goroutine, so a Fatalf
// stops fn and not the test.
func run(t *testing.T, fn func(r *recorder)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "body.golden")

	r := run(t, func(r *recorder) { check(r, path, []byte("one\ntwo\n"), false) })
	require.Len(t, r.fatals, 1, "a missing golden file fails")
	assert.Contains(t, r.fatals[0], "run the test with -update")

	r = run(t, func(r *recorder) { check(r, path, []byte("one\ntwo\n"), true) })
	assert.Empty(t, r.errors)
	assert.Empty(t, r.fatals)
	got, err := os.ReadFile(path)
	require.NoError(t, err, "-update creates the file and its directory")
	assert.Equal(t, "one\ntwo\n", string(got))

	r = run(t, func(r *recorder) { check(r, path, []byte("one\ntwo\n"), false) })
	assert.Empty(t, r.errors, "the same output passes")
	assert.Empty(t, r.fatals)

	r = run(t, func(r *recorder) { check(r, path, []byte("one\n2\n"), false) })
	require.Len(t, r.errors, 1, "a changed output fails")
	assert.Contains(t, r.errors[0], "first difference at line 2")
	assert.Contains(t, r.errors[0], ">    2 | two")
	assert.Contains(t, r.errors[0], ">    2 | 2")

	r = run(t, func(r *recorder) { check(r, path, []byte("one\ntwo\nthree\n"), true) })
	assert.Empty(t, r.errors, "-update accepts the new output")
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\nthree\n", string(got))

	r = run(t, func(r *recorder) { check(r, dir, []byte("x"), false) })
	require.Len(t, r.fatals, 1, "an unreadable golden file (a directory) fails")
}

func TestAssertReadsTestdata(t *testing.T) {
	r := run(t, func(r *recorder) { Assert(r, "example.golden", []byte("stable\n")) })
	assert.Empty(t, r.errors)
	assert.Empty(t, r.fatals)
	r = run(t, func(r *recorder) { Assert(r, "example.golden", []byte("changed\n")) })
	require.Len(t, r.errors, 1)
	assert.Contains(t, r.errors[0], filepath.Join("testdata", "example.golden"))
}

func TestHTTP(t *testing.T) {
	resp := &http.Response{
		StatusCode: http.StatusNotFound,
		Header: http.Header{
			"Content-Type":  {"application/problem+json"},
			"Cache-Control": {"no-store"},
		},
		Body: io.NopCloser(strings.NewReader(`{"status":404}` + "\n")),
	}
	got := HTTP(t, resp, "content-type", "Cache-Control", "WWW-Authenticate")
	assert.Equal(t, "HTTP 404\nContent-Type: application/problem+json\nCache-Control: no-store\nWww-Authenticate: (absent)\n\n{\"status\":404}\n", string(got))
}

func TestDiff(t *testing.T) {
	tests := []struct {
		desc, want, got, wantOut string
	}{
		{desc: "a changed line", want: "a\nb\nc", got: "a\nB\nc", wantOut: "first difference at line 2 (want 3 lines, got 3)"},
		{desc: "a line added at the end", want: "a", got: "a\nb", wantOut: "first difference at line 2 (want 1 lines, got 2)"},
		{desc: "empty want", want: "", got: "x", wantOut: "first difference at line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Contains(t, Diff([]byte(tc.want), []byte(tc.got)), tc.wantOut)
		})
	}
}
