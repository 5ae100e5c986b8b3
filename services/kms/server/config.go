package server

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// DefaultListen is where the KMS listens unless told otherwise.
const DefaultListen = "127.0.0.1:8081"

// Config is the KMS configuration file (kms.yml): the keys every service has
// (listen, data_dir, database, tls, unseal, log, pbkdf2_iterations) and the
// KMS's own. Secrets are never in it: `*_file` keys name the files holding
// them.
type Config struct {
	serve.Settings `yaml:",inline"`
	Auth           AuthConfig `yaml:"auth"`
	Keys           KeysConfig `yaml:"keys"`
	Demo           DemoConfig `yaml:"demo"`
}

// KeysConfig bounds the key cache and the audit queue of the key service
// (zero: the defaults of keys.CacheOptions and keys.Options).
type KeysConfig struct {
	// CacheMaxKeys is how many elastic keys (with their unwrapped
	// material) are cached over all tenants.
	CacheMaxKeys int `yaml:"cache_max_keys"`
	// CacheMaxAge is how long a cached key is used before it is read again.
	CacheMaxAge time.Duration `yaml:"cache_max_age"`
	// GenerationRefresh bounds how long another replica's key change takes
	// to be seen here.
	GenerationRefresh time.Duration `yaml:"generation_refresh"`
	// AuditQueue is how many audit events of one tenant may wait to be
	// written; each tenant has its own queue and writer.
	AuditQueue int `yaml:"audit_queue"`
}

// Authenticator names, as listed in auth.authenticators.
const (
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthAPIKey = "api_key"
	AuthMTLS   = "mtls"
)

// AuthConfig configures who may call the KMS and how.
type AuthConfig struct {
	// RealmsFile is the realms file (relative paths: to the config file).
	// It is read only when set: a realms.yml beside the config file is not
	// picked up. Unset: one database realm "local" with the default roles.
	// A file user's tenant_id must name a registered tenant unless its
	// entry says create_tenant: true (then the tenant is created).
	RealmsFile string `yaml:"realms_file"`
	// CacheTTL is how long a verified Basic credential is remembered after
	// its last use (default 5m).
	CacheTTL time.Duration `yaml:"cache_ttl" env:"PASSTHRU_KMS_AUTH_CACHE_TTL"`

	// Basic credential and principal caching: see "Credential and principal
	// caching" in the KMS README.
	//
	// CacheMaxAge is how long a busy Basic credential is answered without a
	// new PBKDF2 check; it is re-verified in the background before (default 1h).
	CacheMaxAge time.Duration `yaml:"cache_max_age" env:"PASSTHRU_KMS_AUTH_CACHE_MAX_AGE"`
	// UserFreshness bounds how long a change to a realm user made by another
	// replica goes unseen by this one's Basic cache (default 5s).
	UserFreshness time.Duration `yaml:"user_freshness" env:"PASSTHRU_KMS_AUTH_USER_FRESHNESS"`

	// Authenticators are tried in this order; the first that recognises a
	// request's credentials decides. Default: mtls (when mtls rules are
	// configured), api_key, bearer (when issuers are configured), basic.
	Authenticators []string `yaml:"authenticators"`
	// Scopes replaces the coarse-to-fine scope hierarchy: what each coarse
	// scope grants directly (default: kms:admin, kms:write and kms:read as
	// documented in the README).
	Scopes map[string][]string `yaml:"scopes"`
	// Issuers are the token issuers the KMS trusts for bearer tokens.
	Issuers []IssuerConfig `yaml:"issuers"`
	// TenantMapping maps a token to a KMS tenant; a lone issuer without
	// rules has its tenant_id claim taken as the KMS tenant id, and with
	// several issuers each needs rules.
	TenantMapping []TenantRule `yaml:"tenant_mapping"`
	// MTLS maps client certificates to principals; it needs
	// tls.client_auth optional or required.
	MTLS []CertRule `yaml:"mtls"`
	// DevMode allows a token clock leeway above 30s (up to 5m), for
	// development machines whose clocks drift. Never set it in production.
	DevMode bool `yaml:"dev_mode"`
}

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact iss of its tokens (and of its metadata).
	Issuer string `yaml:"issuer"`
	// JWKSURI, when set, is used instead of discovering jwks_uri from the
	// issuer's metadata.
	JWKSURI string `yaml:"jwks_uri"`
	// Audiences: a token's aud must contain one of them (default: kms).
	Audiences []string `yaml:"audiences"`
	// CAFile is the CA bundle the issuer's TLS certificate is verified against.
	CAFile string `yaml:"ca_file"`
	// Algorithms allowed for its tokens (default ES256).
	Algorithms []string `yaml:"algorithms"`
	// Leeway on exp, nbf and iat (default 30s; above only with dev_mode, at most 5m).
	Leeway time.Duration `yaml:"leeway"`
	// JWKSCacheTTL is how long its signing keys are kept before a refetch (default 5m).
	JWKSCacheTTL time.Duration    `yaml:"jwks_cache_ttl"`
	Revocation   RevocationConfig `yaml:"revocation"`
}

// Revocation modes (see the README's "Integrating with the KMS").
const (
	RevocationNone         = "none"
	RevocationInterval     = "interval"
	RevocationSensitive    = "sensitive"
	RevocationEveryRequest = "every-request"
)

// RevocationConfig says how the KMS learns that a token was revoked:
// through the issuer's introspection endpoint, as often as Mode says.
type RevocationConfig struct {
	// Mode: none, interval, sensitive (default) or every-request.
	Mode string `yaml:"mode"`
	// Interval is the staleness bound of interval mode, and of the
	// non-sensitive requests in sensitive mode (default 30s).
	Interval time.Duration `yaml:"interval"`
	// Method is how the KMS authenticates to introspection:
	// client_secret_basic (default) or tls_client_auth.
	Method string `yaml:"method"`
	// CertFile and KeyFile are the client certificate of tls_client_auth.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Clients are the KMS's introspection clients at the issuer, one per
	// issuer tenant: an issuer lets a resource server introspect the tokens
	// of the tenant it is registered in only.
	Clients []IntrospectionClient `yaml:"clients"`
}

func (rv *RevocationConfig) mode() string {
	if rv.Mode == "" {
		return RevocationSensitive
	}
	return rv.Mode
}

// IntrospectionClient is the KMS's resource-server client in one tenant of
// an issuer.
type IntrospectionClient struct {
	// TenantID is the issuer's tenant (the tokens' tenant_id claim).
	TenantID string `yaml:"tenant_id"`
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the secret (client_secret_basic only).
	ClientSecretFile string `yaml:"client_secret_file"`

	secret string // demo clients come with their secret from demo.json
}

// TenantRule maps tokens of an issuer to a KMS tenant. Rules are tried by
// descending priority; the first that matches decides.
type TenantRule struct {
	Issuer string `yaml:"issuer"`
	// Claim names the claim whose value is looked up in Values (default
	// tenant_id). With no Values, the claim's value is the KMS tenant id.
	Claim  string            `yaml:"claim"`
	Values map[string]string `yaml:"values"`
	// Tenant maps every token of the issuer to this KMS tenant.
	Tenant   string `yaml:"tenant"`
	Priority int    `yaml:"priority"`
}

// CertRule maps a client certificate, by its URI or DNS subject alternative
// name, to a principal.
type CertRule struct {
	URI      string   `yaml:"uri"`
	DNS      string   `yaml:"dns"`
	TenantID string   `yaml:"tenant_id"`
	Subject  string   `yaml:"subject"`
	Roles    []string `yaml:"roles"`
}

// DemoConfig configures demo mode.
type DemoConfig struct {
	// IdentityFile is the demo.json of an Identity provider in demo mode.
	// When set, the KMS's demo tenants take the ids of Identity's demo
	// tenants of the same names, and, unless auth.issuers is configured,
	// the KMS trusts that provider's tokens with its demo resource-server
	// clients for introspection: the two demos become one system.
	IdentityFile string `yaml:"identity_file" env:"PASSTHRU_KMS_DEMO_IDENTITY_FILE"`
	// RevocationInterval is the staleness bound the demo trust uses
	// (default 2s, short so that the demo can show a revocation).
	RevocationInterval time.Duration `yaml:"revocation_interval"`
	// PasswordFiles gives demo users their passwords from files, by role
	// (admin, writer, reader), e.g. Docker secrets; a role not listed keeps
	// its documented password. A kept demo user keeps the password it was
	// created with.
	PasswordFiles map[string]string `yaml:"password_files" secret:"true"`
}

// Defaults the code falls back to.
const (
	DefaultAudience           = "kms"
	DefaultRevocationInterval = 30 * time.Second
	DefaultDemoRevocation     = 2 * time.Second
	// maxLeeway and maxDevLeeway bound the clock leeway on token times.
	maxLeeway    = 30 * time.Second
	maxDevLeeway = 5 * time.Minute
)

// DefaultConfig returns the defaults a config file and flags override.
func DefaultConfig() Config {
	return Config{Settings: serve.Settings{Listen: DefaultListen}}
}

// Validate checks the KMS's own keys. config.Validate (which Start runs)
// also walks the embedded serve.Settings, which checks the shared ones.
func (c *Config) Validate() error {
	var errs []error
	a := &c.Auth
	if a.CacheTTL < 0 {
		errs = append(errs, errors.New("auth.cache_ttl: must not be negative"))
	}
	if a.CacheMaxAge < 0 {
		errs = append(errs, errors.New("auth.cache_max_age: must not be negative"))
	}
	if a.UserFreshness < 0 {
		errs = append(errs, errors.New("auth.user_freshness: must not be negative"))
	}
	seen := map[string]bool{}
	for i, name := range a.Authenticators {
		switch name {
		case AuthBasic, AuthBearer, AuthAPIKey, AuthMTLS:
		default:
			errs = append(errs, fmt.Errorf("auth.authenticators[%d]: %q, want basic, bearer, api_key or mtls", i, name))
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("auth.authenticators[%d]: %q is listed twice", i, name))
		}
		seen[name] = true
	}
	if seen[AuthBearer] && len(a.Issuers) == 0 && c.Demo.IdentityFile == "" {
		errs = append(errs, errors.New("auth.authenticators: bearer needs at least one entry in auth.issuers"))
	}
	if seen[AuthMTLS] && len(a.MTLS) == 0 {
		errs = append(errs, errors.New("auth.authenticators: mtls needs at least one entry in auth.mtls"))
	}
	if a.Scopes != nil {
		if _, err := scope.NewHierarchy(a.Scopes); err != nil {
			errs = append(errs, fmt.Errorf("auth.scopes: %w", err))
		}
	}
	issuers := map[string]bool{}
	for i := range a.Issuers {
		is := &a.Issuers[i]
		if issuers[is.Issuer] {
			errs = append(errs, fmt.Errorf("auth.issuers[%d].issuer: %q is listed twice", i, is.Issuer))
		}
		issuers[is.Issuer] = true
		if err := is.validate(a.DevMode); err != nil {
			errs = append(errs, fmt.Errorf("auth.issuers[%d]: %w", i, err))
		}
	}
	mapped := map[string]bool{}
	for i, r := range a.TenantMapping {
		if err := r.validate(issuers); err != nil {
			errs = append(errs, fmt.Errorf("auth.tenant_mapping[%d]: %w", i, err))
		}
		mapped[r.Issuer] = true
	}
	if len(a.Issuers) > 1 {
		// Without rules a token's tenant_id names the KMS tenant: fine for
		// one issuer, but with several it would let any of them mint
		// tokens for every tenant. Each must say which tenants are its own.
		for i, is := range a.Issuers {
			if !mapped[is.Issuer] {
				errs = append(errs, fmt.Errorf("auth.issuers[%d]: with several issuers each needs a tenant_mapping rule (%s has none)", i, is.Issuer))
			}
		}
	}
	for i, r := range a.MTLS {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("auth.mtls[%d]: %w", i, err))
		}
	}
	if c.Demo.RevocationInterval < 0 {
		errs = append(errs, errors.New("demo.revocation_interval: must not be negative"))
	}
	roles := make([]string, 0, len(DemoUsers))
	for _, u := range DemoUsers {
		roles = append(roles, u.Role)
	}
	errs = append(errs, config.CheckSecretFiles("demo.password_files", c.Demo.PasswordFiles, "demo role", roles)...)
	k := &c.Keys
	if k.CacheMaxKeys < 0 || k.CacheMaxAge < 0 || k.GenerationRefresh < 0 || k.AuditQueue < 0 {
		errs = append(errs, errors.New("keys: cache_max_keys, cache_max_age, generation_refresh and audit_queue must not be negative"))
	}
	return errors.Join(errs...)
}

func (is *IssuerConfig) validate(devMode bool) error {
	var errs []error
	if err := httpsURL(is.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if is.JWKSURI != "" {
		if err := httpsURL(is.JWKSURI); err != nil {
			errs = append(errs, fmt.Errorf("jwks_uri: %w", err))
		}
	}
	if is.CAFile == "" {
		errs = append(errs, errors.New("ca_file: required (the issuer's TLS certificate is verified against it)"))
	}
	for j, aud := range is.Audiences {
		if aud == "" {
			errs = append(errs, fmt.Errorf("audiences[%d]: empty", j))
		}
	}
	for j, alg := range is.Algorithms {
		if !slices.Contains(allowedAlgorithms, alg) {
			errs = append(errs, fmt.Errorf("algorithms[%d]: %q, want one of %v (never none or an HMAC algorithm)", j, alg, allowedAlgorithms))
		}
	}
	switch {
	case is.Leeway < 0:
		errs = append(errs, errors.New("leeway: must not be negative"))
	case is.Leeway > maxDevLeeway:
		errs = append(errs, fmt.Errorf("leeway: %s, at most %s", is.Leeway, maxDevLeeway))
	case is.Leeway > maxLeeway && !devMode:
		errs = append(errs, fmt.Errorf("leeway: %s is above %s, allowed only with auth.dev_mode", is.Leeway, maxLeeway))
	}
	if is.JWKSCacheTTL < 0 {
		errs = append(errs, errors.New("jwks_cache_ttl: must not be negative"))
	}
	rv := &is.Revocation
	switch rv.Mode {
	case "", RevocationNone, RevocationInterval, RevocationSensitive, RevocationEveryRequest:
	default:
		errs = append(errs, fmt.Errorf("revocation.mode: %q, want none, interval, sensitive or every-request", rv.Mode))
	}
	if rv.Interval < 0 {
		errs = append(errs, errors.New("revocation.interval: must not be negative"))
	}
	switch rv.Method {
	case "", "client_secret_basic":
		if rv.CertFile != "" || rv.KeyFile != "" {
			errs = append(errs, errors.New("revocation.cert_file, key_file: only with method tls_client_auth"))
		}
	case "tls_client_auth":
		if rv.CertFile == "" || rv.KeyFile == "" {
			errs = append(errs, errors.New("revocation.cert_file, key_file: required with method tls_client_auth"))
		}
	default:
		errs = append(errs, fmt.Errorf("revocation.method: %q, want client_secret_basic or tls_client_auth", rv.Method))
	}
	if rv.Mode != RevocationNone && len(rv.Clients) == 0 {
		errs = append(errs, fmt.Errorf("revocation.clients: mode %s needs the KMS's introspection client of each issuer tenant (mode none validates tokens locally only)", rv.mode()))
	}
	for j, c := range rv.Clients {
		if _, err := uuid.Parse(c.TenantID); err != nil {
			errs = append(errs, fmt.Errorf("revocation.clients[%d].tenant_id: %w", j, err))
		}
		if c.ClientID == "" {
			errs = append(errs, fmt.Errorf("revocation.clients[%d].client_id: required", j))
		}
		if rv.Method == "tls_client_auth" && c.ClientSecretFile != "" {
			errs = append(errs, fmt.Errorf("revocation.clients[%d].client_secret_file: not used with tls_client_auth", j))
		}
		if rv.Method != "tls_client_auth" && c.ClientSecretFile == "" && c.secret == "" {
			errs = append(errs, fmt.Errorf("revocation.clients[%d].client_secret_file: required with client_secret_basic", j))
		}
	}
	return errors.Join(errs...)
}

// allowedAlgorithms are the asymmetric JWS algorithms a bearer token may
// use: with a public key set, an HMAC algorithm would let anyone who has
// the public key forge tokens.
var allowedAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}

func (r *TenantRule) validate(issuers map[string]bool) error {
	var errs []error
	if !issuers[r.Issuer] {
		errs = append(errs, fmt.Errorf("issuer: %q is not one of auth.issuers", r.Issuer))
	}
	if r.Tenant != "" {
		if _, err := uuid.Parse(r.Tenant); err != nil {
			errs = append(errs, fmt.Errorf("tenant: %w", err))
		}
		if r.Claim != "" || len(r.Values) > 0 {
			errs = append(errs, errors.New("tenant: maps the whole issuer; claim and values do not apply"))
		}
	}
	for v, t := range r.Values {
		if _, err := uuid.Parse(t); err != nil {
			errs = append(errs, fmt.Errorf("values[%q]: %w", v, err))
		}
	}
	return errors.Join(errs...)
}

func (r *CertRule) validate() error {
	var errs []error
	if (r.URI == "") == (r.DNS == "") {
		errs = append(errs, errors.New("exactly one of uri and dns is required"))
	}
	if _, err := uuid.Parse(r.TenantID); err != nil {
		errs = append(errs, fmt.Errorf("tenant_id: %w", err))
	}
	if len(r.Roles) == 0 {
		errs = append(errs, errors.New("roles: at least one role is required"))
	}
	return errors.Join(errs...)
}

func httpsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want an https URL without query or fragment", s)
	}
	return nil
}
