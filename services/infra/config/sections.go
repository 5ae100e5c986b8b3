package config

import (
	"errors"
	"fmt"
	"slices"
)

// The sections below appear with the same YAML keys in kms.yml and
// identity.yml (tls, unseal, database, log). Their env tags are relative
// ("*_LOG_LEVEL"): each service applies them with ApplyEnvPrefix and its own
// prefix, so users keep seeing PASSTHRU_KMS_LOG_LEVEL and
// PASSTHRU_IDENTITY_LOG_LEVEL.
//
// Their checks are named Check, not Validate: a service's Config.Validate
// reports them beside its own rules, and the Validate function, which calls
// every nested Validator, would otherwise report each problem twice. Check
// errors name the full key as both services spell it ("unseal.threshold"),
// as telemetry.ValidateExport does for log.otlp_*.

// TLS names a service's server certificate files and whether it asks
// clients for certificates (mTLS).
type TLS struct {
	CertFile string `yaml:"cert_file"` // leaf + intermediates, PEM
	KeyFile  string `yaml:"key_file" secret:"true"`
	CAFile   string `yaml:"ca_file"` // the root clients should trust (reported, not used to serve)
	// ClientAuth is the client certificate policy of the listener: none
	// (the default), optional (a client may present a certificate; it must
	// verify) or required (the handshake fails without a valid one).
	ClientAuth string `yaml:"client_auth"`
	// ClientCAFile is the PEM bundle client certificates must chain to;
	// required with client_auth optional or required, except in a demo that
	// generates its own CA, whose root is then the client CA.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Client certificate policies of TLS.ClientAuth.
const (
	ClientAuthNone     = "none"
	ClientAuthOptional = "optional"
	ClientAuthRequired = "required"
)

// ClientCertsRequested reports whether the policy asks clients for
// certificates (optional or required).
func (t TLS) ClientCertsRequested() bool {
	return t.ClientAuth == ClientAuthOptional || t.ClientAuth == ClientAuthRequired
}

// Check reports a certificate without its key or a key without its
// certificate, an unknown client_auth, and a client_ca_file that would be
// ignored. Whether ca_file is required with cert_file, and client_ca_file
// with client_auth, depends on the mode and is the service's call.
func (t TLS) Check() []error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	switch t.ClientAuth {
	case "", ClientAuthNone:
		if t.ClientCAFile != "" {
			// An operator who sets a client CA expects client certificates
			// to be checked; silently serving without them would not.
			errs = append(errs, errors.New("tls.client_ca_file: set but tls.client_auth is none (set client_auth to optional or required)"))
		}
	case ClientAuthOptional, ClientAuthRequired:
	default:
		errs = append(errs, fmt.Errorf("tls.client_auth: %q, want none, optional or required", t.ClientAuth))
	}
	return errs
}

// Unseal lists the barrier's unseal secret files and how many of them are
// needed (M of N).
type Unseal struct {
	SecretFiles []string `yaml:"secret_files" secret:"true"`
	Threshold   int      `yaml:"threshold"` // 0 means 1
}

// Check reports empty or repeated paths (a repeated file would count twice
// towards the threshold) and a threshold the configured secrets cannot meet.
// Without secret files N is 1: demo mode generates one secret.
func (u Unseal) Check() []error {
	var errs []error
	for i, f := range u.SecretFiles {
		switch {
		case f == "":
			errs = append(errs, fmt.Errorf("unseal.secret_files[%d]: empty path", i))
		case slices.Index(u.SecretFiles, f) < i:
			errs = append(errs, fmt.Errorf("unseal.secret_files[%d]: %q is listed twice", i, f))
		}
	}
	if n := max(len(u.SecretFiles), 1); u.Threshold < 0 || u.Threshold > n {
		errs = append(errs, fmt.Errorf("unseal.threshold: %d, want 1..%d (0 means 1)", u.Threshold, n))
	}
	return errs
}

// Database chooses the database: SQLite under the data dir (the default) or
// PostgreSQL with its DSN read from a secrets file.
type Database struct {
	Driver  string `yaml:"driver" env:"*_DB_DRIVER"` // sqlite | postgres
	DSNFile string `yaml:"dsn_file" secret:"true"`   // the DSN carries a password
}

// Check reports an unknown driver, postgres without a DSN file, and a DSN
// file that would be ignored.
func (d Database) Check() []error {
	switch d.Driver {
	case "", "sqlite":
		if d.DSNFile != "" {
			return []error{errors.New("database.dsn_file: set but database.driver is not postgres (the sqlite database lives under the data dir)")}
		}
	case "postgres":
		if d.DSNFile == "" {
			return []error{errors.New("database.dsn_file: required for the postgres driver")}
		}
	default:
		return []error{fmt.Errorf("database.driver: %q is not sqlite or postgres", d.Driver)}
	}
	return nil
}

// Log configures logging and OpenTelemetry export. Its values are checked by
// the services with telemetry's own parsers (telemetry.ValidateFormat,
// ParseLevel, ValidateExport), so a value that passes cannot stop
// telemetry.Setup at startup.
type Log struct {
	Format string `yaml:"format" env:"*_LOG_FORMAT"` // json | text
	Level  string `yaml:"level" env:"*_LOG_LEVEL"`
	// OTLPEndpoint is the OTLP/HTTP collector base URL (https only); empty =
	// no export.
	OTLPEndpoint string `yaml:"otlp_endpoint" env:"*_OTLP_ENDPOINT"`
	// OTLPCAFile is the PEM CA bundle the collector's certificate must chain
	// to; required with OTLPEndpoint (system roots are never trusted).
	OTLPCAFile string `yaml:"otlp_ca_file" env:"*_OTLP_CA_FILE"`
}
