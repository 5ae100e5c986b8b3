package demofile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzRead feeds Read arbitrary demo.json files. It must never panic; what
// it accepts has the fields every reader relies on, and round-trips: Write
// then Read gives the same document back, so a tool that rewrites the file
// loses nothing.
func FuzzRead(f *testing.F) {
	kms := sample()
	kms.Tenants[0].ClientCerts = []ClientCert{{Name: "demo", URI: "spiffe://demo/a", Roles: []string{"reader"},
		CertFile: "a.pem", KeyFile: "a.key", P12File: "a.p12", P12PasswordFile: "a.pw"}}
	kms.Trust = &Trust{Issuer: "https://127.0.0.1:8082", Audience: "kms", RevocationMode: "sensitive", RevocationIntervalSeconds: 2.5}
	identity := &File{Service: "identity", BaseURL: "https://127.0.0.1:8082", Issuer: "https://127.0.0.1:8082", CAFile: "/x/ca.pem",
		Tenants: []Tenant{{ID: "t", Name: "demo", Users: []User{{Username: "ann", Password: "pw"}}, Clients: []Client{
			{ClientID: "web", ClientSecret: "s", Kind: KindConfidential, RedirectURIs: []string{"https://app/cb"}, Scopes: []string{"openid"}},
			{ClientID: "cli", Kind: KindPublic, RedirectURIs: []string{"http://127.0.0.1/cb"}, Audience: "kms"},
		}}}}
	for _, file := range []*File{kms, identity} {
		data, err := json.MarshalIndent(file, "", "  ")
		require.NoError(f, err)
		f.Add(data)
	}
	for _, s := range []string{
		"{", "null", "[]", `{"service":"kms","ca_file":"x","tenants":[{"id":"a"}]}`,
		`{"service":"kms","base_url":"https://x","ca_file":"x","tenants":[]}`,
		`{"SERVICE":"kms","Base_URL":"b","ca_file":"c","tenants":[{}],"service":"again","extra":1}`,
		`{"service":"k","base_url":"b","ca_file":"c","tenants":[null],"trust":{"revocation_interval_seconds":-0}}`,
		`{"service":"\ud800","base_url":"\u0000","ca_file":"\xff","tenants":[{"users":[{"roles":null}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "in.json")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		got, err := Read(path)
		if err != nil {
			require.Nil(t, got)
			return
		}
		require.NotEmpty(t, got.Service)
		require.NotEmpty(t, got.BaseURL)
		require.NotEmpty(t, got.CAFile)
		require.NotEmpty(t, got.Tenants)
		for i := range got.Tenants {
			_, _ = got.Tenants[i].User("admin")
			_, _ = got.Tenants[i].ClientOfKind(KindService)
			_, _ = got.Tenants[i].KeyByAlgorithm("A256GCM")
		}
		written, err := Write(dir, got)
		require.NoError(t, err)
		again, err := Read(written)
		require.NoError(t, err)
		require.Equal(t, got, again, "the document changed in a Write and Read round trip")
	})
}
