package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	infraids "github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/realm"
)

// DemoRealm is the database realm that holds the demo users.
const DemoRealm = "demo"

// DemoTenantNames are the two demo tenants.
var DemoTenantNames = []string{"demo-tenant-a", "demo-tenant-b"}

// DemoUser is one documented demo user role. The username of a demo user is
// <role>@<tenant name> (e.g. admin@demo-tenant-a): a Basic credential carries
// no tenant, so usernames are unique across tenants.
type DemoUser struct {
	Role     string
	Password string
}

// DemoUsers are the documented demo users of every demo tenant. The
// passwords are public on purpose: demo mode listens on loopback only.
var DemoUsers = []DemoUser{
	{Role: "admin", Password: "demo-admin-password"},
	{Role: "writer", Password: "demo-writer-password"},
	{Role: "reader", Password: "demo-reader-password"},
}

// DemoUsername is the username of the demo user with role in tenant.
func DemoUsername(role, tenantName string) string {
	return role + "@" + tenantName
}

// DemoKeyName is the name of the demo key of alg, e.g. demo-ecdh-es-a256kw.
func DemoKeyName(alg keycrypto.Algorithm) string {
	r := strings.NewReplacer("+", "-", "_", "-")
	return "demo-" + strings.ToLower(r.Replace(string(alg)))
}

type demoSeed struct {
	tenants []demofile.Tenant
	trust   *demofile.Trust
}

// seedDemo creates (or, with a persistent data dir, finds) the demo tenants,
// users and keys. reset first deletes every demo tenant for real. ids, when
// given, are the tenant ids to use by tenant name (those of an Identity
// demo, so that one tenant has one id in both services); a kept demo tenant
// whose id differs is replaced.
//
// passwords replaces the documented password of the roles it names.
func seedDemo(ctx context.Context, svc *keys.Service, users *realm.UserStore, reset bool, ids map[string]uuid.UUID, passwords map[string]string) (*demoSeed, error) {
	ctx = keys.WithActor(ctx, keys.Actor{Subject: "demo-seed", Method: "internal"})
	existing, err := svc.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*kms.Tenant{}
	for _, t := range existing {
		if !t.Demo {
			continue
		}
		if want, ok := ids[t.Name]; reset || ok && want != t.ID {
			if err := users.DeleteTenant(ctx, t.ID); err != nil {
				return nil, err
			}
			if err := svc.DeleteTenant(ctx, t.ID); err != nil {
				return nil, err
			}
			continue
		}
		byName[t.Name] = t
	}
	seed := &demoSeed{}
	for _, name := range DemoTenantNames {
		t := byName[name]
		if t == nil {
			id, ok := ids[name]
			if !ok {
				id = newTenantID()
			}
			if t, err = svc.CreateTenant(ctx, id, name, true); err != nil {
				return nil, fmt.Errorf("create demo tenant %s: %w", name, err)
			}
		}
		dt := demofile.Tenant{ID: t.ID.String(), Name: t.Name}
		for _, du := range DemoUsers {
			if pw, ok := passwords[du.Role]; ok {
				du.Password = pw
			}
			username := DemoUsername(du.Role, t.Name)
			if err := ensureDemoUser(ctx, users, t.ID, username, du); err != nil {
				return nil, err
			}
			dt.Users = append(dt.Users, demofile.User{Username: username, Password: du.Password, Roles: []string{du.Role}})
		}
		for _, alg := range keycrypto.Algorithms() {
			k, err := ensureDemoKey(ctx, svc, t.ID, alg)
			if err != nil {
				return nil, err
			}
			dt.Keys = append(dt.Keys, demofile.Key{ID: k.ID.String(), Name: k.Name, Algorithm: string(k.Algorithm), Purpose: string(k.Purpose)})
		}
		seed.tenants = append(seed.tenants, dt)
	}
	return seed, nil
}

func newTenantID() uuid.UUID { return infraids.NewTenant() }

// identityDemoTenants reads the tenant ids of an Identity demo.json by
// tenant name, and checks that it names every KMS demo tenant.
func identityDemoTenants(path string) (*demofile.File, map[string]uuid.UUID, error) {
	f, err := demofile.Read(path)
	if err != nil {
		return nil, nil, fmt.Errorf("demo.identity_file: %w", err)
	}
	if f.Service != "identity" {
		return nil, nil, fmt.Errorf("demo.identity_file: %s is the demo file of %q, not of the Identity provider", path, f.Service)
	}
	out := map[string]uuid.UUID{}
	for _, t := range f.Tenants {
		id, err := uuid.Parse(t.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("demo.identity_file: tenant %s: %w", t.Name, err)
		}
		out[t.Name] = id
	}
	for _, name := range DemoTenantNames {
		if _, ok := out[name]; !ok {
			return nil, nil, fmt.Errorf("demo.identity_file: %s has no tenant %s", path, name)
		}
	}
	return f, out, nil
}

func ensureDemoUser(ctx context.Context, users *realm.UserStore, tenant uuid.UUID, username string, du DemoUser) error {
	u, err := users.Realm(DemoRealm).Lookup(ctx, username)
	switch {
	case err == nil && u.TenantID == tenant:
		return nil
	case err == nil:
		return fmt.Errorf("demo user %s exists in another tenant (%s)", username, u.TenantID)
	case !errors.Is(err, realm.ErrUserNotFound):
		return err
	}
	_, err = users.Create(ctx, realm.NewUser{
		Realm: DemoRealm, Username: username, Password: du.Password, Roles: []string{du.Role}, TenantID: tenant,
		Enabled: true, DisplayName: "Demo " + du.Role, Metadata: []byte(`{"demo":true}`),
	})
	if err != nil {
		return fmt.Errorf("create demo user %s: %w", username, err)
	}
	return nil
}

func ensureDemoKey(ctx context.Context, svc *keys.Service, tenant uuid.UUID, alg keycrypto.Algorithm) (*kms.ElasticKey, error) {
	name := DemoKeyName(alg)
	found, _, err := svc.ListKeys(ctx, tenant, kms.KeyFilter{NamePrefix: name}, kms.Page{Size: 100})
	if err != nil {
		return nil, err
	}
	for _, k := range found {
		if k.Name == name {
			return k, nil
		}
	}
	k, err := svc.CreateKey(ctx, tenant, kms.NewKey{
		Name: name, Algorithm: string(alg), Description: "Demo " + string(alg) + " key", VersioningAllowed: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create demo key %s: %w", name, err)
	}
	return k, nil
}

func writeDemoFile(env *serve.Env, seed *demoSeed) (string, error) {
	path, err := demofile.Write(env.DataDir, &demofile.File{
		Service: "kms", BaseURL: env.URL, CAFile: env.CAFile, Tenants: seed.tenants, Trust: seed.trust,
	})
	if err != nil {
		return "", fmt.Errorf("write demo file: %w", err)
	}
	return path, nil
}
