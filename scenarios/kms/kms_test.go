package kms_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kmsscenario "github.com/passthru-dev/passthru/scenarios/kms"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/kms/api"
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
		t.Run("no live scenario keys left", func(t *testing.T) {
			assertScenarioKeysDestroyed(t, tgt)
		})
	})
}

// TestStepsNeedTwoTenants: a demo.json with one tenant cannot carry the
// scenario (tenant isolation needs two). Every step that needs the tenants
// fails and says why, none of them creates a key, and the steps that depend
// on a failed one do not run.
func TestStepsNeedTwoTenants(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	tgt, err := target.New(target.Options{Service: "kms", BaseURL: k.URL, CAFile: k.CAFile, DemoFile: k.DemoFile})
	require.NoError(t, err)
	tgt.Demo.Tenants = tgt.Demo.Tenants[:1]
	sum, err := (&step.Runner{StepTimeout: 20 * time.Second}).Run(fixture.ITContext(t), kmsscenario.Steps(tgt))
	require.NoError(t, err)
	results := map[string]step.Result{}
	for _, r := range sum.Results {
		results[r.Name] = r
	}
	assert.Equal(t, step.Passed, results["readyz"].Outcome)
	for _, name := range []string{"seeded-data-present", "create-key", "sign-verify", "no-credentials-401"} {
		if assert.Equal(t, step.Failed, results[name].Outcome, name) {
			assert.ErrorContains(t, results[name].Err, "tenant", name)
		}
	}
	for _, name := range []string{"encrypt-decrypt", "data-key", "tenant-isolation", "destroy-created-keys"} {
		assert.Equal(t, step.NotRun, results[name].Outcome, name)
	}
	resp, err := k.APIAs(t, 0, "admin").ListElasticKeysWithResponse(fixture.ITContext(t), &api.ListElasticKeysParams{NamePrefix: ptr("scenario-")})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body))
	assert.Empty(t, resp.JSON200.Items, "no step created a key")
}

// assertScenarioKeysDestroyed checks that the run left tenant A's keys
// named scenario-* (the ones the scenario creates) all destroyed, so that
// runs against a persistent stack do not pile up live keys.
func assertScenarioKeysDestroyed(t *testing.T, tgt *target.Target) {
	t.Helper()
	c, err := api.NewClientWithResponses(tgt.BaseURL, api.WithHTTPClient(tgt.HTTP))
	require.NoError(t, err)
	tenant, err := tgt.Tenant(0)
	require.NoError(t, err)
	admin, err := target.UserWithRole(tenant, "admin")
	require.NoError(t, err)
	auth := func(_ context.Context, req *http.Request) error {
		req.SetBasicAuth(admin.Username, admin.Password)
		return nil
	}
	// Scenario keys are named <uuidv7>-scenario-<alg>: listed without a
	// prefix filter and picked out by their suffix.
	size := api.PageSize(200)
	for _, tc := range []struct {
		desc   string
		status *api.KeyStatus
		want   func(t *testing.T, keys []api.ElasticKey)
	}{
		{desc: "the run created keys, and all are destroyed", want: func(t *testing.T, keys []api.ElasticKey) {
			require.GreaterOrEqual(t, len(keys), 2, "the AES and ES256 keys of the run")
			for _, k := range keys {
				assert.Equal(t, api.KeyStatus("destroyed"), k.Status, "key %s", k.Name)
			}
		}},
		{desc: "none is enabled", status: ptr(api.KeyStatus("enabled")), want: func(t *testing.T, keys []api.ElasticKey) { assert.Empty(t, keys) }},
		{desc: "none is disabled", status: ptr(api.KeyStatus("disabled")), want: func(t *testing.T, keys []api.ElasticKey) { assert.Empty(t, keys) }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := c.ListElasticKeysWithResponse(fixture.ITContext(t), &api.ListElasticKeysParams{PageSize: &size, Status: tc.status}, auth)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body))
			require.Empty(t, resp.JSON200.NextPageToken, "one page holds the tenant's keys")
			var run []api.ElasticKey
			for _, k := range resp.JSON200.Items {
				if strings.Contains(k.Name, "-scenario-") {
					run = append(run, k)
				}
			}
			tc.want(t, run)
		})
	}
}

func ptr[T any](v T) *T { return &v }
