package server_test

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/serve"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestDemoSharesIdentityTenants: a KMS demo pointed at an Identity demo's
// demo.json registers the same tenants under the same ids, and both
// services share one CA, so one tenant is one id in the whole system.
func TestDemoSharesIdentityTenants(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		idp, k := fixture.StartSystem(t, b)
		for n := range 2 {
			assert.Equal(t, idp.Tenant(t, n).Name, k.Tenant(t, n).Name)
			assert.Equal(t, idp.Tenant(t, n).ID, k.Tenant(t, n).ID)
		}
		assert.Equal(t, idp.CAFile, k.CAFile)
	})
}

func TestDemoIdentityFileRefusedOutsideDemo(t *testing.T) {
	cfg := &kmsserver.Config{Demo: kmsserver.DemoConfig{IdentityFile: filepath.Join(t.TempDir(), "demo.json")}}
	_, _, err := kmsserver.ResolveConfig(kmsserver.Options{Config: cfg})
	require.ErrorContains(t, err, "demo.identity_file: applies in demo mode only")
	_, _, err = kmsserver.ResolveConfig(kmsserver.Options{Config: cfg, Options: serve.Options{Demo: true}})
	require.NoError(t, err)
}

// TestMalformedBearerIsABadRequest: Bearer credentials that do not parse
// are RFC 6750 invalid_request (400), not an invalid token.
func TestMalformedBearerIsABadRequest(t *testing.T) {
	_, k := fixture.StartSystem(t, dbtest.SQLite)
	for _, values := range [][]string{{"Bearer a,b"}, {"Bearer"}, {"Bearer x", "Bearer y"}} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, k.URL+"/api/v1/elastic-keys", nil)
		require.NoError(t, err)
		for _, v := range values {
			req.Header.Add("Authorization", v)
		}
		resp, err := k.Client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%q: %s", values, body)
		assert.Contains(t, resp.Header.Values("WWW-Authenticate"), `Bearer realm="kms", error="invalid_request"`, "%q", values)
		assert.Contains(t, string(body), `"code":"invalid_request"`)
	}
}
