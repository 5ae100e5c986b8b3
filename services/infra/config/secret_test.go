package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Not parallel: a subtest changes the working directory.
func TestReadSecretFiles(t *testing.T) {
	base, other := t.TempDir(), t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(base, "secrets"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(base, "secrets", "admin"), []byte("relative\n"), 0o600))
	abs := filepath.Join(other, "user")
	require.NoError(t, os.WriteFile(abs, []byte("absolute"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(other, "empty"), []byte("\n"), 0o600))

	t.Run("relative against the base, absolute as is", func(t *testing.T) {
		got, err := ReadSecretFiles("demo.password_files", map[string]string{"admin": "secrets/admin", "user": abs}, base)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"admin": "relative", "user": "absolute"}, got)
	})
	t.Run("no base: relative to the working directory", func(t *testing.T) {
		t.Chdir(base)
		got, err := ReadSecretFiles("k", map[string]string{"admin": "secrets/admin"}, "")
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"admin": "relative"}, got)
	})
	t.Run("none", func(t *testing.T) {
		got, err := ReadSecretFiles("k", nil, base)
		require.NoError(t, err)
		assert.Empty(t, got)
	})
	t.Run("errors name the key and the entry", func(t *testing.T) {
		_, err := ReadSecretFiles("demo.client_secret_files", map[string]string{"demo-web": "absent", "demo-admin": abs}, base)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "demo.client_secret_files[demo-web]: ")
		assert.Contains(t, err.Error(), filepath.Join(base, "absent"), "the resolved path")

		_, err = ReadSecretFiles("demo.password_files", map[string]string{"user": filepath.Join(other, "empty")}, base)
		require.ErrorIs(t, err, ErrEmptySecret)
		assert.Contains(t, err.Error(), "demo.password_files[user]: ")
	})
	t.Run("the first failing name in order", func(t *testing.T) {
		files := map[string]string{"c": "absent-c", "a": "absent-a", "b": "absent-b"}
		for range 5 {
			_, err := ReadSecretFiles("k", files, base)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "k[a]: ")
		}
	})
}

func TestCheckSecretFiles(t *testing.T) {
	t.Parallel()
	names := []string{"admin", "writer", "reader"}
	assert.Empty(t, CheckSecretFiles("demo.password_files", map[string]string{"admin": "a", "reader": "/r"}, "demo role", names))
	assert.Empty(t, CheckSecretFiles("demo.password_files", nil, "demo role", names))

	errs := CheckSecretFiles("demo.password_files", map[string]string{"root": "f", "writer": "", "nobody": ""}, "demo role", names)
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	assert.Equal(t, []string{
		`demo.password_files: "nobody" is not a demo role (admin, writer, reader)`,
		"demo.password_files[nobody]: empty path",
		`demo.password_files: "root" is not a demo role (admin, writer, reader)`,
		"demo.password_files[writer]: empty path",
	}, got)
}
