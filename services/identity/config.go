package identity

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// envPrefix completes the relative env tags of the shared sections
// (config.Database, config.Log): PASSTHRU_IDENTITY_DB_DRIVER,
// PASSTHRU_IDENTITY_LOG_LEVEL.
const envPrefix = "PASSTHRU_IDENTITY"

// Config is the YAML configuration of the Identity service
// (identity.yml; DESIGN.md §2). Secrets are paths to files (`*_file`).
type Config struct {
	Listen  string `yaml:"listen" env:"PASSTHRU_IDENTITY_LISTEN"`
	Issuer  string `yaml:"issuer" env:"PASSTHRU_IDENTITY_ISSUER"`
	DataDir string `yaml:"data_dir" env:"PASSTHRU_IDENTITY_DATA_DIR"`

	Database config.Database `yaml:"database"`
	// TLS names the server certificate; without it a demo PKI under
	// <data-dir>/tls is used (demo mode only).
	TLS    config.TLS    `yaml:"tls"`
	Unseal config.Unseal `yaml:"unseal"`
	Tokens TokenConfig   `yaml:"tokens"`
	Log    config.Log    `yaml:"log"`

	// PBKDF2Iterations for new password and secret hashes; 0 = 600000.
	PBKDF2Iterations int `yaml:"pbkdf2_iterations" env:"PASSTHRU_IDENTITY_PBKDF2_ITERATIONS"`
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
}

// DefaultListen is the default listen address.
const DefaultListen = "127.0.0.1:8082"

// DefaultConfig returns the defaults every file and flag overrides.
func DefaultConfig() Config {
	return Config{
		Listen: DefaultListen,
		Tokens: TokenConfig{
			SigningAlgorithm:  tokens.ES256,
			AccessTokenTTL:    10 * time.Minute,
			IDTokenTTL:        10 * time.Minute,
			RefreshTokenTTL:   24 * time.Hour,
			RefreshFamilyTTL:  30 * 24 * time.Hour,
			CodeTTL:           60 * time.Second,
			SessionTTL:        8 * time.Hour,
			KeyRotationPeriod: 30 * 24 * time.Hour,
			KeyPrePublication: 24 * time.Hour,
		},
		Log: config.Log{Format: "text", Level: "info"},
	}
}

// Validate checks the configuration; errors name the key. It checks every
// value the way Start will use it, so --check-config refuses what startup
// would refuse; the requirements that depend on the mode (demo or not) are
// in checkStart.
func (c *Config) Validate() error {
	var errs []error
	if err := config.ValidateListen(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if c.Issuer != "" {
		u, err := url.Parse(c.Issuer)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/") {
			errs = append(errs, fmt.Errorf("issuer: %q must be an https URL without query, fragment or trailing slash", c.Issuer))
		}
	}
	errs = append(errs, c.Database.Check()...)
	errs = append(errs, c.TLS.Check()...)
	if c.TLS.CertFile != "" && c.TLS.CAFile == "" {
		// Identity's own rule, stricter than config.TLS.Check (the KMS
		// does not apply it): Start loads ca_file as the trust anchor it
		// reports to clients.
		errs = append(errs, errors.New("tls.ca_file: required with cert_file (clients need the trust anchor)"))
	}
	errs = append(errs, c.Unseal.Check()...)
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
	if t.KeyPrePublication < 0 || t.KeyPrePublication >= t.KeyRotationPeriod {
		errs = append(errs, errors.New("tokens.key_pre_publication: must be >= 0 and shorter than key_rotation_period"))
	}
	if c.PBKDF2Iterations < 0 {
		errs = append(errs, errors.New("pbkdf2_iterations: must not be negative"))
	}
	// telemetry's own parsers: a value that passes here cannot stop
	// telemetry.Setup at startup. The wording of the format and level
	// errors is the Identity service's own (the KMS words them differently),
	// which is why this is not a config.Log method.
	if err := telemetry.ValidateFormat(c.Log.Format); err != nil {
		errs = append(errs, fmt.Errorf("log.format: %q is not json or text", c.Log.Format))
	}
	if _, err := telemetry.ParseLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	errs = append(errs, telemetry.ValidateExport(c.Log.OTLPEndpoint, c.Log.OTLPCAFile)...)
	return errors.Join(errs...)
}

// checkStart reports what Start would refuse in the mode opts asks for,
// before it creates anything. A demo always has a data dir (a temporary one
// if none is given) and generates its unseal secret there.
func checkStart(c *Config, opts Options) error {
	if opts.Demo {
		return nil
	}
	var errs []error
	if len(c.Unseal.SecretFiles) == 0 {
		errs = append(errs, errors.New("unseal.secret_files is required outside demo mode"))
	}
	if opts.DB == nil && c.Database.Driver != "postgres" && c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: no persistence configured: pass --data-dir, configure database.driver postgres, or use --demo"))
	}
	// Only demo mode generates its own CA chain (DESIGN §3); a real
	// deployment brings certificates from its own CA.
	if c.TLS.CertFile == "" {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file are required outside demo mode (there is no plaintext mode)"))
	}
	return errors.Join(errs...)
}
