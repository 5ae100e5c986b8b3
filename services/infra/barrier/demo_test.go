package barrier

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func TestEnsureDemoSecret(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		g := dbtest.Open(t, b).Gorm()
		path := filepath.Join(t.TempDir(), "unseal.key")

		ok, err := Initialised(t.Context(), g)
		require.NoError(t, err)
		assert.False(t, ok, "a fresh database holds no barrier")

		require.NoError(t, EnsureDemoSecret(t.Context(), g, path), "fresh database: the secret is generated")
		first, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, EnsureDemoSecret(t.Context(), g, path), "existing file: kept")
		again, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, first, again, "an existing secret is never replaced")

		secrets, err := ReadSecretFiles([]string{path})
		require.NoError(t, err)
		_, err = Open(t.Context(), g, Options{Secrets: secrets})
		require.NoError(t, err)
		ok, err = Initialised(t.Context(), g)
		require.NoError(t, err)
		assert.True(t, ok)

		require.NoError(t, os.Remove(path))
		err = EnsureDemoSecret(t.Context(), g, path)
		require.ErrorIs(t, err, ErrDemoSecretMissing)
		assert.Contains(t, err.Error(), path)
		_, statErr := os.Stat(path)
		assert.ErrorIs(t, statErr, os.ErrNotExist, "no replacement secret is written for an existing barrier")
	})
}
