// Package server runs the Passthru Identity provider, an OAuth 2.1
// authorization server and OpenID Connect provider. This
// package wires configuration, persistence, the barrier, signing keys, the
// HTTP endpoints and demo seeding on the shared runtime (services/infra/serve);
// the binary in cmd/identity only calls Main.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/passthru-dev/passthru/services/identity/admin"
	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
)

// Options start an Identity server: the runtime's options plus,
// optionally, the configuration built in code.
type Options struct {
	serve.Options
	// Config, when set, replaces loading the YAML file and the environment
	// (tests and embedding). It is copied, never modified.
	Config *Config
}

// Instance is a running Identity server.
type Instance struct {
	*serve.Instance
	Issuer string // equals the discovery issuer

	oauth *oauth.Server
}

// PasswordChecks counts the PBKDF2 verifications (real and dummy) the OAuth
// endpoints performed since start: for tests and benchmarks.
func (i *Instance) PasswordChecks() int64 { return i.oauth.PasswordChecks() }

// server is the Identity service as the runtime sees it: its configuration
// and what Build made of it.
type server struct {
	cfg    *Config
	issuer string
	oauth  *oauth.Server
}

// newServer returns the service for opts.Config (see serve.Configure) and
// the runtime options to start it with.
func newServer(opts Options) (*server, serve.Options) {
	cfg, o := serve.Configure(opts.Options, opts.Config, DefaultConfig)
	return &server{cfg: cfg}, o
}

func (s *server) service() *serve.Service {
	return &serve.Service{
		Name: "identity", Title: "Passthru Identity", About: "The Passthru Identity provider (OAuth 2.1 / OpenID Connect).",
		DefaultListen: DefaultListen, Config: s.cfg, Build: s.build, CheckMode: s.checkMode,
	}
}

// checkMode refuses the demo settings outside demo mode.
func (s *server) checkMode(demo bool) error {
	if !demo && (len(s.cfg.Demo.PasswordFiles) > 0 || len(s.cfg.Demo.ClientSecretFiles) > 0) {
		return errors.New("demo.password_files, demo.client_secret_files: apply in demo mode only")
	}
	return nil
}

// Start starts an Identity server and returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	s, o := newServer(opts)
	inst, err := serve.Start(ctx, s.service(), o)
	if err != nil {
		return nil, err
	}
	return &Instance{Instance: inst, Issuer: s.issuer, oauth: s.oauth}, nil
}

// resolveConfig is the configuration Start runs with (serve.Resolve) and the
// config file it read ("" for none).
func resolveConfig(opts Options) (Config, string, error) {
	s, o := newServer(opts)
	path, err := serve.Resolve(s.service(), o)
	return *s.cfg, path, err
}

// build makes the Identity provider's handler on the runtime's database and
// barrier: the store, signing keys, the OAuth/OIDC endpoints, the admin API
// and demo data.
func (s *server) build(ctx context.Context, env *serve.Env) (http.Handler, []serve.Check, error) {
	cfg := s.cfg
	st, err := store.New(ctx, env.DB)
	if err != nil {
		return nil, nil, err
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = env.URL
	}
	t := cfg.Tokens
	keys, err := tokens.NewKeys(ctx, st, env.Barrier, tokens.KeyOptions{
		Algorithm: t.SigningAlgorithm, RotationPeriod: t.KeyRotationPeriod, PrePublish: t.KeyPrePublication,
		MaxTokenTTL: max(t.AccessTokenTTL, t.IDTokenTTL), Now: env.Now,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	csrfKey, err := oauth.LoadCSRFKey(ctx, st, env.Barrier)
	if err != nil {
		return nil, nil, err
	}
	clientCerts := env.ClientAuth != "" && env.ClientAuth != config.ClientAuthNone
	srv, err := oauth.New(oauth.Config{
		Issuer: issuer, ClientCertificates: clientCerts, Store: st, Tokens: &tokens.Issuer{Keys: keys, Issuer: issuer, Now: env.Now},
		Hasher: env.Hasher, Now: env.Now, Logger: env.Logger, CSRFKey: csrfKey,
		AccessTokenTTL: t.AccessTokenTTL, IDTokenTTL: t.IDTokenTTL, RefreshTokenTTL: t.RefreshTokenTTL,
		RefreshFamilyTTL: t.RefreshFamilyTTL, CodeTTL: t.CodeTTL, SessionTTL: t.SessionTTL,
		ChangeCheckInterval: t.ChangeCheckInterval,
	})
	if err != nil {
		return nil, nil, err
	}
	adm := admin.New(admin.Config{Store: st, Auth: srv, Hasher: env.Hasher, Logger: env.Logger, Now: env.Now, ClientCertificates: clientCerts})

	if env.Demo {
		base := ""
		if env.ConfigFile != "" {
			base = filepath.Dir(env.ConfigFile)
		}
		passwords, err := config.ReadSecretFiles("demo.password_files", cfg.Demo.PasswordFiles, base)
		if err != nil {
			return nil, nil, err
		}
		secrets, err := config.ReadSecretFiles("demo.client_secret_files", cfg.Demo.ClientSecretFiles, base)
		if err != nil {
			return nil, nil, err
		}
		env.DemoFile, err = seedDemo(ctx, demoParams{
			store: st, hasher: env.Hasher, issuer: issuer, baseURL: env.URL, caFile: env.CAFile,
			dataDir: env.DataDir, reset: env.ResetDemo, logger: env.Logger,
			passwords: passwords, clientSecrets: secrets,
		})
		if err != nil {
			return nil, nil, err
		}
		env.Banner("demo.json", env.DemoFile+" (demo tenants, users, passwords and clients)")
	}
	env.Banner("issuer", issuer)
	env.Banner("try", fmt.Sprintf("curl --cacert %s %s/.well-known/openid-configuration", env.CAFile, issuer))
	env.Go(func(ctx context.Context) { purgeLoop(ctx, st, env.Now, t.RefreshTokenTTL, env.Logger) })

	mux := http.NewServeMux()
	srv.Register(mux)
	adm.Register(mux)
	checks := []serve.Check{{Name: "signing_keys", Check: func(ctx context.Context) error {
		_, err := keys.Signer(ctx)
		return err
	}}}
	s.issuer, s.oauth = issuer, srv
	return mux, checks, nil
}

// purgeInterval is how often expired sessions, requests and token records
// are deleted.
const purgeInterval = 10 * time.Minute

// purgeLoop keeps the database from growing with state nobody can use any
// more. Failures are logged and retried at the next tick.
func purgeLoop(ctx context.Context, st *store.Store, now func() time.Time, keepCodes time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(purgeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := st.PurgeExpired(ctx, now(), keepCodes); err != nil && ctx.Err() == nil {
				logger.Warn("purge expired state", "error", err)
			}
		}
	}
}

// Main is the binary: serve.Main with the defaults, until SIGINT or SIGTERM.
func Main(args []string, stdout, stderr io.Writer) int {
	s, _ := newServer(Options{})
	return serve.Main(s.service(), args, stdout, stderr)
}
