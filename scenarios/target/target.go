// Package target describes one running Passthru service that a scenario
// drives over HTTPS: its base URL, an HTTP client that trusts only the
// service's CA, and the demo data from its demo.json. The demo binary builds
// targets from in-process services or from flags; scenario tests build them
// from testkit fixtures. Either way a scenario sees the same thing.
package target

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// DefaultHealthTimeout is how long a scenario waits for /readyz.
const DefaultHealthTimeout = 30 * time.Second

// Target is one service under test.
type Target struct {
	// Service is "kms" or "identity".
	Service string
	// BaseURL has no trailing slash, e.g. https://127.0.0.1:8081.
	BaseURL string
	// CAFile is the PEM bundle of the trust anchor (the demo root CA).
	CAFile string
	// Roots is CAFile parsed: the only roots HTTP trusts.
	Roots *x509.CertPool
	// DemoFile is the path of the demo.json the Demo data came from.
	DemoFile string
	// Demo holds the seeded tenants, users, keys and clients.
	Demo *demofile.File
	// HTTP is a TLS 1.3 client that trusts only Roots.
	HTTP *http.Client
	// HealthTimeout bounds the wait for /readyz (default 30s).
	HealthTimeout time.Duration
}

// Options build a Target. BaseURL and CAFile default to the demo file's
// base_url and ca_file, so a demo.json alone is enough.
type Options struct {
	Service       string
	BaseURL       string
	CAFile        string
	DemoFile      string
	HealthTimeout time.Duration
	// RequestTimeout bounds each HTTP exchange (default 15s).
	RequestTimeout time.Duration
}

// New reads the demo file and the CA bundle and returns a ready Target.
func New(opts Options) (*Target, error) {
	if opts.DemoFile == "" {
		return nil, fmt.Errorf("%s target: a demo file is required (it holds the demo credentials)", opts.Service)
	}
	demo, err := demofile.Read(opts.DemoFile)
	if err != nil {
		return nil, fmt.Errorf("%s target: %w", opts.Service, err)
	}
	if opts.Service != "" && demo.Service != opts.Service {
		return nil, fmt.Errorf("%s target: demo file %s describes service %q", opts.Service, opts.DemoFile, demo.Service)
	}
	base := opts.BaseURL
	if base == "" {
		base = demo.BaseURL
	}
	base = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s target: base URL %q: want https://host:port (TLS only)", opts.Service, base)
	}
	caFile := opts.CAFile
	if caFile == "" {
		caFile = demo.CAFile
	}
	roots, err := ReadRoots(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s target: %w", opts.Service, err)
	}
	health := opts.HealthTimeout
	if health <= 0 {
		health = DefaultHealthTimeout
	}
	reqTimeout := opts.RequestTimeout
	if reqTimeout <= 0 {
		reqTimeout = 15 * time.Second
	}
	return &Target{
		Service:       demo.Service,
		BaseURL:       base,
		CAFile:        caFile,
		Roots:         roots,
		DemoFile:      opts.DemoFile,
		Demo:          demo,
		HTTP:          NewHTTPClient(roots, reqTimeout),
		HealthTimeout: health,
	}, nil
}

// ReadRoots parses a PEM CA bundle into a pool.
func ReadRoots(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate", caFile)
	}
	return pool, nil
}

// NewHTTPClient returns a client that speaks TLS 1.3 and trusts only roots.
// It does not follow redirects: scenarios check each redirect themselves.
func NewHTTPClient(roots *x509.CertPool, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsx.ClientConfig(roots, nil)
	tr.Proxy = nil // loopback targets; an ambient proxy must not intercept
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// URL joins the base URL and a path starting with "/".
func (t *Target) URL(path string) string { return t.BaseURL + path }

// Tenant returns the i-th demo tenant (0-based) or an error naming the file.
func (t *Target) Tenant(i int) (*demofile.Tenant, error) {
	if i < 0 || i >= len(t.Demo.Tenants) {
		return nil, fmt.Errorf("demo file %s has %d tenant(s), need at least %d", t.DemoFile, len(t.Demo.Tenants), i+1)
	}
	return &t.Demo.Tenants[i], nil
}

// UserWithRole returns the first demo user of tenant t holding role. Demo
// usernames are the service's business (e.g. "writer@demo-tenant-a"); roles
// are what a scenario means.
func UserWithRole(t *demofile.Tenant, role string) (demofile.User, error) {
	for _, u := range t.Users {
		if slices.Contains(u.Roles, role) {
			return u, nil
		}
	}
	return demofile.User{}, fmt.Errorf("user with role %q in tenant %s: %w", role, t.Name, demofile.ErrNotFound)
}
