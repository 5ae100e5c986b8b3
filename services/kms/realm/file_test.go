package realm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/password"
)

const tenantA = "3f0c6b8e-5b1a-4c47-9d3e-2f7a1c9b8e01"

var testHasher = password.Hasher{Iterations: 1000}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "realms.yml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

const validRealms = `
roles:
  - name: reader
    scopes: [kms:read]
  - name: writer
    inherits: [reader]
    scopes: [kms:write]
realms:
  - id: r1
    name: staff
    type: file
    demo: true
    users:
      - username: alice
        password: alice-password
        roles: [writer]
        tenant_id: ` + tenantA + `
        email: alice@example.com
        display_name: Alice
        metadata: {team: blue}
      - username: bob
        password_hash: "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0c2FsdA$AAAA"
        roles: [reader]
        tenant_id: ` + tenantA + `
        enabled: false
  - id: r2
    name: local
    type: database
`

func TestLoadRealmsFile(t *testing.T) {
	f, err := LoadFile(writeFile(t, validRealms))
	require.NoError(t, err)
	order := f.RealmOrder()
	require.Len(t, order, 2)
	assert.Equal(t, "staff", order[0].Name, "file realms come before database realms by default")

	roles, realms, err := f.Build(testHasher, nil)
	require.Error(t, err, "a database realm needs a store")
	assert.Nil(t, roles)
	assert.Nil(t, realms)

	fr, err := NewFileRealm(order[0], testHasher)
	require.NoError(t, err)
	assert.Equal(t, "staff", fr.Name())
	u, err := fr.Lookup(context.Background(), "alice")
	require.NoError(t, err)
	assert.NotContains(t, u.PasswordHash, "alice-password")
	require.NoError(t, password.Verify(u.PasswordHash, "alice-password"), "demo plaintext is hashed at load")
	assert.True(t, u.Enabled)
	assert.JSONEq(t, `{"team":"blue"}`, string(u.Metadata))
	assert.Equal(t, "Alice", u.DisplayName)
	bob, err := fr.Lookup(context.Background(), "bob")
	require.NoError(t, err)
	assert.False(t, bob.Enabled)
	_, err = fr.Lookup(context.Background(), "carol")
	require.ErrorIs(t, err, ErrUserNotFound)
}

func TestRealmsFileValidate(t *testing.T) {
	user := func(mod func(*FileUser)) []FileUser {
		u := FileUser{Username: "u", PasswordHash: "$pbkdf2-sha256$x", Roles: []string{"reader"}, TenantID: tenantA}
		mod(&u)
		return []FileUser{u}
	}
	base := func(mod func(*File)) *File {
		f := &File{Roles: DefaultRoles(), Realms: []Config{{ID: "a", Name: "a", Type: TypeFile, Users: user(func(*FileUser) {})}}}
		mod(f)
		return f
	}
	tests := []struct {
		desc    string
		file    *File
		wantErr string
	}{
		{desc: "valid", file: base(func(*File) {})},
		{desc: "duplicate realm id", file: base(func(f *File) {
			f.Realms = append(f.Realms, Config{ID: "a", Name: "b", Type: TypeDatabase})
		}), wantErr: `realm id "a" declared twice`},
		{desc: "duplicate realm name", file: base(func(f *File) {
			f.Realms = append(f.Realms, Config{ID: "b", Name: "a", Type: TypeDatabase})
		}), wantErr: `realm name "a" declared twice`},
		{desc: "username in two file realms", file: base(func(f *File) {
			f.Realms = append(f.Realms, Config{ID: "b", Name: "b", Type: TypeFile, Users: user(func(*FileUser) {})})
		}), wantErr: `username also declared in realm "a"`},
		{desc: "missing id", file: base(func(f *File) { f.Realms[0].ID = "" }), wantErr: "needs an id and a name"},
		{desc: "unknown type", file: base(func(f *File) { f.Realms[0].Type = "ldap" }), wantErr: `type "ldap"`},
		{desc: "database realm with users", file: base(func(f *File) { f.Realms[0].Type = TypeDatabase }), wantErr: "cannot declare users"},
		{desc: "unknown role", file: base(func(f *File) { f.Realms[0].Users = user(func(u *FileUser) { u.Roles = []string{"boss"} }) }), wantErr: `unknown role "boss"`},
		{desc: "role cycle", file: base(func(f *File) { f.Roles[0].Inherits = []string{"admin"} }), wantErr: "cycle"},
		{desc: "tenant not canonical v4", file: base(func(f *File) {
			f.Realms[0].Users = user(func(u *FileUser) { u.TenantID = "3F0C6B8E-5B1A-4C47-9D3E-2F7A1C9B8E01" })
		}), wantErr: "tenant_id"},
		{desc: "tenant v7", file: base(func(f *File) {
			f.Realms[0].Users = user(func(u *FileUser) { u.TenantID = "0193f3c2-1111-7abc-8def-0123456789ab" })
		}), wantErr: "tenant_id"},
		{desc: "plaintext outside demo", file: base(func(f *File) {
			f.Realms[0].Users = user(func(u *FileUser) { u.PasswordHash, u.Password = "", "secret-pass" })
		}), wantErr: "plaintext password outside a demo realm"},
		{desc: "both password forms", file: base(func(f *File) {
			f.Realms[0].Demo = true
			f.Realms[0].Users = user(func(u *FileUser) { u.Password = "secret-pass" })
		}), wantErr: "both password and password_hash"},
		{desc: "no password", file: base(func(f *File) { f.Realms[0].Users = user(func(u *FileUser) { u.PasswordHash = "" }) }), wantErr: "password_hash required"},
		{desc: "not a pbkdf2 hash", file: base(func(f *File) { f.Realms[0].Users = user(func(u *FileUser) { u.PasswordHash = "$2a$10$bcrypt" }) }), wantErr: "not a $pbkdf2-sha256$ hash"},
		{desc: "duplicate username", file: base(func(f *File) { f.Realms[0].Users = append(f.Realms[0].Users, f.Realms[0].Users[0]) }), wantErr: "username declared twice"},
		{desc: "bad username", file: base(func(f *File) { f.Realms[0].Users = user(func(u *FileUser) { u.Username = "a:b" }) }), wantErr: "username"},
		{desc: "order names unknown realm", file: base(func(f *File) { f.Order = []string{"zzz"} }), wantErr: `unknown realm "zzz"`},
		{desc: "order names realm twice", file: base(func(f *File) { f.Order = []string{"a", "a"} }), wantErr: "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.file.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestRealmOrderExplicit(t *testing.T) {
	f := &File{Roles: DefaultRoles(), Realms: []Config{
		{ID: "1", Name: "f", Type: TypeFile}, {ID: "2", Name: "d", Type: TypeDatabase},
	}, Order: []string{"d", "f"}}
	require.NoError(t, f.Validate())
	order := f.RealmOrder()
	assert.Equal(t, "d", order[0].Name)
	assert.Equal(t, "f", order[1].Name)
}

func TestLoadRealmsFileStrict(t *testing.T) {
	_, err := LoadFile(writeFile(t, "roles: []\nrealms: []\nbogus: 1\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bogus")
	_, err = LoadFile(filepath.Join(t.TempDir(), "missing.yml"))
	require.Error(t, err)
	_, err = LoadFile(writeFile(t, "roles:\n  - name: a\n    inherits: [a]\n"))
	require.ErrorIs(t, err, ErrInvalidRealm)
}

func TestValidateUsername(t *testing.T) {
	// The messages reach API clients (invalid_request), so they are pinned.
	for _, tc := range []struct {
		desc    string
		in      string
		wantErr string
	}{
		{desc: "plain", in: "admin@demo-tenant-a"},
		{desc: "empty", in: "", wantErr: "invalid user: username: invalid value: name must not be empty"},
		{desc: "colon", in: "a:b", wantErr: "invalid user: username must be at most 128 bytes without ':' or spaces"},
		{desc: "space", in: "a b", wantErr: "invalid user: username must be at most 128 bytes without ':' or spaces"},
		{desc: "control char", in: "a\x01", wantErr: "invalid user: username: invalid value: name contains a control character"},
		{desc: "invalid utf-8", in: "a\xff", wantErr: "invalid user: username: invalid value: name is not valid UTF-8"},
		{desc: "too long", in: strings.Repeat("a", 129), wantErr: "invalid user: username must be at most 128 bytes without ':' or spaces"},
		{desc: "longer than any name", in: strings.Repeat("a", 256), wantErr: "invalid user: username: invalid value: name is 256 characters, at most 255 allowed"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := ValidateUsername(tc.in)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidUser)
			assert.EqualError(t, err, tc.wantErr)
		})
	}
}
