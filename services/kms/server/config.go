package server

import (
	"errors"
	"time"

	"github.com/passthru-dev/passthru/services/infra/serve"
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
}

// AuthConfig configures realms and Basic authentication.
type AuthConfig struct {
	// RealmsFile is realms.yml; default: realms.yml beside the config file
	// when it exists, else one database realm "local" with the default roles.
	RealmsFile string `yaml:"realms_file"`
	// CacheTTL is how long verified Basic credentials are remembered (default 5m).
	CacheTTL time.Duration `yaml:"cache_ttl" env:"PASSTHRU_KMS_AUTH_CACHE_TTL"`
}

// DefaultConfig returns the defaults a config file and flags override.
func DefaultConfig() Config {
	return Config{Settings: serve.Settings{Listen: DefaultListen}}
}

// Validate checks the KMS's own keys. config.Validate (which Start runs)
// also walks the embedded serve.Settings, which checks the shared ones.
func (c *Config) Validate() error {
	if c.Auth.CacheTTL < 0 {
		return errors.New("auth.cache_ttl: must not be negative")
	}
	return nil
}
