package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/serve"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestDemoUnsealSecret: a demo generates its unseal secret only for a
// database that has no barrier yet. A demo data dir that lost its secret is
// refused with a way out (and no new secret is written, which would make
// every later start fail too), and --reset-demo recovers by starting afresh.
func TestDemoUnsealSecret(t *testing.T) {
	isolateConfigSearch(t)
	const otherSecret = "c29tZSBvdGhlciBzZWNyZXQgdGhhdCBpcyBsb25nIGVub3VnaA=="
	tests := []struct {
		desc       string
		externalDB bool                           // the database is passed in, not under the data dir
		damage     func(t *testing.T, key string) // what happens to the secret between the starts
		reset      bool
		wantErr    []string
		wantFresh  bool // new demo tenants (the old database was wiped)
	}{
		{desc: "secret kept: the restart keeps the demo data"},
		{
			desc:    "secret missing: refused, no new secret written",
			damage:  func(t *testing.T, key string) { require.NoError(t, os.Remove(key)) },
			wantErr: []string{"is missing but the database already holds a barrier sealed with it", "restore the file, or use --reset-demo"},
		},
		{
			desc:      "secret missing with --reset-demo: wiped and started fresh",
			damage:    func(t *testing.T, key string) { require.NoError(t, os.Remove(key)) },
			reset:     true,
			wantFresh: true,
		},
		{
			desc:    "secret replaced: sealed, names --reset-demo",
			damage:  func(t *testing.T, key string) { require.NoError(t, os.WriteFile(key, []byte(otherSecret), 0o600)) },
			wantErr: []string{"the barrier stays sealed", "--reset-demo wipes it and starts fresh"},
		},
		{
			desc:      "secret replaced (left by an older version) with --reset-demo: wiped and started fresh",
			damage:    func(t *testing.T, key string) { require.NoError(t, os.WriteFile(key, []byte(otherSecret), 0o600)) },
			reset:     true,
			wantFresh: true,
		},
		{
			desc:       "secret missing, database outside the data dir, --reset-demo: refused, never dropped",
			externalDB: true,
			damage:     func(t *testing.T, key string) { require.NoError(t, os.Remove(key)) },
			reset:      true,
			wantErr:    []string{"is missing but the database already holds a barrier", "--reset-demo cannot recover", "not the demo's SQLite database in the data dir"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dataDir := t.TempDir()
			key := filepath.Join(dataDir, serve.DemoSecretFile)
			opts := kmsserver.Options{Config: &kmsserver.Config{}, Options: serve.Options{Demo: true, DataDir: dataDir, Listen: "127.0.0.1:0", PBKDF2Iterations: 1000}}
			if tc.externalDB {
				dbo := dbtest.Options(t, dbtest.SQLite)
				opts.DB = &dbo
			}
			assert.NoFileExists(t, key)
			inst, err := kmsserver.Start(fixture.ITContext(t), opts)
			require.NoError(t, err)
			require.FileExists(t, key, "a fresh demo generates its secret")
			before, err := demofile.Read(inst.DemoFile)
			require.NoError(t, err)
			require.NoError(t, inst.Shutdown(t.Context()))

			if tc.damage != nil {
				tc.damage(t, key)
			}
			damaged, _ := os.ReadFile(key)
			opts.ResetDemo = tc.reset
			inst, err = kmsserver.Start(fixture.ITContext(t), opts)
			if len(tc.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				now, _ := os.ReadFile(key)
				assert.Equal(t, damaged, now, "a refused start leaves the secret file as it was")
				if !tc.externalDB {
					assert.DirExists(t, filepath.Join(dataDir, "db"), "a refused start keeps the database")
				}
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { _ = inst.Shutdown(t.Context()) })
			after, err := demofile.Read(inst.DemoFile)
			require.NoError(t, err)
			require.Len(t, after.Tenants, 2)
			if tc.wantFresh {
				assert.NotEqual(t, before.Tenants[0].ID, after.Tenants[0].ID, "fresh demo tenants")
				assert.FileExists(t, key, "a new secret for the new barrier")
			} else {
				assert.Equal(t, before.Tenants, after.Tenants)
			}
			resp, err := fixture.ClientForCA(t, inst.CAFile).Get(inst.URL + "/readyz")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode, "the barrier is unsealed")

			// The recovered data dir starts again without --reset-demo.
			require.NoError(t, inst.Shutdown(t.Context()))
			opts.ResetDemo = false
			inst, err = kmsserver.Start(fixture.ITContext(t), opts)
			require.NoError(t, err)
			require.NoError(t, inst.Shutdown(t.Context()))
		})
	}
}
