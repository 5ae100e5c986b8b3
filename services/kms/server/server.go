// Package server is the Passthru KMS as it runs: on the database and
// barrier the shared runtime (services/infra/serve) opens, it wires realms
// and authentication, the key service and the HTTP API. The binary (cmd/kms),
// the test fixture and the demo all start it through Start.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/bearer"
	"github.com/passthru-dev/passthru/services/infra/certauth"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/introspect"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/apikey"
	"github.com/passthru-dev/passthru/services/kms/httpapi"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/realm"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
)

// Options start a KMS: the runtime's options plus, optionally, the
// configuration built in code.
type Options struct {
	serve.Options
	// Config, when set, is used instead of loading a config file and the
	// environment (tests and embedders build it in code). It is copied,
	// never modified.
	Config *Config
}

// Instance is a running KMS.
type Instance struct {
	*serve.Instance
	// Basic is the Basic authenticator (tests read its PBKDF2 counter).
	Basic *realm.Basic
	// Tokens verifies bearer tokens (nil when no issuer is trusted); tests
	// and benchmarks read its counters.
	Tokens *bearer.Verifier
	// Introspection are the revocation checkers by issuer.
	Introspection map[string]*introspect.Checker
}

// server is the KMS as the runtime sees it: its configuration and what
// Build made of it.
type server struct {
	cfg   *Config
	basic *realm.Basic
	trust *trust
}

// newServer returns the service for opts.Config (see serve.Configure) and
// the runtime options to start it with.
func newServer(opts Options) (*server, serve.Options) {
	cfg, o := serve.Configure(opts.Options, opts.Config, DefaultConfig)
	return &server{cfg: cfg}, o
}

func (s *server) service() *serve.Service {
	return &serve.Service{
		Name: "kms", Title: "Passthru KMS", About: "The Passthru KMS.", DefaultListen: DefaultListen,
		Config: s.cfg, Build: s.build, CheckMode: s.checkMode,
		// The API enforces httpapi.MaxBodyBytes itself, with its problem
		// code; the transport limit is only the backstop, and answers
		// with the same problem.
		MaxBodyBytes: 2 * httpapi.MaxBodyBytes,
		TooLarge:     httpapi.TooLarge,
	}
}

// checkMode refuses the demo settings outside demo mode.
func (s *server) checkMode(demo bool) error {
	var errs []error
	if !demo && s.cfg.Demo.IdentityFile != "" {
		errs = append(errs, errors.New("demo.identity_file: applies in demo mode only"))
	}
	if !demo && len(s.cfg.Demo.PasswordFiles) > 0 {
		errs = append(errs, errors.New("demo.password_files: applies in demo mode only"))
	}
	return errors.Join(errs...)
}

// Start starts a KMS and returns once it is listening and ready.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	s, o := newServer(opts)
	inst, err := serve.Start(ctx, s.service(), o)
	if err != nil {
		return nil, err
	}
	out := &Instance{Instance: inst, Basic: s.basic}
	if s.trust != nil {
		out.Tokens, out.Introspection = s.trust.verifier, s.trust.checkers
	}
	return out, nil
}

// ResolveConfig is the configuration Start runs with (see serve.Resolve),
// and the config file it read ("" for none).
func ResolveConfig(opts Options) (*Config, string, error) {
	s, o := newServer(opts)
	path, err := serve.Resolve(s.service(), o)
	if err != nil {
		return nil, path, err
	}
	return s.cfg, path, nil
}

// build makes the KMS's handler on the runtime's database and barrier:
// realms and Basic authentication, the key service, demo data and the API.
func (s *server) build(ctx context.Context, env *serve.Env) (http.Handler, []serve.Check, error) {
	cfg := s.cfg
	store, err := sqlstore.New(ctx, env.DB)
	if err != nil {
		return nil, nil, err
	}
	svc, err := keys.New(ctx, keys.Options{Store: store, Barrier: env.Barrier, Logger: env.Logger, AuditQueue: cfg.Keys.AuditQueue,
		Cache: keys.CacheOptions{MaxKeys: cfg.Keys.CacheMaxKeys, MaxAge: cfg.Keys.CacheMaxAge, GenerationRefresh: cfg.Keys.GenerationRefresh}})
	if err != nil {
		return nil, nil, err
	}
	// Another replica's key change reaches this one's cache at once
	// through the store's notifications (PostgreSQL), within
	// keys.generation_refresh otherwise.
	env.Go(func(ctx context.Context) { store.WatchKeyChanges(ctx, svc.KeysChanged) })
	hierarchy, err := cfg.hierarchy()
	if err != nil {
		return nil, nil, fmt.Errorf("auth.scopes: %w", err)
	}
	apiKeys, err := apikey.New(ctx, apikey.Options{Store: store, Barrier: env.Barrier, Hierarchy: hierarchy, Now: env.Now})
	if err != nil {
		return nil, nil, err
	}
	realmsFile, err := loadRealms(cfg, env.ConfigFile, env.Demo)
	if err != nil {
		return nil, nil, err
	}
	roles, err := realm.NewRolesIn(hierarchy, realmsFile.Roles)
	if err != nil {
		return nil, nil, fmt.Errorf("realms: %w", err)
	}
	users, err := realm.NewUserStore(ctx, env.DB.Gorm(), realm.UserStoreOptions{
		Hasher: env.Hasher, Roles: roles, Reserved: fileRealmUsernames(realmsFile),
		TenantName: func(ctx context.Context, id uuid.UUID) (string, error) {
			t, err := svc.Tenant(ctx, id)
			if err != nil {
				return "", err
			}
			return t.Name, nil
		},
	})
	if err != nil {
		return nil, nil, err
	}
	_, realms, err := realmsFile.Build(env.Hasher, users)
	if err != nil {
		return nil, nil, fmt.Errorf("realms: %w", err)
	}
	if err := registerRealmTenants(ctx, svc, realmsFile); err != nil {
		return nil, nil, err
	}
	creds, err := credential.New(credential.Options{Hasher: env.Hasher, CacheTTL: cfg.Auth.CacheTTL, CacheMaxAge: cfg.Auth.CacheMaxAge})
	if err != nil {
		return nil, nil, err
	}
	basic, err := realm.NewBasic(realm.BasicOptions{
		Realms: realms, Roles: roles, Verifier: creds, ChallengeRealm: "kms", Freshness: cfg.Auth.UserFreshness,
	})
	if err != nil {
		return nil, nil, err
	}
	var dbRealms []string
	for _, rc := range realmsFile.RealmOrder() {
		if rc.Type == realm.TypeDatabase {
			dbRealms = append(dbRealms, rc.Name)
		}
	}
	if len(dbRealms) == 0 {
		return nil, nil, errors.New("realms: at least one database realm is required (for /api/v1/admin/realm-users)")
	}

	var identityDemo *demofile.File
	var tenantIDs map[string]uuid.UUID
	if env.Demo && cfg.Demo.IdentityFile != "" {
		if identityDemo, tenantIDs, err = identityDemoTenants(cfg.Demo.IdentityFile); err != nil {
			return nil, nil, err
		}
	}
	issuers := cfg.Auth.Issuers
	if len(issuers) == 0 && identityDemo != nil {
		is, err := demoTrust(identityDemo, cfg.Demo.RevocationInterval)
		if err != nil {
			return nil, nil, err
		}
		issuers = []IssuerConfig{is}
	}
	if len(issuers) > 0 {
		tenants := &tenantCache{svc: svc, now: env.Now, answers: map[uuid.UUID]tenantAnswer{}}
		s.trust, err = newTrust(issuers, cfg.Auth.TenantMapping, cfg.Auth.DevMode, hierarchy.Expand, tenants.registered,
			configDir(env.ConfigFile), env)
		if err != nil {
			return nil, nil, err
		}
		for _, is := range issuers {
			how := fmt.Sprintf("revocation %s, bound %s", is.Revocation.mode(), is.Revocation.interval())
			switch is.Revocation.mode() {
			case RevocationNone:
				how = "no revocation check: tokens live until they expire"
			case RevocationEveryRequest:
				how = "revocation checked on every request"
			}
			env.Banner("trusts", is.Issuer+" ("+how+")")
		}
		verifier := s.trust.verifier
		env.Go(func(ctx context.Context) {
			// Fetch the issuers' keys now rather than on the first request;
			// an issuer that is down is retried when tokens arrive.
			if err := verifier.Prefetch(ctx); err != nil {
				env.Logger.WarnContext(ctx, "token issuer keys not fetched at start", "error", err)
			}
			<-ctx.Done()
			verifier.Close()
		})
	}
	var demoCertRules []certauth.Rule
	if env.Demo {
		passwords, err := config.ReadSecretFiles("demo.password_files", cfg.Demo.PasswordFiles, configDir(env.ConfigFile))
		if err != nil {
			return nil, nil, err
		}
		seeded, err := seedDemo(ctx, svc, users, env.ResetDemo, tenantIDs, passwords)
		if err != nil {
			return nil, nil, fmt.Errorf("seed demo data: %w", err)
		}
		if identityDemo != nil && len(cfg.Auth.Issuers) == 0 {
			is := issuers[0]
			seeded.trust = &demofile.Trust{
				Issuer: is.Issuer, Audience: DefaultAudience, RevocationMode: is.Revocation.mode(),
				RevocationIntervalSeconds: is.Revocation.interval().Seconds(),
			}
		}
		if env.ClientAuth != "" && env.ClientAuth != config.ClientAuthNone {
			if demoCertRules, err = issueDemoCerts(env, seeded); err != nil {
				return nil, nil, err
			}
		}
		if env.DemoFile, err = writeDemoFile(env, seeded); err != nil {
			return nil, nil, err
		}
		env.Banner("demo.json", env.DemoFile+" (demo tenants, users, passwords and keys)")
		if _, fromFile := passwords[DemoUsers[0].Role]; !fromFile {
			// A password from a file is a secret: it stays out of the log.
			env.Banner("try", fmt.Sprintf("curl --cacert %s -u %s:%s %s/api/v1/elastic-keys",
				env.CAFile, DemoUsername(DemoUsers[0].Role, DemoTenantNames[0]), DemoUsers[0].Password, env.URL))
		}
	}
	env.Banner("Swagger UI", env.URL+"/ui/swagger/")

	certs, err := certAuthenticator(env, cfg, roles, demoCertRules)
	if err != nil {
		return nil, nil, err
	}
	var auths []authn.Authenticator
	for _, name := range authenticatorOrder(cfg, s.trust != nil, certs != nil) {
		switch name {
		case AuthBasic:
			auths = append(auths, basic)
		case AuthBearer:
			if s.trust == nil {
				return nil, nil, errors.New("auth.authenticators: bearer needs at least one entry in auth.issuers")
			}
			auths = append(auths, s.trust.auth)
		case AuthAPIKey:
			auths = append(auths, apiKeys.Authenticator())
		case AuthMTLS:
			if certs == nil {
				return nil, nil, errors.New("auth.authenticators: mtls needs at least one entry in auth.mtls")
			}
			auths = append(auths, certs)
		}
	}
	handler, err := httpapi.New(ctx, httpapi.Options{
		Keys: svc, Users: users, UserRealms: dbRealms, APIKeys: apiKeys,
		Authenticators: auths,
		Logger:         env.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	s.basic = basic
	return handler, nil, nil
}

// configDir is the directory relative paths of the config file are
// resolved against ("" without a config file).
func configDir(configFile string) string {
	if configFile == "" {
		return ""
	}
	return filepath.Dir(configFile)
}

// loadRealms reads the realms file auth.realms_file names (relative to the
// config file) or falls back to the default realms. Only a configured file
// is read: one that merely lies beside the config file could otherwise add
// users (and tenants) no one asked for. Demo mode adds the database realm
// "demo" that holds the demo users.
func loadRealms(cfg *Config, cfgPath string, demo bool) (*realm.File, error) {
	path := cfg.Auth.RealmsFile
	if path != "" && !filepath.IsAbs(path) && cfgPath != "" {
		path = filepath.Join(filepath.Dir(cfgPath), path)
	}
	f := realm.DefaultFile()
	if path != "" {
		var err error
		if f, err = realm.LoadFile(path); err != nil {
			return nil, err
		}
	}
	if demo {
		has := false
		for _, r := range f.Realms {
			if r.Name == DemoRealm {
				has = r.Type == realm.TypeDatabase
				if !has {
					return nil, fmt.Errorf("realms: realm %q is reserved for the demo users and must be a database realm", DemoRealm)
				}
			}
		}
		if !has {
			f.Realms = append(f.Realms, realm.Config{ID: DemoRealm, Name: DemoRealm, Type: realm.TypeDatabase})
			if len(f.Order) > 0 {
				f.Order = append(f.Order, DemoRealm)
			}
		}
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("realms: %w", err)
	}
	return f, nil
}

// registerRealmTenants checks that the tenants file-realm users belong to
// are registered. A tenant id no tenant has is an error (a typo would
// otherwise create an empty tenant and give the user its keys) unless an
// entry with that id says create_tenant: true; then it is registered, so
// its keys have a database.
func registerRealmTenants(ctx context.Context, svc *keys.Service, f *realm.File) error {
	type tenantRef struct {
		where  string // the first entry naming the tenant, for the error
		create bool
	}
	var order []uuid.UUID
	refs := map[uuid.UUID]*tenantRef{}
	for _, r := range f.Realms {
		for _, u := range r.Users {
			id, err := uuid.Parse(u.TenantID)
			if err != nil {
				return fmt.Errorf("realm %s user %s: tenant id: %w", r.Name, u.Username, err)
			}
			ref, ok := refs[id]
			if !ok {
				ref = &tenantRef{where: fmt.Sprintf("realm %s user %s", r.Name, u.Username)}
				refs[id] = ref
				order = append(order, id)
			}
			ref.create = ref.create || u.CreateTenant
		}
	}
	for _, id := range order {
		ref := refs[id]
		if ref.create {
			if _, err := svc.EnsureTenant(ctx, id, "tenant-"+id.String(), false); err != nil {
				return fmt.Errorf("realms: register tenant %s: %w", id, err)
			}
			continue
		}
		_, err := svc.Tenant(ctx, id)
		if kms.Is(err, kms.NotFound) {
			return fmt.Errorf("realms: %s: tenant_id %s names no tenant (set create_tenant: true on the entry to create it)", ref.where, id)
		}
		if err != nil {
			return fmt.Errorf("realms: %s: tenant %s: %w", ref.where, id, err)
		}
	}
	return nil
}

// fileRealmUsernames reports the usernames of the file realms, which
// database realm users may not take (a same-named user would shadow one of
// them, depending on the realm order).
func fileRealmUsernames(f *realm.File) func(string) bool {
	names := map[string]bool{}
	for _, r := range f.Realms {
		if r.Type != realm.TypeFile {
			continue
		}
		for _, u := range r.Users {
			names[u.Username] = true
		}
	}
	return func(username string) bool { return names[username] }
}

// Main is the binary: serve.Main with the defaults, until SIGINT or SIGTERM.
func Main(args []string, stdout, stderr io.Writer) int {
	s, _ := newServer(Options{})
	return serve.Main(s.service(), args, stdout, stderr)
}
