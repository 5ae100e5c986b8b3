package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/password"
)

// Documented demo passwords (the same in every demo tenant). They exist only
// in demo mode and are written to demo.json.
const (
	DemoAdminPassword   = "admin-demo-password"
	DemoUserPassword    = "user-demo-password"
	DemoServicePassword = "service-demo-password"
)

// Demo redirect URIs.
const (
	DemoWebRedirectURI      = "https://127.0.0.1:9999/callback"
	DemoWebPostLogoutURI    = "https://127.0.0.1:9999/logged-out"
	DemoNativeRedirectURI   = "http://127.0.0.1/callback" // any port (RFC 8252)
	DemoNativeRedirectURIv6 = "http://[::1]/callback"
	DemoNativePostLogoutURI = "http://127.0.0.1/logged-out"
	demoTenantNamePrefix    = "demo-tenant-"
)

type demoParams struct {
	store   *store.Store
	hasher  password.Hasher
	issuer  string
	baseURL string
	caFile  string
	dataDir string
	reset   bool
	logger  *slog.Logger
	// passwords (by username) and clientSecrets (by client id prefix)
	// replace the documented passwords and the generated secrets.
	passwords, clientSecrets map[string]string
}

// seedDemo makes sure the demo tenants exist and writes demo.json. With a
// persistent data dir a restart keeps the tenants (their secrets live in
// demo.json, the database holds only hashes); reset, or a demo.json that
// no longer matches the database, wipes the demo tenants and seeds new ones.
func seedDemo(ctx context.Context, p demoParams) (string, error) {
	existing, err := p.store.Tenants(ctx, true)
	if err != nil {
		return "", err
	}
	if !p.reset && len(existing) > 0 {
		if f, err := demofile.Read(filepath.Join(p.dataDir, demofile.Name)); err == nil && sameTenants(f, existing) {
			f.BaseURL, f.Issuer, f.CAFile = p.baseURL, p.issuer, p.caFile
			path, err := demofile.Write(p.dataDir, f)
			if err != nil {
				return "", err
			}
			p.logger.Info("demo data kept", "tenants", len(f.Tenants))
			return path, nil
		}
	}
	for _, t := range existing {
		if err := p.store.DeleteTenant(ctx, t.ID); err != nil {
			return "", fmt.Errorf("wipe demo data: %w", err)
		}
	}
	f := &demofile.File{Service: "identity", BaseURL: p.baseURL, Issuer: p.issuer, CAFile: p.caFile}
	for _, suffix := range []string{"a", "b"} {
		t, err := seedTenant(ctx, p, demoTenantNamePrefix+suffix)
		if err != nil {
			return "", err
		}
		f.Tenants = append(f.Tenants, *t)
	}
	path, err := demofile.Write(p.dataDir, f)
	if err != nil {
		return "", err
	}
	p.logger.Info("demo data seeded", "tenants", len(f.Tenants), "file", path)
	return path, nil
}

// sameTenants reports whether demo.json lists exactly the demo tenants of
// the database.
func sameTenants(f *demofile.File, rows []identity.Tenant) bool {
	a := make([]string, 0, len(f.Tenants))
	for _, t := range f.Tenants {
		a = append(a, t.ID)
	}
	b := make([]string, 0, len(rows))
	for _, t := range rows {
		b = append(b, t.ID.String())
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

type demoUser struct {
	name, password, fullName string
	roles                    []string
}

type demoClient struct {
	kind, idPrefix, name  string
	confidential          bool
	redirects, postLogout []string
	grants, scopes, auds  []string
	introspect            bool
}

var demoUsers = []demoUser{
	{"admin", DemoAdminPassword, "Demo Admin", []string{"admin"}},
	{"user", DemoUserPassword, "Demo User", []string{"user"}},
	{"service", DemoServicePassword, "Demo Service Account", []string{"service"}},
}

// The demo clients. The KMS service client comes before the other service
// clients (the KMS reader, the admin client) so ClientOfKind("service")
// finds it; the reader is found by its client_id prefix, demo-kms-reader.
var demoClients = []demoClient{
	{kind: demofile.KindConfidential, idPrefix: "demo-web", name: "Demo Web App", confidential: true,
		redirects: []string{DemoWebRedirectURI}, postLogout: []string{DemoWebPostLogoutURI},
		grants: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		scopes: []string{"openid", "profile", "email", "kms:read", "kms:write"}, auds: []string{oauth.SelfAudience, "kms"}},
	{kind: demofile.KindPublic, idPrefix: "demo-native", name: "Demo Native App",
		redirects: []string{DemoNativeRedirectURI, DemoNativeRedirectURIv6}, postLogout: []string{DemoNativePostLogoutURI},
		grants: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		scopes: []string{"openid", "profile", "email", "kms:read"}, auds: []string{oauth.SelfAudience, "kms"}},
	{kind: demofile.KindService, idPrefix: "demo-service", name: "Demo KMS Service", confidential: true,
		grants: []string{oauth.GrantClientCredentials},
		scopes: []string{"kms:admin", "kms:write", "kms:read"}, auds: []string{"kms"}},
	// A service client that may read but not use keys (kms:read implies
	// neither kms:encrypt nor kms:decrypt): the KMS answers its encrypt
	// requests with 403 insufficient_scope.
	{kind: demofile.KindService, idPrefix: "demo-kms-reader", name: "Demo KMS Reader", confidential: true,
		grants: []string{oauth.GrantClientCredentials},
		scopes: []string{"kms:read"}, auds: []string{"kms"}},
	{kind: demofile.KindResourceServer, idPrefix: "demo-kms-rs", name: "KMS (resource server)", confidential: true,
		introspect: true, auds: []string{"kms"}},
	{kind: demofile.KindService, idPrefix: "demo-admin", name: "Demo Identity Admin", confidential: true,
		grants: []string{oauth.GrantClientCredentials},
		scopes: []string{"identity:admin"}, auds: []string{oauth.SelfAudience}},
}

func seedTenant(ctx context.Context, p demoParams, name string) (*demofile.Tenant, error) {
	id := ids.NewTenant()
	if err := p.store.CreateTenant(ctx, id, name, true); err != nil {
		return nil, err
	}
	out := &demofile.Tenant{ID: id.String(), Name: name}
	short := strings.ReplaceAll(id.String(), "-", "")[:8]

	// Hash everything in parallel: at production PBKDF2 cost the demo would
	// otherwise take seconds to start.
	type job struct {
		plain string
		hash  string
		err   error
	}
	jobs := make([]*job, 0, len(demoUsers)+len(demoClients))
	users := slices.Clone(demoUsers)
	for i, u := range users {
		if pw, ok := p.passwords[u.name]; ok {
			users[i].password = pw
		}
		jobs = append(jobs, &job{plain: users[i].password})
	}
	secrets := make([]string, len(demoClients))
	for i, c := range demoClients {
		if c.confidential {
			secrets[i] = oauth.NewSecret()
			if s, ok := p.clientSecrets[c.idPrefix]; ok {
				secrets[i] = s
			}
		}
		jobs = append(jobs, &job{plain: secrets[i]})
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.plain == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.hash, j.err = p.hasher.Hash(j.plain)
		}()
	}
	wg.Wait()
	for _, j := range jobs {
		if j.err != nil {
			return nil, fmt.Errorf("demo tenant %s: hash: %w", name, j.err)
		}
	}

	for i, u := range users {
		row := &identity.User{
			ID: ids.NewEntity(), Username: u.name, PasswordHash: jobs[i].hash, Name: u.fullName,
			Email: u.name + "@" + name + ".passthru.demo.local", Roles: u.roles,
		}
		if err := p.store.CreateUser(ctx, id, row); err != nil {
			return nil, fmt.Errorf("demo tenant %s: %w", name, err)
		}
		out.Users = append(out.Users, demofile.User{Username: u.name, Password: u.password, Roles: u.roles})
	}
	for i, c := range demoClients {
		row := &identity.Client{
			ClientID: c.idPrefix + "-" + short, Name: c.name, Kind: identity.ClientKind(c.kind), SecretHash: jobs[len(demoUsers)+i].hash,
			RedirectURIs: c.redirects, PostLogoutRedirectURIs: c.postLogout,
			GrantTypes: c.grants, Scopes: c.scopes,
			Audiences: c.auds, CanIntrospect: c.introspect,
		}
		if err := p.store.CreateClient(ctx, id, row); err != nil {
			return nil, fmt.Errorf("demo tenant %s: %w", name, err)
		}
		out.Clients = append(out.Clients, demofile.Client{
			ClientID: row.ClientID, ClientSecret: secrets[i], Kind: c.kind, RedirectURIs: c.redirects,
			Scopes: c.scopes, Audience: row.DefaultAudience(),
		})
	}
	return out, nil
}
