package kms

import (
	"errors"
	"fmt"
	"net/url"
	"time"
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

// validateOTLP checks the export settings the way telemetry will use them:
// https only, and always with the collector's CA bundle (DESIGN.md §3).
func (l LogConfig) validateOTLP() []error {
	if l.OTLPEndpoint == "" {
		if l.OTLPCAFile != "" {
			return []error{errors.New("log.otlp_ca_file: set without log.otlp_endpoint")}
		}
		return nil
	}
	var errs []error
	u, err := url.Parse(l.OTLPEndpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// Not echoing the value: it might carry credentials.
		errs = append(errs, errors.New("log.otlp_endpoint: must be an https URL (https://host[:port][/path]) without credentials, query or fragment"))
	}
	if l.OTLPCAFile == "" {
		errs = append(errs, errors.New("log.otlp_ca_file: required with log.otlp_endpoint (the collector's CA bundle; system roots are never used)"))
	}
	return errs
}

// Validate implements config.Validator.
func (c *Config) Validate() error {
	var errs []error
	switch c.Database.Driver {
	case "", "sqlite":
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
	if c.Unseal.Threshold < 0 || (len(c.Unseal.SecretFiles) > 0 && c.Unseal.Threshold > len(c.Unseal.SecretFiles)) {
		errs = append(errs, fmt.Errorf("unseal.threshold: %d, want 1..%d", c.Unseal.Threshold, len(c.Unseal.SecretFiles)))
	}
	if c.Auth.CacheTTL < 0 {
		errs = append(errs, errors.New("auth.cache_ttl: must not be negative"))
	}
	if c.Auth.PBKDF2Iterations < 0 {
		errs = append(errs, errors.New("auth.pbkdf2_iterations: must not be negative"))
	}
	errs = append(errs, c.Log.validateOTLP()...)
	return errors.Join(errs...)
}
