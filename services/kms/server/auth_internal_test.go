package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/realm"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func TestTenantCache(t *testing.T) {
	ctx := t.Context()
	d := dbtest.Open(t, dbtest.SQLite)
	store, err := sqlstore.New(ctx, d)
	require.NoError(t, err)
	svc, err := keys.New(ctx, keys.Options{Store: store, Barrier: openBarrier(t, d)})
	require.NoError(t, err)
	known := uuid.New()
	_, err = svc.CreateTenant(ctx, known, "cached-"+known.String()[:8], false)
	require.NoError(t, err)

	clk := clock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := &tenantCache{svc: svc, now: clk.Now, answers: map[uuid.UUID]tenantAnswer{}}
	ok, err := c.registered(ctx, known)
	require.NoError(t, err)
	assert.True(t, ok)
	unknown := uuid.New()
	ok, err = c.registered(ctx, unknown)
	require.NoError(t, err)
	assert.False(t, ok)

	// Registered a moment later: found once the short negative answer expires.
	_, err = svc.CreateTenant(ctx, unknown, "late-"+unknown.String()[:8], false)
	require.NoError(t, err)
	ok, _ = c.registered(ctx, unknown)
	assert.False(t, ok, "the negative answer stands for its TTL")
	clk.Advance(unknownTTL)
	ok, _ = c.registered(ctx, unknown)
	assert.True(t, ok)

	// Bounded: a full table of fresh answers starts over rather than grow.
	for range tenantCacheSize {
		c.answers[uuid.New()] = tenantAnswer{until: clk.Now().Add(time.Hour)}
	}
	_, err = c.registered(ctx, uuid.New())
	require.NoError(t, err)
	assert.LessOrEqual(t, len(c.answers), tenantCacheSize)

	// A store failure is an error, never "not registered".
	require.NoError(t, d.Close())
	_, err = c.registered(ctx, uuid.New())
	assert.Error(t, err)
}

func openBarrier(t *testing.T, d *db.DB) *barrier.Barrier {
	t.Helper()
	b, err := barrier.Open(t.Context(), d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("a-test-unseal-secret-of-32-bytes!!")}})
	require.NoError(t, err)
	return b
}

func TestIdentityDemoTenants(t *testing.T) {
	dir := t.TempDir()
	write := func(f *demofile.File) string {
		f.BaseURL, f.CAFile = "https://127.0.0.1:1", "/ca.pem"
		sub, err := os.MkdirTemp(dir, "demo")
		require.NoError(t, err)
		p, err := demofile.Write(sub, f)
		require.NoError(t, err)
		return p
	}
	a, b := uuid.NewString(), uuid.NewString()
	good := write(&demofile.File{Service: "identity", Tenants: []demofile.Tenant{{ID: a, Name: DemoTenantNames[0]}, {ID: b, Name: DemoTenantNames[1]}}})
	_, ids, err := identityDemoTenants(good)
	require.NoError(t, err)
	assert.Equal(t, a, ids[DemoTenantNames[0]].String())

	for _, tc := range []struct {
		desc string
		path string
		want string
	}{
		{desc: "missing file", path: filepath.Join(dir, "nope.json"), want: "demo.identity_file"},
		{desc: "another service's file", path: write(&demofile.File{Service: "kms", Tenants: []demofile.Tenant{{ID: a, Name: "x"}}}), want: `not of the Identity provider`},
		{desc: "a tenant missing", path: write(&demofile.File{Service: "identity", Tenants: []demofile.Tenant{{ID: a, Name: DemoTenantNames[0]}}}), want: "has no tenant " + DemoTenantNames[1]},
		{desc: "a bad tenant id", path: write(&demofile.File{Service: "identity", Tenants: []demofile.Tenant{{ID: "x", Name: DemoTenantNames[0]}}}), want: "tenant " + DemoTenantNames[0]},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, _, err := identityDemoTenants(tc.path)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = demoTrust(&demofile.File{}, 0)
	require.ErrorContains(t, err, "names no issuer")
}

func TestCertAuthenticatorNeedsClientCertificates(t *testing.T) {
	roles, err := realm.NewRoles(realm.DefaultRoles())
	require.NoError(t, err)
	cfg := &Config{Auth: AuthConfig{MTLS: []CertRule{{URI: "spiffe://t/x", TenantID: uuid.NewString(), Roles: []string{"reader"}}}}}
	_, err = certAuthenticator(&serve.Env{ClientAuth: "none"}, cfg, roles, nil)
	require.ErrorContains(t, err, "need tls.client_auth optional or required")
	a, err := certAuthenticator(&serve.Env{ClientAuth: "optional"}, cfg, roles, nil)
	require.NoError(t, err)
	assert.NotNil(t, a)
	none, err := certAuthenticator(&serve.Env{ClientAuth: "optional"}, &Config{}, roles, nil)
	require.NoError(t, err)
	assert.Nil(t, none, "no rules: no authenticator")
	cfg.Auth.MTLS[0].Roles = []string{"no-such-role"}
	_, err = certAuthenticator(&serve.Env{ClientAuth: "optional"}, cfg, roles, nil)
	require.ErrorContains(t, err, "auth.mtls")
}

func TestAuthenticatorOrder(t *testing.T) {
	assert.Equal(t, []string{AuthAPIKey, AuthBasic}, authenticatorOrder(&Config{}, false, false))
	assert.Equal(t, []string{AuthMTLS, AuthAPIKey, AuthBearer, AuthBasic}, authenticatorOrder(&Config{}, true, true))
	explicit := &Config{Auth: AuthConfig{Authenticators: []string{AuthBearer}}}
	assert.Equal(t, []string{AuthBearer}, authenticatorOrder(explicit, true, true))
	assert.Equal(t, "", resolvePath("/etc/passthru", ""))
	assert.Equal(t, "/etc/passthru/ca.pem", resolvePath("/etc/passthru", "ca.pem"))
	assert.Equal(t, "/abs/ca.pem", resolvePath("/etc/passthru", "/abs/ca.pem"))
	assert.Equal(t, time.Minute, RevocationConfig{Interval: time.Minute}.interval())
	assert.Equal(t, DefaultRevocationInterval, RevocationConfig{}.interval())
}

func TestTenantRules(t *testing.T) {
	id := uuid.New()
	got, err := tenantRules([]TenantRule{{Issuer: "https://a", Claim: "tenant_id", Values: map[string]string{"x": id.String()}}, {Issuer: "https://b", Tenant: id.String()}})
	require.NoError(t, err)
	assert.Equal(t, id, got[0].Values["x"])
	assert.Equal(t, id, got[1].Tenant)
	_, err = tenantRules([]TenantRule{{Issuer: "https://a", Tenant: "nope"}})
	require.ErrorContains(t, err, "auth.tenant_mapping[0].tenant")
	_, err = tenantRules([]TenantRule{{Issuer: "https://a", Values: map[string]string{"x": "nope"}}})
	require.ErrorContains(t, err, `auth.tenant_mapping[0].values["x"]`)
}
