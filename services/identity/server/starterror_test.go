package server_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

const otherSecret = "c29tZSBvdGhlciBzZWNyZXQgdGhhdCBpcyBsb25nIGVub3VnaA=="

// TestMainStartErrorReadsOnce: a start failure names the service once,
// and says what is wrong.
func TestMainStartErrorReadsOnce(t *testing.T) {
	dataDir := t.TempDir()
	c := identityserver.DefaultConfig()
	c.PBKDF2Iterations = 1000
	inst, err := identityserver.Start(fixture.ITContext(t), identityserver.Options{Config: &c, Options: serve.Options{Demo: true, DataDir: dataDir, Listen: "127.0.0.1:0"}})
	require.NoError(t, err)
	require.NoError(t, inst.Shutdown(t.Context()))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, serve.DemoSecretFile), []byte(otherSecret), 0o600))
	cfgFile := filepath.Join(t.TempDir(), "cfg.yml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("pbkdf2_iterations: 1000\n"), 0o600))
	var out, errOut bytes.Buffer
	code := identityserver.Main([]string{"--config", cfgFile, "--demo", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(errOut.String(), "identity: cannot start: the barrier stays sealed"), "stderr=%s", errOut.String())
	assert.Equal(t, 1, strings.Count(errOut.String(), "identity"), "no stutter: %s", errOut.String())
	assert.NotContains(t, out.String(), "listening")
}
