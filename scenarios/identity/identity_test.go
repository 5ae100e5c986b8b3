package identity_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	identityscenario "github.com/passthru-dev/passthru/scenarios/identity"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestIdentityScenario runs the demo's Identity steps as subtests (one per
// step, named after it) against an in-process Identity provider on every
// selected database backend.
func TestIdentityScenario(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		idp := fixture.StartIdentity(t, b)
		tgt, err := target.New(target.Options{Service: "identity", BaseURL: idp.URL, CAFile: idp.CAFile, DemoFile: idp.DemoFile})
		require.NoError(t, err)
		r := &step.Runner{Retry: step.DefaultRetry(), StepTimeout: 30 * time.Second}
		r.RunTests(fixture.ITContext(t), t, identityscenario.Steps(tgt))
	})
}
