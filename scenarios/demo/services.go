package demo

import (
	"context"
	"io"
	"os"

	identityscenario "github.com/passthru-dev/passthru/scenarios/identity"
	integrationscenario "github.com/passthru-dev/passthru/scenarios/integration"
	kmsscenario "github.com/passthru-dev/passthru/scenarios/kms"
	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/serve"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
)

// DefaultDeps wires the real services and scenarios.
func DefaultDeps() Deps {
	return Deps{
		Starters: map[string]Starter{
			"kms":      startKMS,
			"identity": startIdentity,
		},
		Scenarios: map[string]Scenario{
			"kms":      kmsscenario.Steps,
			"identity": identityscenario.Steps,
		},
		Integration: integrationscenario.Steps,
		Getenv:      os.Getenv,
	}
}

// demoOptions are how the demo starts every service: loopback on a free
// port, demo mode, the run's shared CA, logs to the run's log file.
func demoOptions(o StartOptions) serve.Options {
	return serve.Options{Listen: "127.0.0.1:0", DataDir: o.DataDir, Demo: true, PKIDir: o.PKIDir, Logger: o.Logger, Stdout: io.Discard}
}

func started(inst *serve.Instance) *Instance {
	return &Instance{URL: inst.URL, CAFile: inst.CAFile, DemoFile: inst.DemoFile, Shutdown: inst.Shutdown}
}

// startKMS runs the real KMS in demo mode with production settings (PBKDF2
// at its default cost): the demo shows the service as it ships. Beside an
// Identity provider it shares that provider's tenants and trusts its tokens.
func startKMS(ctx context.Context, o StartOptions) (*Instance, error) {
	cfg := kmsserver.DefaultConfig()
	cfg.Demo.IdentityFile = o.IdentityDemoFile
	useDatabase(&cfg.Database, o)
	// Ask for (optional) client certificates, so that the demo's client
	// certificates can show mutual TLS.
	cfg.TLS.ClientAuth = config.ClientAuthOptional
	inst, err := kmsserver.Start(ctx, kmsserver.Options{Options: demoOptions(o), Config: &cfg})
	if err != nil {
		return nil, err
	}
	return started(inst.Instance), nil
}

// startIdentity runs the real Identity provider in demo mode with its
// default configuration (production PBKDF2 cost).
func startIdentity(ctx context.Context, o StartOptions) (*Instance, error) {
	cfg := identityserver.DefaultConfig()
	useDatabase(&cfg.Database, o)
	inst, err := identityserver.Start(ctx, identityserver.Options{Options: demoOptions(o), Config: &cfg})
	if err != nil {
		return nil, err
	}
	return started(inst.Instance), nil
}

// useDatabase points a service at the run's PostgreSQL, if it has one.
func useDatabase(db *config.Database, o StartOptions) {
	if o.PostgresDSNFile != "" {
		*db = config.Database{Driver: "postgres", DSNFile: o.PostgresDSNFile}
	}
}
