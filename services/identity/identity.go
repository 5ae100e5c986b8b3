// Package identity is the Passthru Identity provider: an OAuth 2.1
// authorization server and OpenID Connect provider (DESIGN.md §5). This
// package wires configuration, persistence, the barrier, signing keys, the
// HTTP endpoints and demo seeding; the binary in cmd/identity only calls Main.
package identity

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/passthru-dev/passthru/services/identity/admin"
	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Options start an Identity server (the contract shared with the KMS, the
// fixture and the demo binary).
type Options struct {
	ConfigPath string
	Listen     string // overrides the config; "127.0.0.1:0" in tests
	DataDir    string
	Demo       bool
	ResetDemo  bool
	// DB overrides the database chosen by configuration (tests: dbtest.Options).
	DB *db.Options
	// PKIDir is where the demo PKI lives (default <data-dir>/tls).
	PKIDir           string
	Logger           *slog.Logger
	PBKDF2Iterations int       // 0 = config or default 600000
	Stdout           io.Writer // startup information; nil = discard

	// Config, when set, replaces loading the YAML file (tests and embedding).
	Config *Config
	// Now is the clock for tokens, codes, sessions and key rotation.
	Now func() time.Time
}

// Instance is a running Identity server.
type Instance struct {
	URL      string // https://127.0.0.1:port
	Issuer   string // equals the discovery issuer
	CAFile   string
	DemoFile string // <data-dir>/demo.json, "" unless demo
	DataDir  string

	// Roots trusts the server certificate (the CA only).
	Roots *x509.CertPool

	oauth *oauth.Server

	cancel   context.CancelFunc
	done     chan struct{} // closed when serving stopped
	serveErr error         // set before done is closed
	closers  []func() error
	stopOnce sync.Once
	stopErr  error
}

// PasswordChecks counts the PBKDF2 verifications (real and dummy) the OAuth
// endpoints performed since start: for tests and benchmarks.
func (i *Instance) PasswordChecks() int64 { return i.oauth.PasswordChecks() }

// Shutdown stops serving, waits for in-flight requests and closes the database.
func (i *Instance) Shutdown(ctx context.Context) error {
	i.stopOnce.Do(func() {
		i.cancel()
		select {
		case <-i.done:
			i.stopErr = i.serveErr
		case <-ctx.Done():
			i.stopErr = ctx.Err()
		}
		for k := len(i.closers) - 1; k >= 0; k-- {
			if err := i.closers[k](); err != nil && i.stopErr == nil {
				i.stopErr = err
			}
		}
	})
	return i.stopErr
}

// Done is closed when the server stopped serving (after Shutdown, or on its
// own after a serve error, which Err returns).
func (i *Instance) Done() <-chan struct{} { return i.done }

// Err is the serve error once Done is closed.
func (i *Instance) Err() error {
	select {
	case <-i.done:
		return i.serveErr
	default:
		return nil
	}
}

// Start loads configuration, opens the database and barrier, seeds demo data
// when asked and serves HTTPS. It returns once the server accepts connections.
func Start(ctx context.Context, opts Options) (inst *Instance, err error) {
	if opts.ResetDemo {
		opts.Demo = true
	}
	cfg, cfgPath, err := resolveConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = io.Discard
	}

	var closers []func() error
	defer func() {
		if err != nil {
			for k := len(closers) - 1; k >= 0; k-- {
				_ = closers[k]()
			}
		}
	}()

	dataDir := cfg.DataDir
	if dataDir == "" && opts.Demo {
		// An ephemeral demo still needs a place for its CA and demo.json.
		tmp, err := os.MkdirTemp("", "passthru-identity-")
		if err != nil {
			return nil, fmt.Errorf("temp data dir: %w", err)
		}
		closers = append(closers, func() error { return os.RemoveAll(tmp) })
		dataDir = tmp
	}
	if dataDir != "" {
		if dataDir, err = filepath.Abs(dataDir); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}

	// Persistence by profile: explicit options, PostgreSQL by DSN, SQLite in
	// the data dir, or ephemeral for a demo without a data dir.
	var dbOpts db.Options
	switch {
	case opts.DB != nil:
		dbOpts = *opts.DB
	case cfg.Database.Driver == "postgres":
		dsn, err := config.ReadSecret(cfg.Database.DSNFile)
		if err != nil {
			return nil, fmt.Errorf("database.dsn_file: %w", err)
		}
		dbOpts = db.Options{Driver: db.DriverPostgres, Namespace: "identity", DSN: strings.TrimSpace(string(dsn))}
	case cfg.DataDir != "":
		dbOpts = db.Options{Driver: db.DriverSQLite, Namespace: "identity", Dir: filepath.Join(dataDir, "db")}
	default: // a demo without a data dir (checkStart refuses the rest)
		dbOpts = db.Options{Driver: db.DriverSQLite, Namespace: "identity", Dir: ""}
	}
	if dbOpts.Logger == nil {
		dbOpts.Logger = logger
	}
	database, bar, err := openBarrier(ctx, cfg, opts, dataDir, dbOpts, now, logger)
	if err != nil {
		return nil, err
	}
	closers = append(closers, database.Close)
	st, err := store.New(ctx, database)
	if err != nil {
		return nil, err
	}

	tlsCfg, caFile, roots, err := serverTLS(cfg, opts, dataDir)
	if err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	closeLn := func() error { return ln.Close() }
	closers = append(closers, func() error {
		if closeLn != nil {
			_ = closeLn()
		}
		return nil
	})
	baseURL := "https://" + urlHost(ln.Addr().(*net.TCPAddr))
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = baseURL
	}

	t := cfg.Tokens
	maxTTL := max(t.AccessTokenTTL, t.IDTokenTTL)
	keys, err := tokens.NewKeys(ctx, st, bar, tokens.KeyOptions{
		Algorithm: t.SigningAlgorithm, RotationPeriod: t.KeyRotationPeriod, PrePublish: t.KeyPrePublication,
		MaxTokenTTL: maxTTL, Now: now,
	})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	issuerTokens := &tokens.Issuer{Keys: keys, Issuer: issuer, Now: now}
	hasher := password.Hasher{Iterations: cfg.PBKDF2Iterations}
	csrfKey, err := oauth.LoadCSRFKey(ctx, st, bar)
	if err != nil {
		return nil, err
	}
	srv, err := oauth.New(oauth.Config{
		Issuer: issuer, Store: st, Tokens: issuerTokens, Hasher: hasher, Now: now, Logger: logger, CSRFKey: csrfKey,
		AccessTokenTTL: t.AccessTokenTTL, IDTokenTTL: t.IDTokenTTL, RefreshTokenTTL: t.RefreshTokenTTL,
		RefreshFamilyTTL: t.RefreshFamilyTTL, CodeTTL: t.CodeTTL, SessionTTL: t.SessionTTL,
	})
	if err != nil {
		return nil, err
	}
	adm := admin.New(admin.Config{Store: st, Auth: srv, Hasher: hasher, Logger: logger, Now: now})

	inst = &Instance{URL: baseURL, Issuer: issuer, CAFile: caFile, DataDir: dataDir, Roots: roots, oauth: srv}
	if opts.Demo {
		path, err := seedDemo(ctx, demoParams{
			store: st, hasher: hasher, issuer: issuer, baseURL: baseURL, caFile: caFile,
			dataDir: dataDir, reset: opts.ResetDemo, logger: logger,
		})
		if err != nil {
			return nil, err
		}
		inst.DemoFile = path
	}

	mux := http.NewServeMux()
	srv.Register(mux)
	adm.Register(mux)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		checks := map[string]string{"database": "ok", "signing_keys": "ok"}
		status := http.StatusOK
		if err := st.Ping(r.Context()); err != nil {
			checks["database"], status = "unreachable", http.StatusServiceUnavailable
		}
		if _, err := keys.Signer(r.Context()); err != nil {
			checks["signing_keys"], status = "unavailable", http.StatusServiceUnavailable
		}
		word := "ready"
		if status != http.StatusOK {
			word = "not ready"
		}
		httpx.WriteJSON(w, status, map[string]any{"status": word, "checks": checks})
	})
	handler := httpx.Chain(otelhttp.NewHandler(mux, "identity"), httpx.RequestID, httpx.AccessLog(logger), httpx.Recover(logger))
	hs := httpx.NewServer(httpx.ServerOptions{Addr: ln.Addr().String(), Handler: handler, TLS: tlsCfg, Logger: logger})

	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go purgeLoop(serveCtx, st, now, t.RefreshTokenTTL, logger)
	inst.cancel, inst.done, inst.closers = cancel, make(chan struct{}), closers
	closeLn = nil // Serve owns the listener now
	go func() {
		inst.serveErr = httpx.Serve(serveCtx, hs, ln)
		close(inst.done)
	}()

	printStartup(stdout, inst, cfgPath)
	logger.Info("identity started", "url", baseURL, "issuer", issuer)
	return inst, nil
}

// printStartup tells the operator where things are, in the KMS's style,
// with a command to paste.
func printStartup(w io.Writer, inst *Instance, cfgPath string) {
	discovery := inst.Issuer + "/.well-known/openid-configuration"
	fmt.Fprintf(w, "Passthru Identity listening on %s\n", inst.URL)
	if cfgPath != "" {
		fmt.Fprintf(w, "  config:     %s\n", cfgPath)
	}
	if inst.DataDir != "" {
		fmt.Fprintf(w, "  data dir:   %s\n", inst.DataDir)
	}
	fmt.Fprintf(w, "  issuer:     %s\n", inst.Issuer)
	fmt.Fprintf(w, "  CA bundle:  %s\n", inst.CAFile)
	if inst.DemoFile != "" {
		fmt.Fprintf(w, "  demo.json:  %s (demo tenants, users, passwords and clients)\n", inst.DemoFile)
	}
	fmt.Fprintf(w, "  try:        curl --cacert %s %s\n", inst.CAFile, discovery)
}

func urlHost(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		return net.JoinHostPort("localhost", fmt.Sprint(a.Port))
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// loadConfig returns the file configuration (or opts.Config) with the
// environment applied.
func loadConfig(opts Options) (Config, string, error) {
	if opts.Config != nil {
		return *opts.Config, "", nil
	}
	cfg := DefaultConfig()
	path, err := config.Load("identity", opts.ConfigPath, &cfg)
	if err != nil {
		return cfg, path, err
	}
	if err := config.ApplyEnvPrefix(&cfg, envPrefix, nil); err != nil {
		return cfg, path, err
	}
	return cfg, path, nil
}

// resolveConfig is the configuration Start runs with: the file (or
// opts.Config) with the environment and opts applied, validated, and checked
// against the mode. Main's --check-config calls it too, so both accept and
// refuse the same things.
func resolveConfig(opts Options) (Config, string, error) {
	cfg, path, err := loadConfig(opts)
	if err != nil {
		return cfg, path, err
	}
	applyOptions(&cfg, opts)
	// Both at once, so the operator sees every problem in one go.
	if err := errors.Join(config.Validate(&cfg), checkStart(&cfg, opts)); err != nil {
		return cfg, path, err
	}
	return cfg, path, nil
}

// applyOptions lets Options (flags, tests) override the configuration.
func applyOptions(cfg *Config, opts Options) {
	if opts.Listen != "" {
		cfg.Listen = opts.Listen
	}
	if opts.DataDir != "" {
		cfg.DataDir = opts.DataDir
	}
	if opts.PBKDF2Iterations != 0 {
		cfg.PBKDF2Iterations = opts.PBKDF2Iterations
	}
}

// serverTLS loads the configured certificate, or the demo PKI.
func serverTLS(cfg Config, opts Options, dataDir string) (*tls.Config, string, *x509.CertPool, error) {
	if cfg.TLS.CertFile != "" {
		certs, err := tlsx.ReadCertsPEM(cfg.TLS.CertFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		key, err := tlsx.ReadKeyPEM(cfg.TLS.KeyFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("tls.key_file: %w", err)
		}
		// Fail at startup, not at every handshake, when the files do not
		// belong together.
		if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(certs[0].PublicKey) {
			return nil, "", nil, errors.New("tls.key_file does not match the first certificate of tls.cert_file")
		}
		cas, err := tlsx.ReadCertsPEM(cfg.TLS.CAFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		cert := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
		for _, c := range certs {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		caFile, _ := filepath.Abs(cfg.TLS.CAFile)
		return tlsx.ServerConfig(cert, nil), caFile, pool, nil
	}
	dir := opts.PKIDir
	if dir == "" {
		if dataDir == "" {
			return nil, "", nil, errors.New("tls.cert_file is required without a data dir or --demo")
		}
		dir = filepath.Join(dataDir, "tls")
	}
	pki, err := tlsx.EnsureDemoPKI(dir, "identity")
	if err != nil {
		return nil, "", nil, fmt.Errorf("demo PKI: %w", err)
	}
	return tlsx.ServerConfig(pki.Certificate, nil), pki.CAFile, pki.Roots, nil
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
