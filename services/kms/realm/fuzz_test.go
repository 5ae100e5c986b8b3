package realm

import (
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/credential"
)

// fuzzUsers are the accounts of FuzzBasicAuthenticate's file realm: one
// plain, one whose name and password hold what Basic makes tricky (a colon
// in the password, non-ASCII, spaces).
var fuzzUsers = map[string]string{
	"filer":     "file-password",
	"zoë admin": "pa:ss wörd:",
}

// FuzzBasicAuthenticate drives the KMS's Basic authenticator with arbitrary
// Authorization headers. It must never panic; a header of another scheme is
// "no credentials"; every refusal is ErrInvalidCredentials; and a header is
// accepted only when it decodes to exactly a user's name and password, the
// same credential a client encoding them again would send.
func FuzzBasicAuthenticate(f *testing.F) {
	roles, err := NewRoles(DefaultRoles())
	require.NoError(f, err)
	var users []FileUser
	for name, pass := range fuzzUsers {
		hash, err := testHasher.Hash(pass)
		require.NoError(f, err)
		users = append(users, FileUser{Username: name, PasswordHash: hash, Roles: []string{"reader"}, TenantID: tenantA})
	}
	fr, err := NewFileRealm(Config{ID: "f", Name: "staff", Type: TypeFile, Users: users}, testHasher)
	require.NoError(f, err)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// No lockout: the fuzzer sends wrong passwords by the thousand, and a
	// locked account would hide the acceptance path from it.
	v, err := credential.New(credential.Options{Hasher: testHasher, Now: func() time.Time { return now }, LockoutThreshold: math.MaxInt32})
	require.NoError(f, err)
	basic, err := NewBasic(BasicOptions{Realms: []Realm{fr}, Roles: roles, Verifier: v})
	require.NoError(f, err)

	b64 := base64.StdEncoding.EncodeToString
	for name, pass := range fuzzUsers {
		f.Add("Basic " + b64([]byte(name+":"+pass)))
		f.Add("basic " + b64([]byte(name+":"+pass)))
		f.Add("Basic " + b64([]byte(name+":"+pass+" ")))
		f.Add("Basic " + b64([]byte(strings.ToUpper(name)+":"+pass)))
	}
	for _, h := range []string{
		"", "Basic", "Basic ", "Basic  ", "Basic =", "Basic !!!!", "Bearer x", "Basicx", "Basic\t" + b64([]byte("filer:file-password")),
		"Basic " + b64([]byte("filer")), "Basic " + b64([]byte(":file-password")), "Basic " + b64([]byte("filer:")),
		"Basic " + strings.TrimRight(b64([]byte("filer:file-password!")), "="),
		"Basic " + base64.URLEncoding.EncodeToString([]byte("filer:file-password??>")),
		"Basic " + b64([]byte("filer:file-password\x00")), "Basic " + b64([]byte("\xff\xfe:\x00")),
	} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{header}
		p, err := basic.Authenticate(r)
		scheme, _, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Basic") {
			require.ErrorIs(t, err, authn.ErrNoCredentials, "a header of another scheme is no Basic credential")
			return
		}
		if err != nil {
			require.Nil(t, p)
			require.True(t, errors.Is(err, authn.ErrInvalidCredentials), "a refusal is ErrInvalidCredentials, not %v", err)
			return
		}
		name, pass, ok := r.BasicAuth()
		require.True(t, ok, "accepted a header net/http does not parse: %q", header)
		want, known := fuzzUsers[name]
		require.True(t, known && pass == want, "accepted %q for a credential no user has: %q:%q", header, name, pass)
		require.Equal(t, name, p.Subject)
		require.Equal(t, authn.MethodBasic, p.Method)

		// The same credential, encoded as a client does, is the same user.
		again := httptest.NewRequest(http.MethodGet, "/", nil)
		again.SetBasicAuth(name, pass)
		p2, err := basic.Authenticate(again)
		require.NoError(t, err)
		require.Equal(t, p.Subject, p2.Subject)
	})
}
