package kms

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// DefaultListen is where the KMS listens unless told otherwise.
const DefaultListen = "127.0.0.1:8081"

// Config is the KMS configuration file (kms.yml). Secrets are never in it:
// `*_file` keys name the files holding them.
type Config struct {
	Listen   string         `yaml:"listen" env:"PASSTHRU_KMS_LISTEN"`
	DataDir  string         `yaml:"data_dir" env:"PASSTHRU_KMS_DATA_DIR"`
	Database DatabaseConfig `yaml:"database"`
	TLS      TLSConfig      `yaml:"tls"`
	Unseal   UnsealConfig   `yaml:"unseal"`
	Auth     AuthConfig     `yaml:"auth"`
	Log      LogConfig      `yaml:"log"`
}

// DatabaseConfig chooses the database.
type DatabaseConfig struct {
	// Driver is sqlite (default; files under <data_dir>/db) or postgres.
	Driver string `yaml:"driver" env:"PASSTHRU_KMS_DB_DRIVER"`
	// DSNFile holds the PostgreSQL DSN (it carries a password).
	DSNFile string `yaml:"dsn_file" secret:"true"`
}

// TLSConfig names the server certificate; without it the service refuses
// to start unless in demo mode, where a demo CA chain is generated.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"` // leaf + intermediates, PEM
	KeyFile  string `yaml:"key_file" secret:"true"`
	CAFile   string `yaml:"ca_file"` // the root clients should trust (reported, not used to serve)
}

// UnsealConfig lists the unseal secret files and how many are needed.
type UnsealConfig struct {
	SecretFiles []string `yaml:"secret_files" secret:"true"`
	Threshold   int      `yaml:"threshold"`
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

// LogConfig configures logging and OpenTelemetry export.
type LogConfig struct {
	Format string `yaml:"format" env:"PASSTHRU_KMS_LOG_FORMAT"`
	Level  string `yaml:"level" env:"PASSTHRU_KMS_LOG_LEVEL"`
	// OTLPEndpoint is the OTLP/HTTP collector base URL (https only); empty =
	// no export.
	OTLPEndpoint string `yaml:"otlp_endpoint" env:"PASSTHRU_KMS_OTLP_ENDPOINT"`
	// OTLPCAFile is the PEM CA bundle the collector's certificate must chain
	// to; required with OTLPEndpoint (system roots are never trusted).
	OTLPCAFile string `yaml:"otlp_ca_file" env:"PASSTHRU_KMS_OTLP_CA_FILE"`
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
	switch c.Database.Driver {
	case "", "sqlite":
		if c.Database.DSNFile != "" {
			errs = append(errs, errors.New("database.dsn_file: set but database.driver is not postgres (the sqlite database lives under the data dir)"))
		}
	case "postgres":
		if c.Database.DSNFile == "" {
			errs = append(errs, errors.New("database.dsn_file: required for the postgres driver"))
		}
	default:
		errs = append(errs, fmt.Errorf("database.driver: %q, want sqlite or postgres", c.Database.Driver))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	errs = append(errs, c.Unseal.validate()...)
	if c.Auth.CacheTTL < 0 {
		errs = append(errs, errors.New("auth.cache_ttl: must not be negative"))
	}
	if c.Auth.PBKDF2Iterations < 0 {
		errs = append(errs, errors.New("auth.pbkdf2_iterations: must not be negative"))
	}
	errs = append(errs, c.Log.validate()...)
	return errors.Join(errs...)
}

// validate checks the unseal secrets: no empty or repeated path (a repeated
// file would count twice towards the threshold), and a threshold the
// configured (or, in demo mode, the one generated) secrets can meet.
func (u UnsealConfig) validate() []error {
	var errs []error
	for i, f := range u.SecretFiles {
		switch {
		case f == "":
			errs = append(errs, fmt.Errorf("unseal.secret_files[%d]: empty path", i))
		case slices.Index(u.SecretFiles, f) < i:
			errs = append(errs, fmt.Errorf("unseal.secret_files[%d]: %q is listed twice", i, f))
		}
	}
	n := max(len(u.SecretFiles), 1) // demo mode generates one secret
	if u.Threshold < 0 || u.Threshold > n {
		errs = append(errs, fmt.Errorf("unseal.threshold: %d, want 1..%d (0 means 1)", u.Threshold, n))
	}
	return errs
}

// validate checks the log settings with telemetry's own parsers, so a value
// that passes here cannot stop telemetry.Setup at startup.
func (l LogConfig) validate() []error {
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
