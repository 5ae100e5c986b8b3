package serve

import (
	"errors"
	"fmt"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// Settings are the configuration keys every service has. A service's Config
// embeds them inline, so they sit at the top level of its YAML file, and
// their relative env tags expand to the service's own prefix
// (PASSTHRU_KMS_LISTEN, PASSTHRU_IDENTITY_PBKDF2_ITERATIONS).
type Settings struct {
	Listen   string          `yaml:"listen" env:"*_LISTEN"`
	DataDir  string          `yaml:"data_dir" env:"*_DATA_DIR"`
	Database config.Database `yaml:"database"`
	// TLS names the server certificate; without it the service refuses to
	// start unless in demo mode, where a demo CA chain is generated.
	TLS    config.TLS    `yaml:"tls"`
	Unseal config.Unseal `yaml:"unseal"`
	Log    config.Log    `yaml:"log"`
	// PBKDF2Iterations is the cost of new password and secret hashes
	// (0: password.DefaultIterations). Stored hashes carry their own cost.
	PBKDF2Iterations int `yaml:"pbkdf2_iterations" env:"*_PBKDF2_ITERATIONS"`
}

// Common returns s: a service's Config satisfies the Config interface by
// embedding Settings.
func (s *Settings) Common() *Settings { return s }

// Validate implements config.Validator: every value is checked the way Start
// uses it, so --check-config refuses what startup would refuse. What depends
// on the mode (demo or not) is checked by checkMode.
func (s *Settings) Validate() error {
	var errs []error
	if s.Listen != "" {
		if err := config.ValidateListen(s.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %w", err))
		}
	}
	errs = append(errs, s.Database.Check()...)
	errs = append(errs, s.TLS.Check()...)
	if s.TLS.CertFile != "" && s.TLS.CAFile == "" {
		// The runtime reports the CA to clients (banner, demo.json, the
		// fixtures' trust pool); a certificate without it cannot be used.
		errs = append(errs, errors.New("tls.ca_file: required with cert_file (clients need the trust anchor)"))
	}
	if s.TLS.ClientCertsRequested() && s.TLS.ClientCAFile == "" && s.TLS.CertFile != "" {
		// Only the generated demo CA can stand in for a client CA file.
		errs = append(errs, fmt.Errorf("tls.client_ca_file: required with tls.client_auth %s and a configured tls.cert_file (only a demo without cert_file uses its own CA for clients)", s.TLS.ClientAuth))
	}
	errs = append(errs, s.Unseal.Check()...)
	if s.PBKDF2Iterations < 0 {
		errs = append(errs, errors.New("pbkdf2_iterations: must not be negative"))
	}
	// telemetry's own parsers: a value that passes here cannot stop
	// telemetry.New at startup.
	if err := telemetry.ValidateFormat(s.Log.Format); err != nil {
		errs = append(errs, fmt.Errorf("log.format: %q, want json or text", s.Log.Format))
	}
	if _, err := telemetry.ParseLevel(s.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %q, want debug, info, warn or error", s.Log.Level))
	}
	errs = append(errs, telemetry.ValidateExport(s.Log.OTLPEndpoint, s.Log.OTLPCAFile)...)
	return errors.Join(errs...)
}

// checkMode reports what a start in the given mode would refuse, before
// anything is created: outside demo mode there is no generated certificate
// or unseal secret, and SQLite needs a data dir.
func (s *Settings) checkMode(demo, dbGiven bool) error {
	if demo {
		return nil
	}
	var errs []error
	if s.TLS.CertFile == "" {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file are required outside demo mode (there is no plaintext mode)"))
	}
	if s.TLS.CertFile == "" && s.TLS.ClientCertsRequested() && s.TLS.ClientCAFile == "" {
		errs = append(errs, fmt.Errorf("tls.client_ca_file: required with tls.client_auth %s outside demo mode", s.TLS.ClientAuth))
	}
	if len(s.Unseal.SecretFiles) == 0 {
		errs = append(errs, errors.New("unseal.secret_files is required outside demo mode"))
	}
	if !dbGiven && s.Database.Driver != "postgres" && s.DataDir == "" {
		errs = append(errs, errors.New("data_dir: the sqlite database needs a data dir (--data-dir or data_dir), or configure database.driver postgres, or use --demo"))
	}
	return errors.Join(errs...)
}
