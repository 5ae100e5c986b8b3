package kms

import (
	"errors"
	"fmt"
	"time"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// DefaultListen is where the KMS listens unless told otherwise.
const DefaultListen = "127.0.0.1:8081"

// envPrefix completes the relative env tags of the shared sections
// (config.Database, config.Log): PASSTHRU_KMS_DB_DRIVER, PASSTHRU_KMS_LOG_LEVEL.
const envPrefix = "PASSTHRU_KMS"

// Config is the KMS configuration file (kms.yml). Secrets are never in it:
// `*_file` keys name the files holding them.
type Config struct {
	Listen   string          `yaml:"listen" env:"PASSTHRU_KMS_LISTEN"`
	DataDir  string          `yaml:"data_dir" env:"PASSTHRU_KMS_DATA_DIR"`
	Database config.Database `yaml:"database"`
	// TLS names the server certificate; without it the service refuses to
	// start unless in demo mode, where a demo CA chain is generated.
	TLS    config.TLS    `yaml:"tls"`
	Unseal config.Unseal `yaml:"unseal"`
	Auth   AuthConfig    `yaml:"auth"`
	Log    config.Log    `yaml:"log"`
}

// AuthConfig configures realms and Basic authentication.
type AuthConfig struct {
	// RealmsFile is realms.yml; default: realms.yml beside the config file
	// when it exists, else one database realm "local" with the default roles.
	RealmsFile string `yaml:"realms_file"`
	// CacheTTL is how long verified Basic credentials are remembered (default 5m).
	CacheTTL time.Duration `yaml:"cache_ttl" env:"PASSTHRU_KMS_AUTH_CACHE_TTL"`
	// PBKDF2Iterations for new password hashes (default 600000).
	PBKDF2Iterations int `yaml:"pbkdf2_iterations"`
}

// Validate implements config.Validator. It checks every value the way Start
// will use it, so --check-config refuses what startup would refuse; the
// requirements that depend on the mode (demo or not) are in checkStart.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if err := config.ValidateListen(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
		}
	}
	errs = append(errs, c.Database.Check()...)
	errs = append(errs, c.TLS.Check()...)
	errs = append(errs, c.Unseal.Check()...)
	if c.Auth.CacheTTL < 0 {
		errs = append(errs, errors.New("auth.cache_ttl: must not be negative"))
	}
	if c.Auth.PBKDF2Iterations < 0 {
		errs = append(errs, errors.New("auth.pbkdf2_iterations: must not be negative"))
	}
	errs = append(errs, validateLog(c.Log)...)
	return errors.Join(errs...)
}

// validateLog checks the log settings with telemetry's own parsers, so a
// value that passes here cannot stop telemetry.Setup at startup. The wording
// of the format and level errors is the KMS's own (the Identity service
// words them differently), which is why this is not a config.Log method.
func validateLog(l config.Log) []error {
	var errs []error
	if err := telemetry.ValidateFormat(l.Format); err != nil {
		errs = append(errs, fmt.Errorf("log.format: %q, want json or text", l.Format))
	}
	if _, err := telemetry.ParseLevel(l.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %q, want debug, info, warn or error", l.Level))
	}
	return append(errs, telemetry.ValidateExport(l.OTLPEndpoint, l.OTLPCAFile)...)
}

// checkStart reports what Start would refuse in the mode opts asks for,
// before it creates anything: outside demo mode there is no generated
// certificate or unseal secret, and SQLite needs a data dir.
func checkStart(c *Config, opts Options) error {
	var errs []error
	if !opts.Demo {
		if c.TLS.CertFile == "" {
			errs = append(errs, errors.New("tls.cert_file and tls.key_file are required outside demo mode (there is no plaintext mode)"))
		}
		if len(c.Unseal.SecretFiles) == 0 {
			errs = append(errs, errors.New("unseal.secret_files is required outside demo mode"))
		}
		if opts.DB == nil && c.Database.Driver != "postgres" && c.DataDir == "" {
			errs = append(errs, errors.New("data_dir: a data dir is required for the sqlite database (--data-dir or data_dir)"))
		}
	}
	return errors.Join(errs...)
}
