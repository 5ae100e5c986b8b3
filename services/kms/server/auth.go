package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/bearer"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/introspect"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// trust is what the KMS accepts bearer tokens with: the verifier of the
// configured issuers, their revocation checkers and the tenant mapping.
type trust struct {
	issuers  []IssuerConfig
	verifier *bearer.Verifier
	checkers map[string]*introspect.Checker // by issuer
	auth     *bearer.Authenticator
}

// demoTrust is the issuer a demo KMS trusts when it runs beside an
// Identity demo (demo.identity_file) and no issuer is configured: that
// provider, its CA, and its demo resource-server client of each tenant for
// introspection, with a short revocation bound so the demo can show it.
func demoTrust(f *demofile.File, interval time.Duration) (IssuerConfig, error) {
	if f.Issuer == "" || f.CAFile == "" {
		return IssuerConfig{}, errors.New("demo.identity_file: the file names no issuer or CA bundle")
	}
	if interval == 0 {
		interval = DefaultDemoRevocation
	}
	is := IssuerConfig{
		Issuer: f.Issuer, CAFile: f.CAFile, Audiences: []string{DefaultAudience},
		Revocation: RevocationConfig{Mode: RevocationSensitive, Interval: interval},
	}
	for _, t := range f.Tenants {
		rs, err := t.ClientOfKind(demofile.KindResourceServer)
		if err != nil {
			return IssuerConfig{}, fmt.Errorf("demo.identity_file: tenant %s: %w", t.Name, err)
		}
		is.Revocation.Clients = append(is.Revocation.Clients, IntrospectionClient{TenantID: t.ID, ClientID: rs.ClientID, secret: rs.ClientSecret})
	}
	return is, nil
}

// newTrust builds the bearer authenticator of issuers. expand turns granted
// scopes into the principal's; registered tells whether a KMS tenant exists.
func newTrust(issuers []IssuerConfig, rules []TenantRule, devMode bool, expand func([]string) []string,
	registered func(context.Context, uuid.UUID) (bool, error), baseDir string, env *serve.Env,
) (*trust, error) {
	now, logger := env.Now, env.Logger
	t := &trust{issuers: issuers, checkers: map[string]*introspect.Checker{}}
	var cfgs []bearer.IssuerConfig
	var maxAge time.Duration
	for i, is := range issuers {
		roots, err := readPool(resolvePath(baseDir, is.CAFile))
		if err != nil {
			return nil, fmt.Errorf("auth.issuers[%d].ca_file: %w", i, err)
		}
		auds := is.Audiences
		if len(auds) == 0 {
			auds = []string{DefaultAudience}
		}
		cfgs = append(cfgs, bearer.IssuerConfig{
			Issuer: is.Issuer, JWKSURI: is.JWKSURI, Audiences: auds, Algorithms: is.Algorithms, Roots: roots,
			Leeway: is.Leeway, DevMode: devMode, JWKSCacheTTL: is.JWKSCacheTTL,
		})
		if rv := is.Revocation; rv.mode() != RevocationNone {
			interval := rv.interval()
			if maxAge == 0 || interval < maxAge {
				maxAge = interval
			}
		}
	}
	v, err := bearer.NewVerifier(bearer.Options{Issuers: cfgs, CacheMaxAge: maxAge, Now: now, Logger: logger,
		TracerProvider: env.TracerProvider, MeterProvider: env.MeterProvider})
	if err != nil {
		return nil, fmt.Errorf("auth.issuers: %w", err)
	}
	t.verifier = v
	revokers := map[string]bearer.Revoker{}
	for i, is := range issuers {
		rv := is.Revocation
		if rv.mode() == RevocationNone {
			continue
		}
		c, err := newChecker(v, is, cfgs[i], baseDir, env)
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("auth.issuers[%d].revocation: %w", i, err)
		}
		t.checkers[is.Issuer] = c
		revokers[is.Issuer] = revoker{c}
	}
	mapped, err := tenantRules(rules)
	if err != nil {
		v.Close()
		return nil, err
	}
	mapper, err := bearer.NewTenantMapper(mapped)
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("auth.tenant_mapping: %w", err)
	}
	t.auth, err = bearer.NewAuthenticator(bearer.AuthenticatorOptions{
		Verifier: v, Tenants: mapper, Registered: registered, ParseScope: scope.Parse, Scopes: expand,
		Revokers: revokers, Realm: "kms",
	})
	if err != nil {
		v.Close()
		return nil, err
	}
	return t, nil
}

// tenantRules converts the configured rules (Config.Validate has checked
// their tenant ids; a bad one is still an error here, never a panic).
func tenantRules(rules []TenantRule) ([]bearer.TenantRule, error) {
	out := make([]bearer.TenantRule, 0, len(rules))
	for i, r := range rules {
		br := bearer.TenantRule{Issuer: r.Issuer, Claim: r.Claim, Priority: r.Priority}
		if r.Tenant != "" {
			id, err := uuid.Parse(r.Tenant)
			if err != nil {
				return nil, fmt.Errorf("auth.tenant_mapping[%d].tenant: %w", i, err)
			}
			br.Tenant = id
		}
		if len(r.Values) > 0 {
			br.Values = make(map[string]uuid.UUID, len(r.Values))
			for k, val := range r.Values {
				id, err := uuid.Parse(val)
				if err != nil {
					return nil, fmt.Errorf("auth.tenant_mapping[%d].values[%q]: %w", i, k, err)
				}
				br.Values[k] = id
			}
		}
		out = append(out, br)
	}
	return out, nil
}

func (rv RevocationConfig) interval() time.Duration {
	if rv.Interval > 0 {
		return rv.Interval
	}
	return DefaultRevocationInterval
}

func newChecker(v *bearer.Verifier, is IssuerConfig, bc bearer.IssuerConfig, baseDir string, env *serve.Env) (*introspect.Checker, error) {
	rv := is.Revocation
	mode, err := introspect.ParseMode(rv.mode())
	if err != nil {
		return nil, err
	}
	type cred struct{ id, secret string }
	creds := map[string]cred{}
	for j, c := range rv.Clients {
		secret := c.secret
		if c.ClientSecretFile != "" {
			raw, err := os.ReadFile(resolvePath(baseDir, c.ClientSecretFile))
			if err != nil {
				return nil, fmt.Errorf("clients[%d].client_secret_file: %w", j, err)
			}
			secret = strings.TrimSpace(string(raw))
		}
		id, _ := uuid.Parse(c.TenantID) // checked by Config.Validate; the canonical form is the key
		creds[id.String()] = cred{c.ClientID, secret}
	}
	var clientCert *tls.Certificate
	if rv.Method == introspect.MethodTLSClientAuth {
		pair, err := tls.LoadX509KeyPair(resolvePath(baseDir, rv.CertFile), resolvePath(baseDir, rv.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		clientCert = &pair
	}
	issuer := is.Issuer
	return introspect.New(introspect.Options{
		Mode: mode, Interval: rv.interval(), Method: rv.Method,
		Resolve: func(ctx context.Context) (string, string, error) {
			md, err := v.Metadata(ctx, issuer)
			if err != nil {
				return "", "", err
			}
			if md.IntrospectionEndpoint == "" {
				return "", "", fmt.Errorf("issuer %s advertises no introspection_endpoint", issuer)
			}
			return md.IntrospectionEndpoint, md.IntrospectionBatchEndpoint, nil
		},
		Credentials: func(tenantID string) (string, string, bool) {
			c, ok := creds[tenantID]
			return c.id, c.secret, ok
		},
		Roots: bc.Roots, ClientCert: clientCert, Now: env.Now, Logger: env.Logger,
		TracerProvider: env.TracerProvider, MeterProvider: env.MeterProvider,
	})
}

// revoker adapts an introspection checker to the bearer authenticator,
// reusing the hash the verifier already took of the token.
type revoker struct{ c *introspect.Checker }

func (r revoker) Active(ctx context.Context, raw string, tok *bearer.Token, sensitive bool) error {
	return r.c.CheckHashed(ctx, raw, tok.Hash, tok.Claims, sensitive)
}

// tenantCache answers "is this KMS tenant registered" for the bearer
// authenticator without a database round trip per request. Tenants are
// registered rarely and deleted more rarely still: a known tenant is
// remembered for registeredTTL, an unknown one for unknownTTL (so a tenant
// registered a moment ago is found soon), and at most tenantCacheSize
// answers are kept.
type tenantCache struct {
	svc *keys.Service
	now func() time.Time

	mu      sync.Mutex
	answers map[uuid.UUID]tenantAnswer
}

type tenantAnswer struct {
	registered bool
	until      time.Time
}

const (
	registeredTTL   = time.Minute
	unknownTTL      = 5 * time.Second
	tenantCacheSize = 10000
)

func (c *tenantCache) registered(ctx context.Context, id uuid.UUID) (bool, error) {
	now := c.now()
	c.mu.Lock()
	a, ok := c.answers[id]
	c.mu.Unlock()
	if ok && now.Before(a.until) {
		return a.registered, nil
	}
	_, err := c.svc.Tenant(ctx, id)
	switch {
	case err == nil:
		a = tenantAnswer{registered: true, until: now.Add(registeredTTL)}
	case kms.Is(err, kms.NotFound):
		a = tenantAnswer{registered: false, until: now.Add(unknownTTL)}
	default:
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.answers) >= tenantCacheSize {
		for k, old := range c.answers {
			if !now.Before(old.until) {
				delete(c.answers, k)
			}
		}
		if len(c.answers) >= tenantCacheSize {
			clear(c.answers) // all fresh: start over rather than grow
		}
	}
	c.answers[id] = a
	return a.registered, nil
}

// hierarchy is the configured scope hierarchy, or the default one.
func (c *Config) hierarchy() (*scope.Hierarchy, error) {
	if c.Auth.Scopes == nil {
		return scope.Default(), nil
	}
	return scope.NewHierarchy(c.Auth.Scopes)
}

// authenticatorOrder is auth.authenticators, or the default order of the
// ones that are configured: certificates first (a TLS-level identity cannot
// be presented by accident), then API keys, tokens and passwords.
func authenticatorOrder(c *Config, bearerOn, certsOn bool) []string {
	if len(c.Auth.Authenticators) > 0 {
		return c.Auth.Authenticators
	}
	var out []string
	if certsOn {
		out = append(out, AuthMTLS)
	}
	out = append(out, AuthAPIKey)
	if bearerOn {
		out = append(out, AuthBearer)
	}
	return append(out, AuthBasic)
}

func readPool(path string) (*x509.CertPool, error) {
	certs, err := tlsx.ReadCertsPEM(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// resolvePath makes a relative path in the config file relative to the
// directory of that file.
func resolvePath(baseDir, p string) string {
	if p == "" || filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}
