// Package kms is the Passthru KMS service: it wires configuration, the
// database, the barrier, realms and authentication, the key service and the
// HTTP API into a running server. The binary (cmd/kms), the test fixture and
// the demo all start it through Start.
package kms

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/services/kms/httpapi"
	"github.com/passthru-dev/passthru/services/kms/keys"
)

// Options starts a KMS (see the service contract).
type Options struct {
	ConfigPath string
	// Config, when set, is used instead of loading ConfigPath and the
	// environment (tests and embedders build it in code).
	Config    *Config
	Listen    string // "127.0.0.1:0" in tests; default DefaultListen
	DataDir   string
	Demo      bool
	ResetDemo bool // implies Demo
	// DB overrides the database of the config (tests: dbtest.Options).
	DB *db.Options
	// PKIDir is where the demo CA lives (default <data-dir>/tls).
	PKIDir string
	Logger *slog.Logger
	// PBKDF2Iterations overrides the config (0: config or 600000).
	PBKDF2Iterations int
	// Stdout receives the startup information (where the CA and demo.json are).
	Stdout io.Writer
	// Env looks up environment overrides; nil means os.LookupEnv.
	Env func(string) (string, bool)
}

// Instance is a running KMS.
type Instance struct {
	URL      string // https://127.0.0.1:port
	CAFile   string
	DemoFile string // <data-dir>/demo.json in demo mode, else ""
	DataDir  string

	// Basic is the Basic authenticator (tests read its PBKDF2 counter).
	Basic *authn.Basic

	cancel context.CancelFunc
	done   chan error
	db     *db.DB
	once   sync.Once
	err    error
}

// Shutdown stops serving (gracefully, bounded by ctx) and closes the database.
func (i *Instance) Shutdown(ctx context.Context) error {
	i.once.Do(func() {
		i.cancel()
		select {
		case err := <-i.done:
			i.err = err
		case <-ctx.Done():
			i.err = fmt.Errorf("kms shutdown: %w", ctx.Err())
		}
		if err := i.db.Close(); err != nil && i.err == nil {
			i.err = fmt.Errorf("close database: %w", err)
		}
	})
	return i.err
}

// ResolveConfig is the configuration Start runs with, validated: opts.Config
// (copied, never modified) or the config file (explicit path or the standard
// search paths) with the environment applied, then the overrides in opts
// (flags: listen, data dir, PBKDF2 iterations). Both --check-config and Start
// call it, so they accept and refuse the same things. It returns the config
// file used ("" for none).
func ResolveConfig(opts Options) (*Config, string, error) {
	cfg := &Config{}
	var used string
	if opts.Config != nil {
		*cfg = *opts.Config
	} else {
		var err error
		if used, err = config.Load("kms", opts.ConfigPath, cfg); err != nil {
			return nil, used, err
		}
		if err := config.ApplyEnvPrefix(cfg, envPrefix, opts.Env); err != nil {
			return nil, used, err
		}
	}
	if opts.Listen != "" {
		cfg.Listen = opts.Listen
	}
	if opts.DataDir != "" {
		cfg.DataDir = opts.DataDir
	}
	if opts.PBKDF2Iterations != 0 {
		cfg.Auth.PBKDF2Iterations = opts.PBKDF2Iterations
	}
	// Both at once, so the operator sees every problem in one go.
	if err := errors.Join(config.Validate(cfg), checkStart(cfg, opts)); err != nil {
		return nil, used, err
	}
	return cfg, used, nil
}

// Start starts a KMS and returns once it is listening and ready.
func Start(ctx context.Context, opts Options) (_ *Instance, err error) {
	if opts.ResetDemo {
		opts.Demo = true
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	cfg, cfgPath, err := ResolveConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	listen := firstOf(cfg.Listen, DefaultListen)
	dataDir := cfg.DataDir
	if dataDir == "" && opts.Demo {
		if dataDir, err = os.MkdirTemp("", "passthru-kms-"); err != nil {
			return nil, fmt.Errorf("create demo data dir: %w", err)
		}
	}
	if dataDir != "" {
		if dataDir, err = filepath.Abs(dataDir); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}

	dbOpts, err := databaseOptions(cfg, opts, dataDir)
	if err != nil {
		return nil, err
	}
	dbOpts.Logger = opts.Logger
	cert, caFile, err := serverCertificate(cfg, opts, dataDir)
	if err != nil {
		return nil, err
	}
	database, b, err := openBarrier(ctx, cfg, opts, dataDir, dbOpts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			database.Close()
		}
	}()
	svc, err := keys.New(ctx, keys.Options{DB: database, Barrier: b, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}

	hasher := password.Hasher{Iterations: cfg.Auth.PBKDF2Iterations}
	realmsFile, err := loadRealms(cfg, cfgPath, opts.Demo)
	if err != nil {
		return nil, err
	}
	roles, err := authn.NewRoles(realmsFile.Roles)
	if err != nil {
		return nil, fmt.Errorf("realms: %w", err)
	}
	users, err := authn.NewUserStore(ctx, database.Gorm(), authn.UserStoreOptions{
		Hasher: hasher, Roles: roles, Reserved: fileRealmUsernames(realmsFile),
	})
	if err != nil {
		return nil, err
	}
	_, realms, err := realmsFile.Build(hasher, users)
	if err != nil {
		return nil, fmt.Errorf("realms: %w", err)
	}
	if err := registerRealmTenants(ctx, svc, realmsFile); err != nil {
		return nil, err
	}
	creds, err := credential.New(credential.Options{Hasher: hasher, CacheTTL: cfg.Auth.CacheTTL})
	if err != nil {
		return nil, err
	}
	basic, err := authn.NewBasic(authn.BasicOptions{Realms: realms, Roles: roles, Verifier: creds, ChallengeRealm: "kms"})
	if err != nil {
		return nil, err
	}
	var dbRealms []string
	for _, rc := range realmsFile.RealmOrder() {
		if rc.Type == authn.RealmTypeDatabase {
			dbRealms = append(dbRealms, rc.Name)
		}
	}
	if len(dbRealms) == 0 {
		return nil, errors.New("realms: at least one database realm is required (for /api/v1/admin/realm-users)")
	}

	var seeded *demoSeed
	if opts.Demo {
		if seeded, err = seedDemo(ctx, svc, users, opts.ResetDemo); err != nil {
			return nil, fmt.Errorf("seed demo data: %w", err)
		}
	}

	canary, err := b.Wrap(ctx, uuid.Nil, "kms/readiness", []byte("ready"))
	if err != nil {
		return nil, fmt.Errorf("barrier self-check: %w", err)
	}
	handler, err := httpapi.New(ctx, httpapi.Options{
		Keys: svc, Users: users, UserRealms: dbRealms,
		Authenticators:  []authn.Authenticator{basic},
		ExtraChallenges: []string{authn.BearerChallenge("kms")},
		Logger:          opts.Logger,
		Readiness: []httpapi.ReadinessCheck{
			{Name: "database", Check: database.Ping},
			{Name: "barrier", Check: func(ctx context.Context) error {
				_, err := b.Unwrap(ctx, uuid.Nil, "kms/readiness", canary)
				return err
			}},
		},
	})
	if err != nil {
		return nil, err
	}
	handler = httpx.Chain(handler, httpx.RequestID, httpx.Recover(opts.Logger), httpx.AccessLog(opts.Logger))

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := httpx.NewServer(httpx.ServerOptions{
		Addr: listen, Handler: handler, TLS: tlsx.ServerConfig(cert, nil), Logger: opts.Logger,
		// The API enforces httpapi.MaxBodyBytes itself, with its problem code;
		// the transport limit is only the backstop.
		MaxBodyBytes: 2 * httpapi.MaxBodyBytes,
	})
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- httpx.Serve(serveCtx, srv, ln) }()

	inst := &Instance{
		URL: "https://" + ln.Addr().String(), CAFile: caFile, DataDir: dataDir, Basic: basic,
		cancel: cancel, done: done, db: database,
	}
	if seeded != nil {
		if inst.DemoFile, err = writeDemoFile(dataDir, inst, seeded); err != nil {
			_ = inst.Shutdown(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	printStartup(opts.Stdout, inst, cfgPath)
	opts.Logger.InfoContext(ctx, "kms listening", "url", inst.URL, "data_dir", dataDir, "demo", opts.Demo)
	return inst, nil
}

func printStartup(w io.Writer, inst *Instance, cfgPath string) {
	fmt.Fprintf(w, "Passthru KMS listening on %s\n", inst.URL)
	if cfgPath != "" {
		fmt.Fprintf(w, "  config:     %s\n", cfgPath)
	}
	if inst.DataDir != "" {
		fmt.Fprintf(w, "  data dir:   %s\n", inst.DataDir)
	}
	if inst.CAFile != "" {
		fmt.Fprintf(w, "  CA bundle:  %s\n", inst.CAFile)
	}
	if inst.DemoFile != "" {
		fmt.Fprintf(w, "  demo.json:  %s (demo tenants, users, passwords and keys)\n", inst.DemoFile)
		fmt.Fprintf(w, "  try:        curl --cacert %s -u %s:%s %s/api/v1/elastic-keys\n",
			inst.CAFile, DemoUsername(DemoUsers[0].Role, DemoTenantNames[0]), DemoUsers[0].Password, inst.URL)
	}
	fmt.Fprintf(w, "  Swagger UI: %s/ui/swagger/\n", inst.URL)
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func databaseOptions(cfg *Config, opts Options, dataDir string) (db.Options, error) {
	if opts.DB != nil {
		return *opts.DB, nil
	}
	switch cfg.Database.Driver {
	case "postgres":
		dsn, err := config.ReadSecret(cfg.Database.DSNFile)
		if err != nil {
			return db.Options{}, fmt.Errorf("database dsn: %w", err)
		}
		return db.Options{Driver: db.DriverPostgres, Namespace: "kms", DSN: string(dsn)}, nil
	default:
		// checkStart made sure of a data dir (demo mode makes a temp one).
		return db.Options{Driver: db.DriverSQLite, Namespace: "kms", Dir: filepath.Join(dataDir, "db")}, nil
	}
}

func serverCertificate(cfg *Config, opts Options, dataDir string) (tls.Certificate, string, error) {
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return tls.Certificate{}, "", fmt.Errorf("tls certificate: %w", err)
		}
		return cert, cfg.TLS.CAFile, nil
	}
	// Demo mode (checkStart refuses a start without a certificate otherwise).
	dir := opts.PKIDir
	if dir == "" {
		dir = filepath.Join(dataDir, "tls")
	}
	pki, err := tlsx.EnsureDemoPKI(dir, "kms")
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("demo PKI: %w", err)
	}
	return pki.Certificate, pki.CAFile, nil
}

// loadRealms reads realms.yml (configured, or beside the config file) or
// falls back to the default realms. Demo mode adds the database realm
// "demo" that holds the demo users.
func loadRealms(cfg *Config, cfgPath string, demo bool) (*authn.RealmsFile, error) {
	path := cfg.Auth.RealmsFile
	if path != "" && !filepath.IsAbs(path) && cfgPath != "" {
		path = filepath.Join(filepath.Dir(cfgPath), path)
	}
	if path == "" && cfgPath != "" {
		beside := filepath.Join(filepath.Dir(cfgPath), "realms.yml")
		if _, err := os.Stat(beside); err == nil {
			path = beside
		}
	}
	f := authn.DefaultRealmsFile()
	if path != "" {
		var err error
		if f, err = authn.LoadRealmsFile(path); err != nil {
			return nil, err
		}
	}
	if demo {
		has := false
		for _, r := range f.Realms {
			if r.Name == DemoRealm {
				has = r.Type == authn.RealmTypeDatabase
				if !has {
					return nil, fmt.Errorf("realms: realm %q is reserved for the demo users and must be a database realm", DemoRealm)
				}
			}
		}
		if !has {
			f.Realms = append(f.Realms, authn.RealmConfig{ID: DemoRealm, Name: DemoRealm, Type: authn.RealmTypeDatabase})
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

// registerRealmTenants registers the tenants that file-realm users belong
// to, so their keys have a database.
func registerRealmTenants(ctx context.Context, svc *keys.Service, f *authn.RealmsFile) error {
	for _, r := range f.Realms {
		for _, u := range r.Users {
			id, err := uuid.Parse(u.TenantID)
			if err != nil {
				return fmt.Errorf("realm %s user %s: tenant id: %w", r.Name, u.Username, err)
			}
			if _, err := svc.EnsureTenant(ctx, id, "tenant-"+id.String(), false); err != nil {
				return fmt.Errorf("register tenant %s: %w", id, err)
			}
		}
	}
	return nil
}

// fileRealmUsernames reports the usernames of the file realms, which
// database realm users may not take (a same-named user would shadow one of
// them, depending on the realm order).
func fileRealmUsernames(f *authn.RealmsFile) func(string) bool {
	names := map[string]bool{}
	for _, r := range f.Realms {
		if r.Type != authn.RealmTypeFile {
			continue
		}
		for _, u := range r.Users {
			names[u.Username] = true
		}
	}
	return func(username string) bool { return names[username] }
}
