package serve_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestDemoUnsealSecret: a demo generates its unseal secret only for a
// database that has no barrier yet. A demo data dir that lost its secret is
// refused with a way out (and no new secret is written, which would make
// every later start fail too), and --reset-demo recovers by starting afresh
// with a new secret. A database outside the data dir is never dropped.
func TestDemoUnsealSecret(t *testing.T) {
	const otherSecret = "c29tZSBvdGhlciBzZWNyZXQgdGhhdCBpcyBsb25nIGVub3VnaA=="
	remove := func(t *testing.T, key string) { require.NoError(t, os.Remove(key)) }
	replace := func(t *testing.T, key string) { require.NoError(t, os.WriteFile(key, []byte(otherSecret), 0o600)) }
	tests := []struct {
		desc       string
		externalDB bool                           // the database is passed in, not under the data dir
		damage     func(t *testing.T, key string) // what happens to the secret between the starts
		reset      bool
		wantErr    []string
		wantFresh  bool // a new barrier with a new secret (the old database was wiped)
	}{
		{desc: "secret kept: the restart unseals the same barrier"},
		{desc: "secret missing: refused, no new secret written", damage: remove,
			wantErr: []string{"is missing but the database already holds a barrier sealed with it", "restore the file, or use --reset-demo"}},
		{desc: "secret missing with --reset-demo: wiped and started fresh", damage: remove, reset: true, wantFresh: true},
		{desc: "secret replaced: sealed, names --reset-demo", damage: replace,
			wantErr: []string{"the barrier stays sealed", "--reset-demo wipes it and starts fresh"}},
		{desc: "secret replaced with --reset-demo: wiped and started fresh", damage: replace, reset: true, wantFresh: true},
		{desc: "secret missing, database outside the data dir, --reset-demo: refused, never dropped", externalDB: true, damage: remove, reset: true,
			wantErr: []string{"is missing but the database already holds a barrier", "--reset-demo cannot recover", "not the demo's SQLite database in the data dir"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dataDir := t.TempDir()
			key := filepath.Join(dataDir, serve.DemoSecretFile)
			opts := serve.Options{Demo: true, ConfigLoaded: true, DataDir: dataDir, Listen: "127.0.0.1:0"}
			if tc.externalDB {
				dbo := dbtest.Options(t, dbtest.SQLite)
				opts.DB = &dbo
			}
			assert.NoFileExists(t, key)
			inst, err := serve.Start(t.Context(), testService(), opts)
			require.NoError(t, err)
			original, err := os.ReadFile(key)
			require.NoError(t, err, "a fresh demo generates its secret")
			require.NoError(t, inst.Shutdown(t.Context()))

			if tc.damage != nil {
				tc.damage(t, key)
			}
			damaged, _ := os.ReadFile(key)
			opts.ResetDemo = tc.reset
			inst, err = serve.Start(t.Context(), testService(), opts)
			if len(tc.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.ErrorContains(t, err, w)
				}
				now, _ := os.ReadFile(key)
				assert.Equal(t, damaged, now, "a refused start leaves the secret file as it was")
				if !tc.externalDB {
					assert.DirExists(t, filepath.Join(dataDir, "db"), "a refused start keeps the database")
				}
				return
			}
			require.NoError(t, err)
			now, err := os.ReadFile(key)
			require.NoError(t, err)
			if tc.wantFresh {
				assert.NotEqual(t, original, now, "a new secret for the new barrier")
				assert.NotEqual(t, damaged, now)
			} else {
				assert.Equal(t, original, now)
			}
			// The recovered data dir starts again without --reset-demo.
			require.NoError(t, inst.Shutdown(t.Context()))
			opts.ResetDemo = false
			inst, err = serve.Start(t.Context(), testService(), opts)
			require.NoError(t, err)
			require.NoError(t, inst.Shutdown(t.Context()))
		})
	}
}
