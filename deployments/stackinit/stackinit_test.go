package stackinit_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/deployments/stackinit"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	}))
	return out
}

func TestRunIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	opts := stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid()}
	require.NoError(t, stackinit.Run(opts))
	first := snapshot(t, dir)
	for _, s := range stackinit.Secrets {
		assert.Contains(t, first, filepath.Join(dir, stackinit.SecretsDir, s.Name))
	}
	require.NoError(t, stackinit.Run(opts))
	assert.Equal(t, first, snapshot(t, dir), "a second run keeps every file")

	// The services' own demo PKI loader keeps the leaves (and so their
	// extra names) rather than reissuing them.
	_, err := tlsx.EnsureDemoPKI(filepath.Join(dir, stackinit.TLSDir), "kms")
	require.NoError(t, err)
	assert.Equal(t, first, snapshot(t, dir))
}

func TestLeavesNameTheComposeHosts(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, stackinit.Run(stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid()}))
	tlsDir := filepath.Join(dir, stackinit.TLSDir)
	roots, err := tlsx.ReadCertsPEM(filepath.Join(tlsDir, tlsx.DemoCAFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	for svc, names := range map[string][]string{
		"kms":      {"kms", "kms-2", "kms-server", "localhost", "127.0.0.1", "kms.passthru.demo.local"},
		"identity": {"identity", "identity-2", "identity-server", "localhost", "127.0.0.1"},
	} {
		certs, err := tlsx.ReadCertsPEM(filepath.Join(tlsDir, svc+".pem"))
		require.NoError(t, err)
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		for _, n := range names {
			_, err := certs[0].Verify(x509.VerifyOptions{DNSName: n, Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			assert.NoError(t, err, "%s leaf for %s", svc, n)
		}
		_, err = certs[0].Verify(x509.VerifyOptions{DNSName: "postgres", Roots: pool, Intermediates: inter})
		assert.Error(t, err, "and nothing else")
	}
	// A leaf missing a name is reissued, from the same CA.
	ca := snapshot(t, tlsDir)[filepath.Join(tlsDir, tlsx.DemoCAFile)]
	require.NoError(t, os.Remove(filepath.Join(tlsDir, "kms.pem")))
	_, err = tlsx.EnsureDemoPKI(tlsDir, "kms") // the default leaf: no compose names
	require.NoError(t, err)
	require.NoError(t, stackinit.Run(stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid()}))
	certs, err := tlsx.ReadCertsPEM(filepath.Join(tlsDir, "kms.pem"))
	require.NoError(t, err)
	assert.Contains(t, certs[0].DNSNames, "kms-2")
	assert.Equal(t, ca, snapshot(t, tlsDir)[filepath.Join(tlsDir, tlsx.DemoCAFile)])
}

func TestSecretsAndModes(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, stackinit.Run(stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid()}))
	sec := filepath.Join(dir, stackinit.SecretsDir)
	st, err := os.Stat(sec)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "only the owner enters the secrets dir")
	for _, s := range stackinit.Secrets {
		st, err := os.Stat(filepath.Join(sec, s.Name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "%s: readable by the container users", s.Name)
	}
	pw, err := os.ReadFile(filepath.Join(sec, "kms-db-password"))
	require.NoError(t, err)
	dsn, err := os.ReadFile(filepath.Join(sec, "kms-db-dsn"))
	require.NoError(t, err)
	assert.Equal(t, stackinit.DSNFor("kms", strings.TrimSpace(string(pw)))+"\n", string(dsn))
	assert.Contains(t, string(dsn), "@postgres:5432/kms?")
	other, err := os.ReadFile(filepath.Join(sec, "identity-db-password"))
	require.NoError(t, err)
	assert.NotEqual(t, pw, other, "every secret is its own")
	assert.GreaterOrEqual(t, len(strings.TrimSpace(string(pw))), 43)
}

func TestRunRefusesADirectoryForASecret(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, stackinit.SecretsDir, "kms-unseal-1"), 0o755))
	err := stackinit.Run(stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kms-unseal-1 exists but is not a regular file")
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, stackinit.Run(stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid()}))
	sec, tlsDir := filepath.Join(dir, stackinit.SecretsDir), filepath.Join(dir, stackinit.TLSDir)
	require.NoError(t, stackinit.Check(sec, tlsDir, stackinit.ProdSecrets, stackinit.ProdTLS))

	require.NoError(t, os.Remove(filepath.Join(sec, "kms-unseal-1")))
	require.NoError(t, os.Mkdir(filepath.Join(sec, "kms-unseal-1"), 0o755))
	require.NoError(t, os.Remove(filepath.Join(tlsDir, "identity-key.pem")))
	require.NoError(t, os.WriteFile(filepath.Join(sec, "postgres-password"), nil, 0o600))
	err := stackinit.Check(sec, tlsDir, stackinit.ProdSecrets, stackinit.ProdTLS)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kms-unseal-1 is not a regular file")
	assert.Contains(t, err.Error(), "missing "+filepath.Join(tlsDir, "identity-key.pem"))
	assert.Contains(t, err.Error(), "postgres-password is empty")
}
