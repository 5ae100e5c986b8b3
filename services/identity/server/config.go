package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
)

// Config is the YAML configuration of the Identity service (identity.yml):
// the keys every service has (listen, data_dir, database, tls, unseal, log,
// pbkdf2_iterations) and the Identity service's own. Secrets are paths to
// files (`*_file`).
type Config struct {
	serve.Settings `yaml:",inline"`
	Issuer         string      `yaml:"issuer" env:"PASSTHRU_IDENTITY_ISSUER"`
	Tokens         TokenConfig `yaml:"tokens"`
	Demo           DemoConfig  `yaml:"demo"`
}

// DemoConfig configures demo mode's seeding. Both maps name files (e.g.
// Docker secrets), relative paths against the config file's directory;
// whatever they do not name keeps its default: the documented password, a
// generated client secret. They apply when demo tenants are seeded: tenants
// kept from an earlier start keep their credentials.
type DemoConfig struct {
	// PasswordFiles are demo user passwords by username (admin, user,
	// service); every demo tenant gets the same.
	PasswordFiles map[string]string `yaml:"password_files" secret:"true"`
	// ClientSecretFiles are demo client secrets by client id prefix
	// (demo-web, demo-service, demo-kms-reader, demo-kms-rs, demo-admin).
	ClientSecretFiles map[string]string `yaml:"client_secret_files" secret:"true"`
}

// TokenConfig sets lifetimes, the signing algorithm and key rotation.
type TokenConfig struct {
	SigningAlgorithm  string        `yaml:"signing_algorithm" env:"PASSTHRU_IDENTITY_SIGNING_ALGORITHM"` // ES256 | RS256 | EdDSA
	AccessTokenTTL    time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL        time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL   time.Duration `yaml:"refresh_token_ttl"`  // each refresh token (every rotation gets a new one)
	RefreshFamilyTTL  time.Duration `yaml:"refresh_family_ttl"` // a whole rotation family, from its authorization (RFC 9700 §4.14.2)
	CodeTTL           time.Duration `yaml:"code_ttl"`
	SessionTTL        time.Duration `yaml:"session_ttl"`
	KeyRotationPeriod time.Duration `yaml:"key_rotation_period"`
	KeyPrePublication time.Duration `yaml:"key_pre_publication"`
	// ChangeCheckInterval is how often a replica reads a tenant's change
	// generation: the longest it may answer from its caches of verified
	// tokens and clients after another replica revoked a token or changed
	// a client or user (this replica's own changes count at once).
	ChangeCheckInterval time.Duration `yaml:"change_check_interval"`
}

// MaxChangeCheckInterval bounds tokens.change_check_interval: a revocation
// must reach every replica soon, whatever the configuration says.
const MaxChangeCheckInterval = time.Minute

// DefaultListen is the default listen address.
const DefaultListen = "127.0.0.1:8082"

// DefaultConfig returns the defaults every file and flag overrides. The
// token lifetimes are the OAuth server's own defaults (oauth.Default*), so
// they are written once.
func DefaultConfig() Config {
	return Config{
		Settings: serve.Settings{Listen: DefaultListen},
		Tokens: TokenConfig{
			SigningAlgorithm:    tokens.ES256,
			AccessTokenTTL:      oauth.DefaultAccessTokenTTL,
			IDTokenTTL:          oauth.DefaultIDTokenTTL,
			RefreshTokenTTL:     oauth.DefaultRefreshTokenTTL,
			RefreshFamilyTTL:    oauth.DefaultRefreshFamilyTTL,
			CodeTTL:             oauth.DefaultCodeTTL,
			SessionTTL:          oauth.DefaultSessionTTL,
			KeyRotationPeriod:   30 * 24 * time.Hour,
			KeyPrePublication:   24 * time.Hour,
			ChangeCheckInterval: oauth.DefaultChangeCheckInterval,
		},
	}
}

// Validate checks the configuration; errors name the key. It checks every
// value the way Start will use it, so --check-config refuses what startup
// would refuse; the requirements that depend on the mode (demo or not) are
// in checkStart.
func (c *Config) Validate() error {
	var errs []error
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/") {
			errs = append(errs, fmt.Errorf("issuer: %q must be an https URL without query, fragment or trailing slash", c.Issuer))
		}
	}
	t := c.Tokens
	switch t.SigningAlgorithm {
	case tokens.ES256, tokens.RS256, tokens.EdDSA:
	default:
		errs = append(errs, fmt.Errorf("tokens.signing_algorithm: %q is not ES256, RS256 or EdDSA", t.SigningAlgorithm))
	}
	// A list, not a map: the errors come out in the same order every run.
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"access_token_ttl", t.AccessTokenTTL}, {"id_token_ttl", t.IDTokenTTL}, {"refresh_token_ttl", t.RefreshTokenTTL},
		{"refresh_family_ttl", t.RefreshFamilyTTL}, {"code_ttl", t.CodeTTL}, {"session_ttl", t.SessionTTL}, {"key_rotation_period", t.KeyRotationPeriod},
	} {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("tokens.%s: must be positive", f.name))
		}
	}
	if t.RefreshFamilyTTL > 0 && t.RefreshFamilyTTL < t.RefreshTokenTTL {
		// A shorter family would cap every refresh token below its own
		// configured lifetime; that is a mistake, not a policy.
		errs = append(errs, fmt.Errorf("tokens.refresh_family_ttl: %s is shorter than refresh_token_ttl (%s)", t.RefreshFamilyTTL, t.RefreshTokenTTL))
	}
	if t.CodeTTL > 10*time.Minute {
		errs = append(errs, errors.New("tokens.code_ttl: at most 10m (RFC 6749 §4.1.2)"))
	}
	if t.ChangeCheckInterval <= 0 || t.ChangeCheckInterval > MaxChangeCheckInterval {
		errs = append(errs, fmt.Errorf("tokens.change_check_interval: must be positive and at most %s", MaxChangeCheckInterval))
	}
	if t.KeyPrePublication < 0 || t.KeyPrePublication >= t.KeyRotationPeriod {
		errs = append(errs, errors.New("tokens.key_pre_publication: must be >= 0 and shorter than key_rotation_period"))
	}
	errs = append(errs, c.Demo.validate()...)
	return errors.Join(errs...)
}

func (d *DemoConfig) validate() []error {
	var users, clients []string
	for _, u := range demoUsers {
		users = append(users, u.name)
	}
	for _, c := range demoClients {
		if c.confidential {
			clients = append(clients, c.idPrefix)
		}
	}
	return append(config.CheckSecretFiles("demo.password_files", d.PasswordFiles, "demo user", users),
		config.CheckSecretFiles("demo.client_secret_files", d.ClientSecretFiles, "confidential demo client", clients)...)
}
