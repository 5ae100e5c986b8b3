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

func TestOpenFrom(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		g := dbtest.Open(t, b).Gorm()
		dir := t.TempDir()
		demo := filepath.Join(dir, "unseal.key")
		_, err := OpenFrom(t.Context(), g, Source{DemoSecret: demo})
		require.NoError(t, err, "a fresh demo generates its secret and initialises")

		other := filepath.Join(dir, "other.key")
		require.NoError(t, GenerateSecretFile(other))
		cases := []struct {
			desc    string
			src     Source
			wantErr string
		}{
			{desc: "the demo secret opens again", src: Source{DemoSecret: demo}},
			{desc: "the same secret as a configured file", src: Source{SecretFiles: []string{demo}}},
			{desc: "a wrong demo secret suggests --reset-demo", src: Source{SecretFiles: nil, DemoSecret: other, ResetHint: true}, wantErr: "--reset-demo wipes it"},
			{desc: "a wrong configured secret stays sealed", src: Source{SecretFiles: []string{other}, ResetHint: true}, wantErr: "the barrier stays sealed (wrong or missing unseal secret): "},
			{desc: "a missing configured file", src: Source{SecretFiles: []string{filepath.Join(dir, "none.key")}}, wantErr: "unseal secret: "},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				got, err := OpenFrom(t.Context(), g, tc.src)
				if tc.wantErr == "" {
					require.NoError(t, err)
					assert.NotNil(t, got)
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Nil(t, got)
			})
		}
	})
}
