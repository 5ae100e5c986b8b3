package barrier

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
)

func TestOpenDatabase(t *testing.T) {
	// A demo data dir whose database was sealed with a secret that is then
	// lost (missing) or replaced (wrong).
	sealedDemo := func(t *testing.T, lose func(secret string)) Startup {
		dir := t.TempDir()
		s := Startup{
			DB:       db.Options{Driver: db.DriverSQLite, Namespace: "test", Dir: filepath.Join(dir, "db")},
			Source:   Source{DemoSecret: filepath.Join(dir, "unseal.key")},
			Wipeable: true,
		}
		d, _, err := OpenDatabase(t.Context(), s)
		require.NoError(t, err)
		require.NoError(t, d.Close())
		lose(s.Source.DemoSecret)
		return s
	}
	missing := func(secret string) { require.NoError(t, os.Remove(secret)) }
	wrong := func(secret string) {
		require.NoError(t, os.Remove(secret))
		require.NoError(t, GenerateSecretFile(secret))
	}
	cases := []struct {
		desc    string
		lose    func(string)
		edit    func(*Startup)
		wantErr string
		// noSecret: no replacement secret may be written.
		noSecret bool
	}{
		{desc: "missing secret, plain demo: refused, nothing written", lose: missing, wantErr: "is missing but the database already holds a barrier", noSecret: true},
		{desc: "wrong secret, plain demo: sealed, with the --reset-demo hint", lose: wrong, wantErr: "--reset-demo wipes it"},
		{desc: "missing secret, reset-demo: wiped and fresh", lose: missing, edit: func(s *Startup) { s.ResetDemo = true }},
		{desc: "wrong secret, reset-demo: wiped and fresh", lose: wrong, edit: func(s *Startup) { s.ResetDemo = true }},
		{desc: "reset-demo never drops a database that is not the demo's", lose: wrong, edit: func(s *Startup) { s.ResetDemo, s.Wipeable = true, false }, wantErr: "cannot recover"},
		{desc: "configured secrets are never wiped", lose: wrong, edit: func(s *Startup) {
			s.ResetDemo = true
			s.Source.SecretFiles = []string{s.Source.DemoSecret}
		}, wantErr: "the barrier stays sealed (wrong or missing unseal secret): "},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			s := sealedDemo(t, tc.lose)
			if tc.edit != nil {
				tc.edit(&s)
			}
			d, b, err := OpenDatabase(t.Context(), s)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.DirExists(t, s.DB.Dir, "the database is kept")
				if tc.noSecret {
					assert.NoFileExists(t, s.Source.DemoSecret)
				}
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Close() })
			tenant := uuid.New()
			wrapped, err := b.Wrap(t.Context(), tenant, "p", []byte("x"))
			require.NoError(t, err)
			got, err := b.Unwrap(t.Context(), tenant, "p", wrapped)
			require.NoError(t, err)
			assert.Equal(t, []byte("x"), got)
			assert.FileExists(t, s.Source.DemoSecret, "a fresh demo secret")
		})
	}
	_, _, err := OpenDatabase(t.Context(), Startup{DB: db.Options{Driver: "nope", Namespace: "test"}})
	require.ErrorContains(t, err, "open database")
}
