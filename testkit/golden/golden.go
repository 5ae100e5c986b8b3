// Package golden compares test output with files under the test package's
// testdata/ directory, go/printer style: run the tests with -update to
// rewrite the files from the current output, then review the diff in git.
//
//	go test ./services/identity/ -run Golden -update
//
// Golden files pin what clients see (discovery documents, JWKS shapes,
// error bodies): a change to them is a change of the public interface and
// must show up in review, not slip through a looser assertion.
package golden

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the conventional flag of golden tests; it is registered in every
// test binary that imports this package.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// Assert compares got with the golden file testdata/<name> (name uses
// slashes) and fails the test on any difference, showing the first one. With
// -update it writes got to the file instead.
func Assert(t testing.TB, name string, got []byte) {
	t.Helper()
	check(t, filepath.Join("testdata", filepath.FromSlash(name)), got, *update)
}

func check(t testing.TB, path string, got []byte, rewrite bool) {
	t.Helper()
	if rewrite {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("golden: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("golden: %v", err)
		}
		t.Logf("golden: wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("golden: %s does not exist: run the test with -update to create it, then review it", path)
	}
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("golden: output differs from %s (if the change is intended, rerun with -update and review the diff):\n%s", path, Diff(want, got))
	}
}

// HTTP renders a response as golden text: the status code, the named
// headers (those clients depend on, in the order given; absent ones are
// shown as absent) and the body, which it reads and closes.
func HTTP(t testing.TB, resp *http.Response, headers ...string) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("golden: read response body: %v", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP %d\n", resp.StatusCode)
	for _, h := range headers {
		v, ok := resp.Header[http.CanonicalHeaderKey(h)]
		if !ok {
			fmt.Fprintf(&b, "%s: (absent)\n", http.CanonicalHeaderKey(h))
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", http.CanonicalHeaderKey(h), strings.Join(v, ", "))
	}
	b.WriteString("\n")
	b.Write(body)
	return b.Bytes()
}

// Diff describes where two texts first part, with two lines of context on
// each side: enough to see the change without printing whole files.
func Diff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "first difference at line %d (want %d lines, got %d)\n", i+1, len(w), len(g))
	for _, side := range []struct {
		name  string
		lines []string
	}{{"want", w}, {"got", g}} {
		from, to := max(i-2, 0), min(i+3, len(side.lines))
		fmt.Fprintf(&sb, "%s:\n", side.name)
		for n := from; n < to; n++ {
			mark := " "
			if n == i {
				mark = ">"
			}
			fmt.Fprintf(&sb, "%s %4d | %s\n", mark, n+1, side.lines[n])
		}
	}
	return sb.String()
}
