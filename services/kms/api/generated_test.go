package api_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/golden"
)

// TestGeneratedCodeIsUpToDate runs this package's go:generate command (the
// pinned oapi-codegen on codegen.yaml) in a scratch copy of the package and
// compares every file it generates, whole, with the committed one: a spec or
// config edit without `go generate`, a hand edit of api.gen.go, or a
// generator bump without regenerating all fail here.
//
// The generator runs from the module cache only (GOPROXY is the cache's
// download directory), so the test needs no network; ci/test.sh fetches the
// pinned generator into the cache before the suite.
func TestGeneratedCodeIsUpToDate(t *testing.T) {
	args := goGenerateArgs(t, ".")
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)

	scratch := t.TempDir()
	inputs := copyNonGoFiles(t, ".", scratch)
	require.Contains(t, inputs, "codegen.yaml")

	modCache := goEnv(t, goBin, "GOMODCACHE")
	cmd := exec.CommandContext(t.Context(), goBin, args...)
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(filepath.Join(modCache, "cache", "download")),
		"GOSUMDB=off", // modules already in the cache were verified when fetched
		"GOFLAGS=",
		"GOTOOLCHAIN=local",
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s failed: %s\nIs the pinned generator in the module cache? Fetch it once with `go %s -version` (ci/test.sh does).",
		strings.Join(args, " "), out, strings.Join(args[:2], " "))

	generated, err := filepath.Glob(filepath.Join(scratch, "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, generated, "the generator wrote no Go file (go %s)", strings.Join(args, " "))
	for _, path := range generated {
		name := filepath.Base(path)
		fresh, err := os.ReadFile(path)
		require.NoError(t, err)
		committed, err := os.ReadFile(name)
		require.NoError(t, err, "%s is generated but not committed", name)
		assert.True(t, bytes.Equal(fresh, committed), "%s differs from what `go generate ./services/kms/api` writes (run it and commit the result):\n%s",
			name, golden.Diff(committed, fresh))
	}
}

// goGenerateArgs returns the arguments after "go" of the package's single
// //go:generate line, which must run a pinned module version with `go run
// path@version`, so the test runs exactly what `make generate` runs.
func goGenerateArgs(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var lines []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fh, err := os.Open(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "//go:generate "); ok {
				lines = append(lines, line)
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, fh.Close())
	}
	require.Len(t, lines, 1, "want one go:generate line in the package")
	fields := strings.Fields(lines[0])
	require.GreaterOrEqual(t, len(fields), 3, "go:generate %q", lines[0])
	require.Equal(t, []string{"go", "run"}, fields[:2], "go:generate must use `go run path@version`: %q", lines[0])
	_, version, pinned := strings.Cut(fields[2], "@")
	require.True(t, pinned && version != "" && version != "latest", "the generator must be pinned to a version: %q", fields[2])
	return fields[1:]
}

// copyNonGoFiles copies the generator's inputs (everything but Go files and
// directories) from src to dst and returns their names.
func copyNonGoFiles(t *testing.T, src, dst string) []string {
	t.Helper()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644))
		names = append(names, e.Name())
	}
	return names
}

func goEnv(t *testing.T, goBin, key string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), goBin, "env", key).Output()
	require.NoError(t, err)
	v := strings.TrimSpace(string(out))
	require.NotEmpty(t, v, "go env %s", key)
	return v
}
