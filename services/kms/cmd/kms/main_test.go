package main

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runAsBinary makes the test binary act as the kms binary when re-executed
// by TestBinary, so the real main (and its os.Exit) runs in a process.
const runAsBinary = "PASSTHRU_KMS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(runAsBinary); ok {
		os.Args = append([]string{"kms"}, strings.Fields(args)...)
		main()
		return
	}
	os.Exit(m.Run())
}

// TestBinary runs main in a child process: the exit code is Main's.
func TestBinary(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	tests := []struct {
		desc   string
		args   string
		code   int
		stderr string
	}{
		{desc: "help", args: "--help", code: 0, stderr: "Usage: kms"},
		{desc: "usage error", args: "--no-such-flag", code: 2, stderr: "flag provided but not defined"},
		{desc: "missing config", args: "--config /nonexistent/kms.yml", code: 1, stderr: "kms:"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), self)
			cmd.Env = append(os.Environ(), runAsBinary+"="+tc.args)
			if d := coverDir(); d != "" {
				cmd.Env = append(cmd.Env, "GOCOVERDIR="+d)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), tc.stderr)
		})
	}
}

// coverDir is where `go test -cover` collects counters, so the child's
// coverage of main counts too.
func coverDir() string {
	if f := flag.Lookup("test.gocoverdir"); f != nil {
		return f.Value.String()
	}
	return ""
}
