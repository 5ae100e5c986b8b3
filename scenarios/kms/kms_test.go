package kms_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	kmsscenario "github.com/passthru-dev/passthru/scenarios/kms"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestKMSScenario runs the demo's KMS steps as subtests (one per step, named
// after it) against an in-process KMS on every selected database backend.
func TestKMSScenario(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		tgt, err := target.New(target.Options{Service: "kms", BaseURL: k.URL, CAFile: k.CAFile, DemoFile: k.DemoFile})
		require.NoError(t, err)
		r := &step.Runner{Retry: step.DefaultRetry(), StepTimeout: 30 * time.Second}
		r.RunTests(fixture.ITContext(t), t, kmsscenario.Steps(tgt))
	})
}
