package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// m1Lands checks that token acts in KMS tenant own of k and sees nothing of
// tenant other: its key list holds own's demo key and not other's, other's
// key is 404, and a key it creates is visible to ownPeer (another token of
// the same tenant) and 404 to otherPeer (a token of the other tenant).
func m1Lands(t *testing.T, k *fixture.KMS, token string, own, other int, ownPeer, otherPeer string) {
	t.Helper()
	ownKey, otherKey := k.Key(t, own, "A256GCM").ID, k.Key(t, other, "A256GCM").ID
	r := m1Do(t, k, token, http.MethodGet, "/api/v1/elastic-keys", nil)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	assert.True(t, strings.Contains(string(r.body), ownKey), "the list shows the tenant's own key")
	assert.False(t, strings.Contains(string(r.body), otherKey), "the list shows the other tenant's key")
	assert.Equal(t, http.StatusOK, m1Do(t, k, token, http.MethodGet, m1KeyPath(ownKey, ""), nil).status)
	assert.Equal(t, http.StatusNotFound, m1Do(t, k, token, http.MethodGet, m1KeyPath(otherKey, ""), nil).status)

	c := m1Do(t, k, token, http.MethodPost, "/api/v1/elastic-keys", factory.ElasticKey("A256GCM"))
	require.Equal(t, http.StatusCreated, c.status, "body: %s", c.body)
	created := c.str(t, "id")
	assert.Equal(t, http.StatusOK, m1Do(t, k, ownPeer, http.MethodGet, m1KeyPath(created, ""), nil).status,
		"the created key is in the tenant the token mapped to")
	assert.Equal(t, http.StatusNotFound, m1Do(t, k, otherPeer, http.MethodGet, m1KeyPath(created, ""), nil).status,
		"the created key is not in the other tenant")
}

// TestBearerFederation: one KMS trusts two Identity providers. Issuer 1's
// tenant_id claim is the KMS tenant id (a claim rule without values); issuer 2's
// tenants are mapped by rules onto the KMS's tenant B. Every token acts in
// the tenant its issuer's mapping gives and nowhere else; a third,
// unconfigured issuer and a tenant mapped to no registered KMS tenant get
// 401 invalid_token.
func TestBearerFederation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		// One PKI directory: one CA verifies every service.
		pki := filepath.Join(t.TempDir(), "tls")
		idp1 := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))
		idp2 := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))
		idp3 := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))
		require.NotEqual(t, idp1.Issuer, idp2.Issuer)
		require.NotEqual(t, idp1.Tenant(t, 0).ID, idp2.Tenant(t, 0).ID, "the providers have their own tenants")

		tok1, tok2, tok3 := m1NewTokens(idp1), m1NewTokens(idp2), m1NewTokens(idp3)
		service := func(tokens *m1Tokens, idp *fixture.Identity, n int) string {
			return tokens.get(t, idp.ClientWithPrefix(t, n, "demo-service"))
		}
		// The KMS's tenants are issuer 1's (demo.identity_file): A and B.
		const tenantA, tenantB = 0, 1
		unregistered := uuid.NewString()

		for _, tc := range []struct {
			desc  string
			rules func(kmsB string) []kmsserver.TenantRule
			// idp2Tenant1InB: issuer 2's second tenant lands in B too
			// (else it maps to no registered tenant and gets 401).
			idp2Tenant1InB bool
		}{
			{
				desc: "values rule: issuer 2's first tenant to B, its second to an unregistered tenant",
				rules: func(kmsB string) []kmsserver.TenantRule {
					return []kmsserver.TenantRule{{Issuer: idp2.Issuer, Claim: "tenant_id", Priority: 10, Values: map[string]string{
						idp2.Tenant(t, 0).ID: kmsB,
						idp2.Tenant(t, 1).ID: unregistered,
					}}}
				},
			},
			{
				desc: "tenant rule: every token of issuer 2 to B",
				rules: func(kmsB string) []kmsserver.TenantRule {
					return []kmsserver.TenantRule{{Issuer: idp2.Issuer, Tenant: kmsB}}
				},
				idp2Tenant1InB: true,
			},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				kmsB := idp1.Tenant(t, tenantB).ID // the KMS registers issuer 1's tenant ids
				k := fixture.StartKMS(t, b, fixture.WithKMSPKIDir(pki), fixture.WithKMSConfig(func(c *kmsserver.Config) {
					c.Demo.IdentityFile = idp1.DemoFile
					none := kmsserver.RevocationConfig{Mode: kmsserver.RevocationNone}
					c.Auth.Issuers = []kmsserver.IssuerConfig{
						{Issuer: idp1.Issuer, CAFile: idp1.CAFile, Revocation: none},
						{Issuer: idp2.Issuer, CAFile: idp2.CAFile, Revocation: none},
					}
					// Issuer 1's tenant_id claim is the KMS tenant id, said
					// explicitly: with two issuers each must have rules.
					c.Auth.TenantMapping = append(tc.rules(kmsB), kmsserver.TenantRule{Issuer: idp1.Issuer, Claim: "tenant_id"})
				}))
				require.Equal(t, kmsB, k.Tenant(t, tenantB).ID)
				a1, b1 := service(tok1, idp1, 0), service(tok1, idp1, 1)

				t.Run("issuer 1, tenant A (claim rule without values: tenant_id is the KMS tenant)", func(t *testing.T) {
					m1Lands(t, k, a1, tenantA, tenantB, a1, b1)
				})
				t.Run("issuer 1, tenant B (claim rule without values)", func(t *testing.T) {
					m1Lands(t, k, b1, tenantB, tenantA, b1, a1)
				})
				t.Run("issuer 2, first tenant: mapped to B", func(t *testing.T) {
					m1Lands(t, k, service(tok2, idp2, 0), tenantB, tenantA, b1, a1)
				})
				t.Run("issuer 2, second tenant", func(t *testing.T) {
					tok := service(tok2, idp2, 1)
					if tc.idp2Tenant1InB {
						m1Lands(t, k, tok, tenantB, tenantA, b1, a1)
						return
					}
					m1AssertBearer401(t, m1Do(t, k, tok, http.MethodGet, "/api/v1/elastic-keys", nil), "invalid_token")
				})
				t.Run("a third issuer the KMS was not told about: 401", func(t *testing.T) {
					for n := range 2 {
						m1AssertBearer401(t, m1Do(t, k, service(tok3, idp3, n), http.MethodGet, "/api/v1/elastic-keys", nil), "invalid_token")
					}
				})
			})
		}
	})
}
