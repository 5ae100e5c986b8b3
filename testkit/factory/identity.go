package factory

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/passthru-dev/passthru/services/identity/admin"
)

// IdentityUser returns an admin-API body for a new Identity user with a
// unique username and a strong random password (read it back from the
// returned request to log in). opts override the defaults.
func IdentityUser(t testing.TB, opts ...func(*admin.CreateUserRequest)) admin.CreateUserRequest {
	t.Helper()
	r := admin.CreateUserRequest{
		Username: Name("user"),
		Password: randomPassword(t),
		Name:     "Test User",
		Roles:    []string{"user"},
	}
	r.Email = r.Username + "@example.test"
	for _, o := range opts {
		o(&r)
	}
	return r
}

// IdentityClient returns an admin-API body for a new Identity client of the
// given kind (confidential, public, service, resource_server) with a unique
// client_id and the grants, scopes and redirect URIs that kind usually has.
// opts override the defaults.
func IdentityClient(t testing.TB, kind string, opts ...func(*admin.CreateClientRequest)) admin.CreateClientRequest {
	t.Helper()
	r := admin.CreateClientRequest{ClientID: Name(kind), Name: "test " + kind + " client", Kind: kind}
	switch kind {
	case "confidential":
		r.GrantTypes = []string{"authorization_code", "refresh_token"}
		r.RedirectURIs = []string{"https://127.0.0.1:9999/callback"}
		r.Scopes = []string{"openid", "profile", "email"}
	case "public":
		r.GrantTypes = []string{"authorization_code", "refresh_token"}
		r.RedirectURIs = []string{"http://127.0.0.1/callback"}
		r.Scopes = []string{"openid", "profile"}
	case "service":
		r.GrantTypes = []string{"client_credentials"}
		r.Scopes = []string{"kms:read"}
		r.Audiences = []string{"kms"}
	case "resource_server":
		r.CanIntrospect = true
		r.Audiences = []string{"kms"}
	default:
		t.Fatalf("factory: unknown identity client kind %q", kind)
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func randomPassword(t testing.TB) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("factory: random password: %v", err)
	}
	return "pw-" + base64.RawURLEncoding.EncodeToString(b)
}
