package demofile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample() *File {
	return &File{
		Service: "kms", BaseURL: "https://127.0.0.1:8081", CAFile: "/x/tls/ca.pem",
		Tenants: []Tenant{{
			ID: "3f0c6b8e-1d2a-4b5c-8d9e-0a1b2c3d4e5f", Name: "demo-tenant-a",
			Users:   []User{{Username: "admin", Password: "pw", Roles: []string{"admin"}}},
			Keys:    []Key{{ID: "k1", Name: "demo-aes", Algorithm: "A256GCM", Purpose: "encrypt"}},
			Clients: []Client{{ClientID: "svc", Kind: KindService}},
		}},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path, err := Write(dir, sample())
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, Name), path)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "holds demo secrets: owner only")

	got, err := Read(path)
	require.NoError(t, err)
	assert.Equal(t, sample(), got)

	u, err := got.Tenants[0].User("admin")
	require.NoError(t, err)
	assert.Equal(t, "pw", u.Password)
	_, err = got.Tenants[0].User("nobody")
	assert.ErrorIs(t, err, ErrNotFound)

	c, err := got.Tenants[0].ClientOfKind(KindService)
	require.NoError(t, err)
	assert.Equal(t, "svc", c.ClientID)
	_, err = got.Tenants[0].ClientOfKind(KindPublic)
	assert.ErrorIs(t, err, ErrNotFound)

	k, err := got.Tenants[0].KeyByAlgorithm("A256GCM")
	require.NoError(t, err)
	assert.Equal(t, "k1", k.ID)
	_, err = got.Tenants[0].KeyByAlgorithm("ES256")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestReadRejects(t *testing.T) {
	cases := []struct {
		desc    string
		content string
	}{
		{desc: "not json", content: "{"},
		{desc: "missing base_url", content: `{"service":"kms","ca_file":"x","tenants":[{"id":"a"}]}`},
		{desc: "no tenants", content: `{"service":"kms","base_url":"https://x","ca_file":"x"}`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), Name)
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			_, err := Read(path)
			require.Error(t, err)
		})
	}
	_, err := Read(filepath.Join(t.TempDir(), "missing.json"))
	require.Error(t, err)
	_, err = Write(filepath.Join(t.TempDir(), "no", "such", "dir"), sample())
	require.Error(t, err)
}
