package server_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestDemoKMSReader: every demo tenant has a service client for the KMS
// that may read but not encrypt, so the KMS demo can show a refusal for
// scope; the first service client stays the full KMS client.
func TestDemoKMSReader(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		idp := fixture.StartIdentity(t, b)
		for n := range idp.Demo.Tenants {
			tenant := idp.Tenant(t, n)
			var readers []demofile.Client
			for _, c := range tenant.Clients {
				if strings.HasPrefix(c.ClientID, "demo-kms-reader-") {
					readers = append(readers, c)
				}
			}
			require.Len(t, readers, 1, "tenant %d", n)
			reader := readers[0]
			assert.Equal(t, demofile.KindService, reader.Kind)
			assert.Equal(t, []string{"kms:read"}, reader.Scopes)
			assert.Equal(t, "kms", reader.Audience)
			assert.True(t, strings.HasPrefix(idp.ClientOfKind(t, n, demofile.KindService).ClientID, "demo-service-"),
				"ClientOfKind(service) still finds the full KMS client")

			for _, tc := range []struct {
				desc, scope, wantScope, wantError string
			}{
				{desc: "the default scope is kms:read only", wantScope: "kms:read"},
				{desc: "kms:encrypt is not granted", scope: "kms:encrypt", wantError: "invalid_scope"},
				{desc: "kms:write is not granted", scope: "kms:write", wantError: "invalid_scope"},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					v := url.Values{"grant_type": {"client_credentials"}}
					if tc.scope != "" {
						v.Set("scope", tc.scope)
					}
					out := post(t, idp, "/oauth2/v1/token", reader, v)
					if tc.wantError != "" {
						assert.Equal(t, tc.wantError, out["error"], out)
						assert.NotContains(t, out, "access_token")
						return
					}
					require.Equal(t, float64(200), out["_status"], out)
					assert.Equal(t, tc.wantScope, out["scope"])
					intro := post(t, idp, "/oauth2/v1/introspect", idp.ClientOfKind(t, n, demofile.KindResourceServer), url.Values{"token": {out["access_token"].(string)}})
					assert.Equal(t, true, intro["active"])
					assert.Equal(t, []any{"kms"}, intro["aud"])
				})
			}
		}
	})
}
