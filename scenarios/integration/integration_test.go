package integration_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	integrationscenario "github.com/passthru-dev/passthru/scenarios/integration"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/config"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestIntegrationScenario runs the demo's integration steps as subtests
// against an in-process Identity provider and a KMS that trusts it, on
// every selected database backend.
func TestIntegrationScenario(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		idp, k := fixture.StartSystem(t, b, fixture.WithKMSConfig(func(c *kmsserver.Config) {
			c.TLS.ClientAuth = config.ClientAuthOptional // the demo certificates
		}))
		kt, err := target.New(target.Options{Service: "kms", BaseURL: k.URL, CAFile: k.CAFile, DemoFile: k.DemoFile})
		require.NoError(t, err)
		it, err := target.New(target.Options{Service: "identity", BaseURL: idp.URL, CAFile: idp.CAFile, DemoFile: idp.DemoFile})
		require.NoError(t, err)
		r := &step.Runner{Retry: step.DefaultRetry(), StepTimeout: 30 * time.Second}
		r.RunTests(fixture.ITContext(t), t, integrationscenario.Steps(kt, it))
	})
}
