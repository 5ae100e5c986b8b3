package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestConfiguredProduction runs the non-demo profile: SQLite in the data
// dir, TLS and unseal secrets from files, a configured issuer.
func TestConfiguredProduction(t *testing.T) {
	dir := t.TempDir()
	pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "pki"), "identity")
	require.NoError(t, err)
	secret := filepath.Join(dir, "unseal.key")
	require.NoError(t, barrier.GenerateSecretFile(secret))
	c := identityserver.DefaultConfig()
	c.PBKDF2Iterations = 1000
	c.Issuer = "https://login.passthru.test"
	c.TLS = config.TLS{
		CertFile: filepath.Join(dir, "pki", "identity.pem"), KeyFile: filepath.Join(dir, "pki", "identity-key.pem"), CAFile: pki.CAFile,
	}
	c.Unseal = config.Unseal{SecretFiles: []string{secret}, Threshold: 1}
	c.Tokens.SigningAlgorithm = "EdDSA"
	inst, err := identityserver.Start(t.Context(), identityserver.Options{Config: &c, Options: serve.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data")}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = inst.Shutdown(t.Context()) })
	assert.Empty(t, inst.DemoFile, "no demo data outside demo mode")
	assert.Equal(t, "https://login.passthru.test", inst.Issuer)
	assert.FileExists(t, filepath.Join(dir, "data", "db", "system.db"))

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsx.ClientConfig(inst.Roots, nil)}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(inst.URL + "/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	var doc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	assert.Equal(t, "https://login.passthru.test", doc["issuer"])
	assert.Equal(t, "https://login.passthru.test/oauth2/v1/token", doc["token_endpoint"])
	assert.Equal(t, []any{"EdDSA"}, doc["id_token_signing_alg_values_supported"])
}

// TestStartRefusesMismatchedTLSFiles gives a certificate with another
// certificate's key: the server must refuse to start instead of failing
// every handshake later.
func TestStartRefusesMismatchedTLSFiles(t *testing.T) {
	dir := t.TempDir()
	pkiA, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "a"), "identity")
	require.NoError(t, err)
	_, err = tlsx.EnsureDemoPKI(filepath.Join(dir, "b"), "identity")
	require.NoError(t, err)
	secret := filepath.Join(dir, "unseal.key")
	require.NoError(t, barrier.GenerateSecretFile(secret))
	c := identityserver.DefaultConfig()
	c.PBKDF2Iterations = 1000
	c.TLS = config.TLS{
		CertFile: filepath.Join(dir, "a", "identity.pem"), KeyFile: filepath.Join(dir, "b", "identity-key.pem"), CAFile: pkiA.CAFile,
	}
	c.Unseal = config.Unseal{SecretFiles: []string{secret}, Threshold: 1}
	_, err = identityserver.Start(t.Context(), identityserver.Options{Config: &c, Options: serve.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not match")
}

// TestMainServesUntilSignalled runs the binary's Main in demo mode and stops
// it with SIGTERM, as a process supervisor would.
func TestMainServesUntilSignalled(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "identity.yml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("pbkdf2_iterations: 1000\nlog:\n  format: json\n"), 0o600))
	var out, errOut fixture.LogBuffer
	done := make(chan int, 1)
	go func() {
		done <- identityserver.Main([]string{"--config", cfgFile, "--demo", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0"}, &out, &errOut)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "  try:        curl --cacert ") {
		select {
		case code := <-done:
			t.Fatalf("Main exited early with %d: %s %s", code, out.String(), errOut.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "Main did not start: %s", errOut.String())
		time.Sleep(20 * time.Millisecond) // polling for startup output, not waiting for expiry
	}
	assert.FileExists(t, filepath.Join(dir, "data", "demo.json"))
	assert.FileExists(t, filepath.Join(dir, "data", "tls", "ca.pem"))
	assert.Contains(t, out.String(), "  config:     "+cfgFile+"\n")
	assert.Contains(t, out.String(), "  demo.json:  "+filepath.Join(dir, "data", "demo.json"))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatal("Main did not stop on SIGTERM")
	}
	assert.Contains(t, errOut.String(), `"service":"identity"`, "JSON logs from telemetry")
	assert.NotContains(t, errOut.String(), "demo-password", "no passwords in logs")
}
