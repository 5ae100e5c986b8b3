package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runAsBinaryEnv makes the test binary behave as the identity binary, so the
// tests below run main exactly as a process supervisor would.
const runAsBinaryEnv = "PASSTHRU_IDENTITY_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsBinaryEnv) == "1" {
		main() // exits with the binary's own code
	}
	os.Exit(m.Run())
}

func TestBinaryExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "identity.yml")
	require.NoError(t, os.WriteFile(good, []byte("pbkdf2_iterations: 1000\n"), 0o600))
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("log:\n  otlp_endpoint: https://127.0.0.1:4318\n"), 0o600))
	for _, tc := range []struct {
		desc string
		args []string
		want int
	}{
		{desc: "valid demo config", args: []string{"--config", good, "--demo", "--check-config"}, want: 0},
		{desc: "outside demo mode certificates and secrets are required", args: []string{"--config", good, "--check-config"}, want: 1},
		{desc: "invalid config", args: []string{"--config", bad, "--check-config"}, want: 1},
		{desc: "usage error", args: []string{"--no-such-flag"}, want: 2},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), runAsBinaryEnv+"=1")
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else {
				require.NoError(t, err, string(out))
			}
			assert.Equal(t, tc.want, code, string(out))
		})
	}
}
