// Package serve is the runtime both Passthru services start through: it
// resolves the configuration, makes the data dir (a temporary one for a demo,
// removed again at shutdown), opens the database and unseals its barrier,
// loads the TLS certificate or the demo PKI, listens, wraps the service's
// handler in the one middleware chain (request id, access log, panic
// recovery, OpenTelemetry spans), answers /livez and /readyz from named
// checks, prints the start banner and shuts everything down in order.
//
// A service brings only its configuration and a Build function; how a
// process starts, serves, reports readiness and stops is written here once.
// The architecture is described in docs/architecture.md.
package serve

import (
	"context"
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

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Config is a service's configuration: its own keys beside the Settings it
// embeds (which provide Common and Validate).
type Config interface {
	Common() *Settings
}

// BuildFunc builds a service's HTTP handler once the runtime has opened the
// database, unsealed the barrier and started listening (env.URL is known).
// The checks join the runtime's own (database, barrier) in /readyz.
type BuildFunc func(ctx context.Context, env *Env) (http.Handler, []Check, error)

// Service is what a service brings to the runtime.
type Service struct {
	// Name is the short name: config file <name>.yml, environment prefix
	// PASSTHRU_<NAME>_, the demo PKI's leaf, the log and span attribute.
	Name string
	// Title is how the banner names the service ("Passthru KMS").
	Title string
	// About is the one-line description --help prints.
	About string
	// DefaultListen is the listen address when none is configured.
	DefaultListen string
	// Config holds the defaults; Resolve loads the config file and the
	// environment into it, then the flags. Build reads it.
	Config Config
	// CheckMode reports what the service refuses in the mode beyond the
	// runtime's rules (nil: nothing more).
	CheckMode func(demo bool) error
	Build     BuildFunc
	// MaxBodyBytes is the transport's request body limit (0: the httpx
	// default). A service that answers oversize bodies with its own error
	// code sets it above its own limit, and TooLarge to answer a declared
	// length over this limit with that same code (nil: httpx.PayloadTooLarge).
	MaxBodyBytes int64
	TooLarge     httpx.TooLargeFunc
}

// Options are how a service is started: the binary sets them from flags,
// tests and the demo in code.
type Options struct {
	ConfigPath string
	// ConfigLoaded says Service.Config is final: no config file or
	// environment is read (tests and embedders build it in code; Main after
	// its own check, with ConfigPath naming the file it read). The
	// overrides below still apply.
	ConfigLoaded bool
	Listen       string // overrides the config; "127.0.0.1:0" in tests
	// Listener, when set, is served instead of listening on Listen (an
	// inherited socket; tests that need to break the listener).
	Listener  net.Listener
	DataDir   string
	Demo      bool
	ResetDemo bool // implies Demo
	// DB overrides the configured database (tests: dbtest.Options).
	DB *db.Options
	// PKIDir is where the demo CA lives (default <data-dir>/tls). Services
	// started with the same PKIDir share one root, intermediate and issuing
	// CA, so one CA bundle reaches them all; each gets its own leaf
	// (<name>.pem), and demo client certificates go to <PKIDir>/clients.
	PKIDir string
	// PBKDF2Iterations overrides the configuration (0: keep it).
	PBKDF2Iterations int
	Logger           *slog.Logger // nil discards
	Stdout           io.Writer    // the start banner; nil discards
	// Env looks up environment overrides; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Now is the clock handed to the service and the barrier; nil: time.Now.
	Now func() time.Time
	// TracerProvider and MeterProvider receive the HTTP spans and metrics
	// (telemetry.New builds them); with both nil requests are not
	// instrumented at all.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Env is what Build gets: the opened resources and facts of the start.
type Env struct {
	Name       string
	ConfigFile string // the config file used, "" for none
	DataDir    string // absolute; a temporary one in a demo without --data-dir
	Demo       bool
	ResetDemo  bool
	DB         *db.DB
	Barrier    *barrier.Barrier
	Logger     *slog.Logger
	Now        func() time.Time
	// Hasher hashes new secrets with the configured PBKDF2 cost.
	Hasher password.Hasher
	URL    string         // https://host:port the service answers on
	CAFile string         // the CA bundle clients should trust
	Roots  *x509.CertPool // the same CA, parsed
	// DemoFile is set by Build when it wrote demo.json.
	DemoFile string
	// ClientAuth is the listener's client certificate policy (tls.client_auth:
	// none, optional or required); with optional or required, a request's
	// r.TLS.VerifiedChains holds the verified client certificate, if any.
	ClientAuth string
	// ClientCAFile is the bundle client certificates chain to (the
	// configured tls.client_ca_file, or the demo CA), "" without client auth.
	ClientCAFile string
	// TracerProvider and MeterProvider are Options', for the service's
	// outgoing HTTP clients (telemetry.Transport); nil when not set.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider

	pki *tlsx.ServerPKI // the demo PKI, nil with a configured certificate

	banner     [][2]string
	background []func(context.Context)
}

// ErrNoDemoCA is returned by IssueDemoClientCert when the service does not
// run on the generated demo CA (tls.cert_file is configured).
var ErrNoDemoCA = errors.New("no demo CA: the service runs on a configured certificate")

// IssueDemoClientCert issues an mTLS client certificate from the demo CA the
// service runs on and writes it under <pki-dir>/clients (see
// Options.PKIDir): <name>.pem and <name>-key.pem, <name>.p12 and its
// password in <name>.p12.password. name is a lowercase DNS label and the
// certificate's CN; uris and dns are its SANs (at least one). Services
// sharing a PKI dir share the clients dir, so the name should say whose
// client it is. Only a service on the demo CA can issue: a configured
// certificate's CA key is not ours to hold.
func (e *Env) IssueDemoClientCert(name string, uris, dns []string) (tlsx.ClientBundle, error) {
	return issueDemoClientCert(e.pki, name, uris, dns)
}

// IssueDemoClientCert is Env.IssueDemoClientCert for code holding the
// running instance (tests and the demo launcher).
func (i *Instance) IssueDemoClientCert(name string, uris, dns []string) (tlsx.ClientBundle, error) {
	return issueDemoClientCert(i.pki, name, uris, dns)
}

func issueDemoClientCert(pki *tlsx.ServerPKI, name string, uris, dns []string) (tlsx.ClientBundle, error) {
	if pki == nil {
		return tlsx.ClientBundle{}, fmt.Errorf("issue demo client certificate %q: %w", name, ErrNoDemoCA)
	}
	b, _, err := pki.IssueClientBundle(name, tlsx.ClientCertOptions{URIs: uris, DNSNames: dns})
	if err != nil {
		return tlsx.ClientBundle{}, fmt.Errorf("issue demo client certificate: %w", err)
	}
	return b, nil
}

// Banner adds a "label: value" line to the start banner.
func (e *Env) Banner(label, value string) { e.banner = append(e.banner, [2]string{label, value}) }

// Go runs fn while the service serves; its context ends at shutdown, which
// waits for fn to return.
func (e *Env) Go(fn func(ctx context.Context)) { e.background = append(e.background, fn) }

// StopTimeout bounds the graceful shutdown of Wait.
const StopTimeout = 15 * time.Second

// DemoSecretFile is the unseal secret a demo without unseal.secret_files
// keeps in its data dir.
const DemoSecretFile = "unseal.key"

// Instance is a running service.
type Instance struct {
	Name       string
	URL        string // https://127.0.0.1:port
	CAFile     string
	Roots      *x509.CertPool
	DataDir    string
	ConfigFile string
	DemoFile   string // <data-dir>/demo.json in demo mode, else ""

	pki      *tlsx.ServerPKI // the demo PKI, nil with a configured certificate
	cancel   context.CancelFunc
	done     chan struct{} // closed when serving stopped
	serveErr error         // set before done is closed
	bg       sync.WaitGroup
	closers  []func() error
	stopOnce sync.Once
	stopErr  error
}

// Done is closed when the service stopped serving: after Shutdown, or on its
// own after a serve error, which Err then returns.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Err is the serve error once Done is closed (nil before, and after a clean
// stop).
func (i *Instance) Err() error {
	select {
	case <-i.done:
		return i.serveErr
	default:
		return nil
	}
}

// Shutdown stops serving gracefully, stops the background tasks, closes the
// database and removes a temporary data dir. When ctx ends first the error
// says so, but the resources are still released only once serving has
// stopped (at most httpx.ShutdownTimeout later).
func (i *Instance) Shutdown(ctx context.Context) error {
	i.stopOnce.Do(func() {
		i.cancel()
		select {
		case <-i.done:
			i.stopErr = i.serveErr
		case <-ctx.Done():
			i.stopErr = fmt.Errorf("%s shutdown: %w", i.Name, ctx.Err())
			// Serving still ends (httpx.Serve cuts the connections left
			// after its own ShutdownTimeout); the database and the data dir
			// must not go away under requests still in flight.
			<-i.done
		}
		i.bg.Wait()
		if err := runClosers(i.closers); err != nil && i.stopErr == nil {
			i.stopErr = err
		}
	})
	return i.stopErr
}

// Wait serves until ctx ends or the server stops on its own, then shuts
// down (bounded by StopTimeout). A server that stopped without being asked
// is an error: nothing may wait forever on a signal for a server that no
// longer serves.
func (i *Instance) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case <-i.done:
		if err = i.serveErr; err == nil {
			err = fmt.Errorf("%s stopped serving", i.Name)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StopTimeout)
	defer cancel()
	if serr := i.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	return err
}

// runClosers releases resources in the reverse order of acquisition.
func runClosers(closers []func() error) error {
	var errs []error
	for k := len(closers) - 1; k >= 0; k-- {
		errs = append(errs, closers[k]())
	}
	return errors.Join(errs...)
}

// Resolve is the configuration Start runs with: svc.Config with the config
// file (explicit path or the standard search paths) and the environment
// loaded into it (unless opts.ConfigLoaded), then the overrides in opts,
// validated together with the mode's requirements. --check-config and Start
// both call it, so they accept and refuse the same things. It returns the
// config file used ("" for none).
func Resolve(svc *Service, opts Options) (string, error) {
	used := opts.ConfigPath // with ConfigLoaded: the file it came from, if any
	if !opts.ConfigLoaded {
		var err error
		if used, err = config.Load(svc.Name, opts.ConfigPath, svc.Config); err != nil {
			return used, err
		}
		if err := config.ApplyEnvPrefix(svc.Config, EnvPrefix(svc.Name), opts.Env); err != nil {
			return used, err
		}
	}
	s := svc.Config.Common()
	if opts.Listen != "" {
		s.Listen = opts.Listen
	}
	if s.Listen == "" {
		s.Listen = svc.DefaultListen
	}
	if opts.DataDir != "" {
		s.DataDir = opts.DataDir
	}
	if opts.PBKDF2Iterations != 0 {
		s.PBKDF2Iterations = opts.PBKDF2Iterations
	}
	if s.Log.Format == "" {
		s.Log.Format = "text"
	}
	demo := opts.Demo || opts.ResetDemo
	errs := []error{config.Validate(svc.Config), s.checkMode(demo, opts.DB != nil)}
	if svc.CheckMode != nil {
		errs = append(errs, svc.CheckMode(demo))
	}
	// All at once, so the operator sees every problem in one go.
	return used, errors.Join(errs...)
}

// Configure returns the configuration a service starts with and the options
// to start it with: a copy of cfg, marked as final (ConfigLoaded), or, when
// cfg is nil, the defaults, into which Start loads the config file and the
// environment. Tests and embedders pass cfg; binaries pass nil.
func Configure[C any](opts Options, cfg *C, defaults func() C) (*C, Options) {
	if cfg == nil {
		c := defaults()
		return &c, opts
	}
	c := *cfg
	opts.ConfigLoaded = true
	return &c, opts
}

// EnvPrefix is the environment variable prefix of a service: PASSTHRU_KMS.
func EnvPrefix(name string) string { return "PASSTHRU_" + strings.ToUpper(name) }

// Start starts svc and returns once it is listening and ready. On error,
// everything it made is released again (the temporary data dir included).
func Start(ctx context.Context, svc *Service, opts Options) (_ *Instance, err error) {
	if opts.ResetDemo {
		opts.Demo = true
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfgFile, err := Resolve(svc, opts)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := svc.Config.Common()

	var closers []func() error
	defer func() {
		if err != nil {
			_ = runClosers(closers)
		}
	}()
	dataDir, err := makeDataDir(s.DataDir, opts.Demo, svc.Name, &closers)
	if err != nil {
		return nil, err
	}

	// The certificate first: it is cheap to load and fails fast, before
	// anything touches the database.
	cert, err := serverCertificate(s.TLS, opts.PKIDir, dataDir, svc.Name)
	if err != nil {
		return nil, err
	}
	dbOpts, err := databaseOptions(svc.Name, s, opts, dataDir)
	if err != nil {
		return nil, err
	}
	database, bar, err := barrier.OpenDatabase(ctx, barrier.Startup{
		DB: dbOpts,
		Source: barrier.Source{
			SecretFiles: s.Unseal.SecretFiles, // empty only in demo mode (checkMode)
			DemoSecret:  filepath.Join(dataDir, DemoSecretFile),
			Threshold:   s.Unseal.Threshold,
			Now:         opts.Now,
		},
		ResetDemo: opts.ResetDemo,
		Wipeable:  opts.DB == nil && dbOpts.Driver == db.DriverSQLite && dbOpts.Dir == filepath.Join(dataDir, "db"),
		Logger:    opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, database.Close)

	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", s.Listen); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", s.Listen, err)
		}
	}
	listening := true
	closers = append(closers, func() error {
		if listening {
			return ln.Close()
		}
		return nil // Serve owns the listener now
	})

	env := &Env{
		Name: svc.Name, ConfigFile: cfgFile, DataDir: dataDir, Demo: opts.Demo, ResetDemo: opts.ResetDemo,
		DB: database, Barrier: bar, Logger: opts.Logger, Now: opts.Now,
		Hasher: password.Hasher{Iterations: s.PBKDF2Iterations},
		URL:    "https://" + urlHost(ln.Addr().(*net.TCPAddr)), CAFile: cert.caFile, Roots: cert.roots,
		ClientAuth: s.TLS.ClientAuth, ClientCAFile: cert.clientCAFile, pki: cert.pki,
		TracerProvider: opts.TracerProvider, MeterProvider: opts.MeterProvider,
	}
	if env.ClientAuth == "" {
		env.ClientAuth = config.ClientAuthNone
	}
	if s.TLS.ClientCertsRequested() {
		env.Banner("client auth", env.ClientAuth+", client CA "+env.ClientCAFile)
	}
	handler, checks, err := svc.Build(ctx, env)
	if err != nil {
		return nil, err
	}
	ready, err := runtimeChecks(ctx, database, bar)
	if err != nil {
		return nil, err
	}
	handler = Handler(svc.Name, handler, append(ready, checks...), opts)
	hs := httpx.NewServer(httpx.ServerOptions{
		Addr: ln.Addr().String(), Handler: handler, TLS: cert.config, Logger: opts.Logger, MaxBodyBytes: svc.MaxBodyBytes,
		TooLarge: svc.TooLarge,
	})

	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	inst := &Instance{
		Name: svc.Name, URL: env.URL, CAFile: env.CAFile, Roots: env.Roots, DataDir: dataDir,
		ConfigFile: cfgFile, DemoFile: env.DemoFile, pki: cert.pki, cancel: cancel, done: make(chan struct{}), closers: closers,
	}
	listening = false
	go func() {
		inst.serveErr = httpx.Serve(serveCtx, hs, ln)
		close(inst.done)
	}()
	for _, fn := range env.background {
		inst.bg.Go(func() { fn(serveCtx) })
	}
	printBanner(opts.Stdout, svc.Title, inst, env.banner)
	opts.Logger.InfoContext(ctx, svc.Name+" listening", "url", inst.URL, "data_dir", dataDir, "demo", opts.Demo)
	return inst, nil
}

// makeDataDir returns the absolute data dir, creating it. A demo without one
// gets a temporary dir that is removed at shutdown: it holds the unseal
// secret, the CA key and the database, which must not outlive the demo.
func makeDataDir(dir string, demo bool, name string, closers *[]func() error) (string, error) {
	if dir == "" {
		if !demo {
			return "", nil // PostgreSQL with a configured certificate needs none
		}
		tmp, err := os.MkdirTemp("", "passthru-"+name+"-")
		if err != nil {
			return "", fmt.Errorf("create demo data dir: %w", err)
		}
		*closers = append(*closers, func() error { return os.RemoveAll(tmp) })
		return tmp, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	return abs, nil
}

// databaseOptions chooses the database: explicit options (tests),
// PostgreSQL by the DSN in its secret file, or SQLite under the data dir.
// The service's name is its namespace there unless the options name one.
func databaseOptions(name string, s *Settings, opts Options, dataDir string) (db.Options, error) {
	var o db.Options
	switch {
	case opts.DB != nil:
		o = *opts.DB
	case s.Database.Driver == "postgres":
		dsn, err := config.ReadSecret(s.Database.DSNFile)
		if err != nil {
			return db.Options{}, fmt.Errorf("database.dsn_file: %w", err)
		}
		// A secret file usually ends in a newline, which is not part of
		// the DSN.
		o = db.Options{Driver: db.DriverPostgres, DSN: strings.TrimSpace(string(dsn))}
	default:
		// checkMode made sure of a data dir (a demo makes a temporary one).
		o = db.Options{Driver: db.DriverSQLite, Dir: filepath.Join(dataDir, "db")}
	}
	if o.Logger == nil {
		o.Logger = opts.Logger
	}
	if o.Namespace == "" {
		o.Namespace = name
	}
	return o, nil
}

func urlHost(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		return net.JoinHostPort("localhost", fmt.Sprint(a.Port))
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// printBanner tells the operator where things are.
func printBanner(w io.Writer, title string, inst *Instance, extra [][2]string) {
	lines := [][2]string{}
	if inst.ConfigFile != "" {
		lines = append(lines, [2]string{"config", inst.ConfigFile})
	}
	if inst.DataDir != "" {
		lines = append(lines, [2]string{"data dir", inst.DataDir})
	}
	lines = append(lines, [2]string{"CA bundle", inst.CAFile})
	lines = append(lines, extra...)
	fmt.Fprintf(w, "%s listening on %s\n", title, inst.URL)
	for _, l := range lines {
		fmt.Fprintf(w, "  %-11s %s\n", l[0]+":", l[1])
	}
}
