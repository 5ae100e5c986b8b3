package barrier

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets", "unseal-1")
	require.NoError(t, GenerateSecretFile(path))

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	dirInfo, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	decoded, err := base64.StdEncoding.DecodeString(string(raw[:len(raw)-1]))
	require.NoError(t, err)
	assert.Len(t, decoded, 32)
	assert.Equal(t, byte('\n'), raw[len(raw)-1])

	other := filepath.Join(dir, "secrets", "unseal-2")
	require.NoError(t, GenerateSecretFile(other))
	secrets, err := ReadSecretFiles([]string{path, other})
	require.NoError(t, err)
	require.Len(t, secrets, 2)
	assert.Equal(t, raw[:len(raw)-1], secrets[0])
	assert.NotEqual(t, secrets[0], secrets[1])

	tests := []struct {
		desc string
		path string
		is   error
	}{
		{desc: "existing file is never overwritten", path: path, is: fs.ErrExist},
		{desc: "parent is a file", path: filepath.Join(path, "x"), is: nil},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := GenerateSecretFile(tc.path)
			require.Error(t, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, raw, after, "the existing secret is untouched")
		})
	}
}

func TestReadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	long := "0123456789abcdef0123456789abcdef0123456789"
	plain := write("plain", long)
	lf := write("lf", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\n")
	crlf := write("crlf", "zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVU\r\n")
	short := write("short", "short\n")
	dup := write("dup", long+"\n")
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		desc   string
		paths  []string
		want   []string
		msg    string
		sealed bool
		is     error
	}{
		{desc: "trailing line breaks trimmed", paths: []string{plain, lf, crlf},
			want: []string{long, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef", "zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVU"}},
		{desc: "missing file", paths: []string{plain, missing}, sealed: true, is: fs.ErrNotExist,
			msg: "barrier: unseal failed: read unseal secret file #2: open " + missing},
		{desc: "no files", paths: nil, sealed: true, msg: "no unseal secret files configured"},
		{desc: "too short", paths: []string{short}, sealed: true, msg: "holds 5 bytes, at least 32 required"},
		{desc: "same content twice", paths: []string{plain, dup}, msg: "have the same content"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ReadSecretFiles(tc.paths)
			if tc.msg == "" {
				require.NoError(t, err)
				require.Len(t, got, len(tc.want))
				for i := range got {
					assert.Equal(t, tc.want[i], string(got[i]))
				}
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Equal(t, tc.sealed, errors.Is(err, ErrSealed))
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.NotContains(t, err.Error(), long, "errors never carry secret content")
			assert.Nil(t, got)
		})
	}
}

// TestSecretFilesEndToEnd is the demo-mode path: generate, read, open, reopen.
func TestSecretFilesEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		dir := t.TempDir()
		paths := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
		for _, p := range paths {
			require.NoError(t, GenerateSecretFile(p))
		}
		secrets, err := ReadSecretFiles(paths)
		require.NoError(t, err)
		b := mustOpen(t, db.g, secrets, 1)
		w, err := b.Wrap(t.Context(), uuid.Nil, "identity/signing", []byte("k"))
		require.NoError(t, err)

		// Losing one file of a 1-of-2 setup still unseals.
		require.NoError(t, os.Remove(paths[0]))
		_, err = ReadSecretFiles(paths)
		require.ErrorIs(t, err, ErrSealed)
		rest, err := ReadSecretFiles(paths[1:])
		require.NoError(t, err)
		got, err := mustOpen(t, db.g, rest, 1).Unwrap(t.Context(), uuid.Nil, "identity/signing", w)
		require.NoError(t, err)
		assert.Equal(t, []byte("k"), got)
	})
}
