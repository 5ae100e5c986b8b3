package server_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/services/kms/api"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// m2CertClient is a TLS 1.3 client trusting only the KMS's CA and
// presenting cert (none when nil). It presents cert even when it does not
// chain to a CA the server names in its certificate request: Go's client
// would otherwise quietly send no certificate, and the server's own check
// of a foreign certificate would never be exercised.
func m2CertClient(t *testing.T, k *fixture.KMS, cert *tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: m2CertConfig(k, cert), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func m2CertConfig(k *fixture.KMS, cert *tls.Certificate) *tls.Config {
	cfg := tlsx.ClientConfig(k.Roots, nil)
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

func m2LoadPair(t *testing.T, certFile, keyFile string) *tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	return &pair
}

// m2ForeignCert is a client certificate from a CA the KMS does not trust,
// carrying the very URI the KMS maps for the demo tenant: only the chain
// differs.
func m2ForeignCert(t *testing.T, uri string) *tls.Certificate {
	t.Helper()
	chain, err := tlsx.NewChain(tlsx.ChainOptions{Name: "Elsewhere"})
	require.NoError(t, err)
	leaf, err := tlsx.IssueClientCert(chain, tlsx.ClientCertOptions{CommonName: "impostor", URIs: []string{uri}})
	require.NoError(t, err)
	c := leaf.TLSCertificate()
	return &c
}

// m2RequireTLSRefusal checks that the KMS refuses a client in the TLS
// layer: a handshake with cfg gets the server's alert, never an HTTP
// answer. It dials directly rather than through an http.Client, whose
// connection pool reports a failed HTTP/2 dial without the TLS cause.
func m2RequireTLSRefusal(t *testing.T, k *fixture.KMS, cfg *tls.Config, what string) {
	t.Helper()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(k.URL, "https://"))
	if err == nil {
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
		// TLS 1.3: the client finishes its side before the server has
		// checked the client's certificate; the verdict is the first
		// thing the client reads.
		_, err = conn.Read(make([]byte, 1))
	}
	require.Error(t, err, what)
	var op *net.OpError
	require.True(t, errors.As(err, &op), "%s: %v is not a network error", what, err)
	assert.Equal(t, "remote error", op.Op, "%s: the server sent a TLS alert: %v", what, err)
	assert.Contains(t, err.Error(), "tls: ", what)
	t.Logf("%s: refused in the handshake: %v", what, err)
}

// m2DemoCert is the demo client certificate of tenant n (writer role).
func m2DemoCert(t *testing.T, k *fixture.KMS, n int) (*tls.Certificate, string) {
	t.Helper()
	certs := k.Tenant(t, n).ClientCerts
	require.NotEmpty(t, certs, "a KMS demo asking for client certificates issues one per tenant")
	require.Equal(t, []string{kmsserver.DemoCertRole}, certs[0].Roles)
	return m2LoadPair(t, certs[0].CertFile, certs[0].KeyFile), certs[0].URI
}

// TestMTLSRequired: with tls.client_auth required, a client without a
// certificate or with one from another CA is refused in the handshake;
// the demo certificate acts as its tenant's writer (its keys listed and
// used, the audit trail closed to it) and the audit trail records its
// principal with method mtls.
func TestMTLSRequired(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b, fixture.WithKMSConfig(func(c *kmsserver.Config) { c.TLS.ClientAuth = config.ClientAuthRequired }))
		cert, uri := m2DemoCert(t, k, 0)
		keys := k.URL + "/api/v1/elastic-keys"

		refused := []struct {
			desc string
			cert *tls.Certificate
		}{
			{"no client certificate", nil},
			{"a certificate of another CA with the demo certificate's URI", m2ForeignCert(t, uri)},
		}
		for _, tc := range refused {
			m2RequireTLSRefusal(t, k, m2CertConfig(k, tc.cert), tc.desc)
		}

		hc := m2CertClient(t, k, cert)
		c, err := api.NewClientWithResponses(k.URL, api.WithHTTPClient(hc))
		require.NoError(t, err)
		list, err := c.ListElasticKeysWithResponse(t.Context(), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, list.StatusCode(), "%s", list.Body)
		keyID := k.Key(t, 0, "A256GCM").ID
		var found bool
		for _, key := range list.JSON200.Items {
			found = found || key.Id.String() == keyID
			assert.NotEqual(t, k.Key(t, 1, "A256GCM").ID, key.Id.String(), "tenant 1's key is not listed")
		}
		assert.True(t, found, "the certificate's tenant's demo key is listed")

		enc := m2Call(t, hc, http.MethodPost, keys+"/"+keyID+"/encrypt", map[string]any{"plaintext": "aGk="}, nil)
		require.Equal(t, http.StatusOK, enc.Status, "a writer encrypts: %s", enc.Body)
		audit := m2Call(t, hc, http.MethodGet, k.URL+"/api/v1/audit-events", nil, nil)
		assert.Equal(t, http.StatusForbidden, audit.Status, "a writer may not read the audit trail: %s", audit.Body)
		assert.Equal(t, "forbidden", audit.Code)
		assert.Contains(t, audit.Body, "kms:audit:read")

		// The tenant admin reads the trail with Basic, which a listener that
		// requires certificates never lets through (a certificate decides
		// first): the same KMS, restarted asking for certificates optionally.
		k = k.Restart(t, fixture.WithKMSConfig(func(c *kmsserver.Config) { c.TLS.ClientAuth = config.ClientAuthOptional }))
		events, err := k.APIAs(t, 0, "admin").ListAuditEventsWithResponse(t.Context(), &api.ListAuditEventsParams{})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, events.StatusCode(), "%s", events.Body)
		var byCert []api.AuditEvent
		for _, e := range events.JSON200.Items {
			if e.Method != nil && *e.Method == "mtls" {
				byCert = append(byCert, e)
			}
		}
		require.NotEmpty(t, byCert, "the certificate's calls are in the audit trail")
		var encrypted bool
		for _, e := range byCert {
			raw, _ := json.Marshal(e)
			assert.Equal(t, uri, e.Principal, "a demo rule names no subject: the URI is the principal: %s", raw)
			require.NotNil(t, e.ClientId, "%s", raw)
			assert.Equal(t, uri, *e.ClientId, "the certificate's URI is the client id: %s", raw)
			encrypted = encrypted || (e.Operation == "encrypt" && e.Outcome == "success")
		}
		assert.True(t, encrypted, "the encrypt by certificate is audited: %+v", byCert)
	})
}

// TestMTLSOptional: with tls.client_auth optional, a client without a
// certificate falls back to Basic, the demo certificate works, and a
// certificate of the demo CA that no rule maps gets 401 (the certificate
// is verified, but it names nobody the KMS knows).
func TestMTLSOptional(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b, fixture.WithKMSConfig(func(c *kmsserver.Config) { c.TLS.ClientAuth = config.ClientAuthOptional }))
		cert, _ := m2DemoCert(t, k, 0)
		other, err := k.IssueDemoClientCert("unmapped", []string{"spiffe://passthru.demo/nobody"}, nil)
		require.NoError(t, err)
		keys := k.URL + "/api/v1/elastic-keys"
		cases := []struct {
			desc   string
			cert   *tls.Certificate
			basic  bool
			status int
			code   string
		}{
			{"no certificate, no credentials", nil, false, http.StatusUnauthorized, "unauthenticated"},
			{"no certificate, Basic", nil, true, http.StatusOK, ""},
			{"demo certificate", cert, false, http.StatusOK, ""},
			{"unmapped certificate of the demo CA", m2LoadPair(t, other.CertFile, other.KeyFile), false, http.StatusUnauthorized, "unauthenticated"},
			{"foreign certificate", m2ForeignCert(t, "spiffe://passthru.demo/elsewhere"), false, 0, ""},
		}
		for _, tc := range cases {
			if tc.status == 0 {
				// Optional still verifies a presented certificate.
				m2RequireTLSRefusal(t, k, m2CertConfig(k, tc.cert), tc.desc)
				continue
			}
			hc := m2CertClient(t, k, tc.cert)
			var auth func(*http.Request)
			if tc.basic {
				auth = m2Basic(k.User(t, 0, "writer"))
			}
			a := m2Call(t, hc, http.MethodGet, keys, nil, auth)
			assert.Equal(t, tc.status, a.Status, "%s: %s", tc.desc, a.Body)
			assert.Equal(t, tc.code, a.Code, tc.desc)
		}
	})
}

// m2RegisterTLSClient registers, in Identity tenant n, a resource-server
// client that authenticates with a client certificate carrying uri (RFC
// 8705 tls_client_auth), through the admin API with the demo admin
// client's token, and returns its client id.
func m2RegisterTLSClient(t *testing.T, idp *fixture.Identity, n int, uri string) string {
	t.Helper()
	admin := m2Token(t, idp, n, m2AdminPrefix)
	a := m2Call(t, idp.Client, http.MethodPost, idp.URL+"/api/v1/admin/clients", map[string]any{
		"name": "KMS over mTLS", "kind": "resource_server", "can_introspect": true, "audiences": []string{"kms"},
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": uri,
	}, m2Bearer(admin))
	require.Equal(t, http.StatusCreated, a.Status, "register the KMS's tls_client_auth client: %s", a.Body)
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Method       string `json:"token_endpoint_auth_method"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &created))
	require.NotEmpty(t, created.ClientID)
	assert.Empty(t, created.ClientSecret, "a tls_client_auth client has no secret")
	assert.Equal(t, "tls_client_auth", created.Method)
	return created.ClientID
}

// TestIntrospectionWithTLSClientAuth: the KMS authenticates to Identity's
// introspection endpoint with a client certificate instead of a secret
// (revocation.method tls_client_auth). Identity asks for certificates
// optionally and knows the KMS as one resource-server client per tenant
// bound to the certificate's URI. A sensitive call introspects through it
// and succeeds; a revoked token is refused at once. A KMS whose
// certificate carries another URI of the same CA cannot introspect, so its
// sensitive calls get 503: the certificate, not anything else, is what
// Identity accepted.
func TestIntrospectionWithTLSClientAuth(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		pki := filepath.Join(t.TempDir(), "tls")
		idp := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki),
			fixture.WithIdentityConfig(func(c *identityserver.Config) { c.TLS.ClientAuth = config.ClientAuthOptional }))
		uris := []string{"spiffe://passthru.demo/kms/" + idp.Tenant(t, 0).Name, "spiffe://passthru.demo/kms/" + idp.Tenant(t, 1).Name}
		cert, err := idp.IssueDemoClientCert("kms-introspection", uris, nil)
		require.NoError(t, err)
		stranger, err := idp.IssueDemoClientCert("kms-stranger", []string{"spiffe://passthru.demo/kms/stranger"}, nil)
		require.NoError(t, err)

		issuer := func(certFile, keyFile string) kmsserver.IssuerConfig {
			is := kmsserver.IssuerConfig{
				Issuer: idp.Demo.Issuer, CAFile: idp.CAFile, Audiences: []string{kmsserver.DefaultAudience},
				Revocation: kmsserver.RevocationConfig{
					Mode: kmsserver.RevocationSensitive, Interval: m2Interval,
					Method: "tls_client_auth", CertFile: certFile, KeyFile: keyFile,
				},
			}
			for n := range idp.Demo.Tenants {
				is.Revocation.Clients = append(is.Revocation.Clients, kmsserver.IntrospectionClient{
					TenantID: idp.Tenant(t, n).ID, ClientID: m2RegisterTLSClient(t, idp, n, uris[n]),
				})
			}
			return is
		}
		clk := fixture.NewIdentityClock(time.Now())
		is := issuer(cert.CertFile, cert.KeyFile)
		k := m2StartKMS(t, b, pki, idp, clk, nil, is)
		checker := k.Introspection[is.Issuer]
		require.NotNil(t, checker)
		ct := m2Ciphertext(t, k)

		for n := range 2 {
			tok := m2Token(t, idp, n, m2ServicePrefix)
			before := checker.Stats().Calls
			// Tenant 0 decrypts its ciphertext; tenant 1 cannot find the
			// key (404) but only after its token was introspected.
			want := http.StatusOK
			if n == 1 {
				want = http.StatusNotFound
			}
			a := m2Send(t, k, ct, m2Decrypt, m2Bearer(tok))
			assert.Equal(t, want, a.Status, "tenant %d decrypts with a token introspected over mTLS: %s", n, a.Body)
			assert.Equal(t, uint64(1), checker.Stats().Calls-before, "tenant %d: one introspection call", n)
		}

		tok := m2Token(t, idp, 0, m2ServicePrefix)
		a := m2Send(t, k, ct, m2Decrypt, m2Bearer(tok))
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		m2Revoke(t, idp, 0, m2ServicePrefix, tok)
		before := checker.Stats().Calls
		a = m2Send(t, k, ct, m2Decrypt, m2Bearer(tok))
		assert.Equal(t, http.StatusUnauthorized, a.Status, "a revoked token: %s", a.Body)
		assert.Equal(t, "unauthenticated", a.Code)
		assert.Equal(t, uint64(1), checker.Stats().Calls-before, "the refusal came from Identity")

		is = issuer(stranger.CertFile, stranger.KeyFile)
		other := m2StartKMS(t, b, pki, idp, clk, nil, is)
		a = m2Send(t, other, m2Ciphertext(t, other), m2Decrypt, m2Bearer(m2Token(t, idp, 0, m2ServicePrefix)))
		assert.Equal(t, http.StatusServiceUnavailable, a.Status, "a certificate Identity does not know for the client: %s", a.Body)
		assert.Equal(t, "unavailable", a.Code)
		assert.Equal(t, uint64(1), other.Introspection[is.Issuer].Stats().Calls)
	})
}
