package oauth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/tlstest"
)

// Certificate SANs of the tls_client_auth clients below.
const (
	rsSANURI  = "spiffe://passthru.test/tenant/kms"
	svcSANDNS = "svc.passthru.test"
)

// certOf is a client certificate carrying the given SANs. The TLS layer
// verifies chains; the endpoints only read what it verified, so a bare
// certificate stands for the leaf of a verified chain here.
func certOf(t *testing.T, uri, dns string) *x509.Certificate {
	t.Helper()
	c := &x509.Certificate{}
	if uri != "" {
		u, err := url.Parse(uri)
		require.NoError(t, err)
		c.URIs = []*url.URL{u}
	}
	if dns != "" {
		c.DNSNames = []string{dns}
	}
	return c
}

// verified is the connection state of a client that presented cert and
// whose chain the TLS layer verified.
func verified(cert *x509.Certificate) *tls.ConnectionState {
	return &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{cert},
		VerifiedChains: [][]*x509.Certificate{{cert}}}
}

// presented is the state of a client whose certificate was not verified
// (a listener that requests certificates without verifying them).
func presented(cert *x509.Certificate) *tls.ConnectionState {
	return &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{cert}}
}

// mtlsRig adds tls_client_auth clients to a rig: a resource server named
// by a URI SAN and a service client named by a DNS SAN.
type mtlsRig struct {
	*rig
	mux   *http.ServeMux
	rsTLS *identity.Client
	svc   *identity.Client
}

func newMTLSRig(t *testing.T, b dbtest.Backend) *mtlsRig {
	t.Helper()
	r := &mtlsRig{rig: newRig(t, b), mux: http.NewServeMux()}
	r.s.Register(r.mux)
	st := storeOf(r.s)
	r.rsTLS = &identity.Client{ClientID: "rs-tls-" + r.tenant.String()[:8], Name: "rs tls", Kind: identity.KindResourceServer,
		TokenEndpointAuthMethod: identity.AuthTLSClientAuth, TLSClientAuthSANURI: rsSANURI, CanIntrospect: true, Audiences: []string{"kms"}}
	require.NoError(t, st.CreateClient(t.Context(), r.tenant, r.rsTLS))
	r.svc = &identity.Client{ClientID: "svc-tls-" + r.tenant.String()[:8], Name: "svc tls", Kind: identity.KindService,
		TokenEndpointAuthMethod: identity.AuthTLSClientAuth, TLSClientAuthSANDNS: svcSANDNS,
		GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"kms:read"}, Audiences: []string{"kms"}}
	require.NoError(t, st.CreateClient(t.Context(), r.tenant, r.svc))
	return r
}

// request is one form POST through the router.
type request struct {
	path      string
	form      url.Values
	tls       *tls.ConnectionState
	basicUser string // Basic credentials when set
	basicPass string
}

func (r *mtlsRig) do(t *testing.T, q request) (int, map[string]any, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, q.path, strings.NewReader(q.form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = q.tls
	if q.basicUser != "" {
		req.SetBasicAuth(q.basicUser, q.basicPass)
	}
	w := httptest.NewRecorder()
	r.mux.ServeHTTP(w, req)
	out := map[string]any{}
	if w.Body.Len() > 0 {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	}
	return w.Code, out, w.Header()
}

func TestTLSClientAuth(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newMTLSRig(t, b)
		token := r.mint(t, testIssuer, nil)
		rsCert := certOf(t, rsSANURI, "")
		svcCert := certOf(t, "", svcSANDNS)
		introspect := func(id string, extra url.Values) url.Values {
			v := url.Values{"token": {token}}
			if id != "" {
				v.Set("client_id", id)
			}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}
		disabled := &identity.Client{ClientID: "rs-off-" + r.tenant.String()[:8], Name: "off", Kind: identity.KindResourceServer,
			TokenEndpointAuthMethod: identity.AuthTLSClientAuth, TLSClientAuthSANURI: rsSANURI + "/off", CanIntrospect: true, Disabled: true}
		require.NoError(t, storeOf(r.s).CreateClient(t.Context(), r.tenant, disabled))

		for _, tc := range []struct {
			desc       string
			q          request
			wantStatus int
			wantCode   string // OAuth error code; "" for success
		}{
			{desc: "right URI SAN and client_id introspect", wantStatus: 200,
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil), tls: verified(rsCert)}},
			{desc: "right DNS SAN gets a client_credentials token", wantStatus: 200,
				q: request{path: PathToken, form: url.Values{"grant_type": {GrantClientCredentials}, "client_id": {r.svc.ClientID}}, tls: verified(svcCert)}},
			{desc: "right certificate works for batch introspection", wantStatus: 200,
				q: request{path: PathIntrospectBatch, form: introspect(r.rsTLS.ClientID, nil), tls: verified(rsCert)}},
			{desc: "right certificate works for revocation (an unknown token is a quiet success)", wantStatus: 200,
				q: request{path: PathRevoke, form: url.Values{"token": {"unknown"}, "client_id": {r.rsTLS.ClientID}}, tls: verified(rsCert)}},
			{desc: "a wrong certificate is refused at revocation", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathRevoke, form: url.Values{"token": {"unknown"}, "client_id": {r.rsTLS.ClientID}}, tls: verified(svcCert)}},
			{desc: "a certificate with another URI SAN is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil), tls: verified(certOf(t, rsSANURI+"x", ""))}},
			{desc: "another client's certificate is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil), tls: verified(svcCert)}},
			{desc: "the right SAN as DNS instead of URI is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathToken, form: url.Values{"grant_type": {GrantClientCredentials}, "client_id": {r.svc.ClientID}}, tls: verified(certOf(t, "https://"+svcSANDNS, ""))}},
			{desc: "an unverified certificate is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil), tls: presented(rsCert)}},
			{desc: "TLS without a certificate is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil), tls: &tls.ConnectionState{Version: tls.VersionTLS13}}},
			{desc: "no TLS at all is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil)}},
			{desc: "a secret in the form for a tls client is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, url.Values{"client_secret": {r.rsPass}}), tls: verified(rsCert)}},
			{desc: "Basic credentials for a tls client are refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect("", nil), tls: verified(rsCert), basicUser: r.rsTLS.ClientID, basicPass: r.rsPass}},
			{desc: "a certificate for a secret client without its secret is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(r.rs.ClientID, nil), tls: verified(rsCert)}},
			{desc: "a secret client with its secret ignores a certificate", wantStatus: 200,
				q: request{path: PathIntrospect, form: introspect("", nil), tls: verified(rsCert), basicUser: r.rs.ClientID, basicPass: r.rsPass}},
			{desc: "a certificate without client_id is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect("", nil), tls: verified(rsCert)}},
			{desc: "a disabled tls client is refused", wantStatus: 401, wantCode: "invalid_client",
				q: request{path: PathIntrospect, form: introspect(disabled.ClientID, nil), tls: verified(certOf(t, rsSANURI+"/off", ""))}},
			{desc: "a tls client that may not introspect gets 403", wantStatus: 403, wantCode: "unauthorized_client",
				q: request{path: PathIntrospect, form: introspect(r.svc.ClientID, nil), tls: verified(svcCert)}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				status, body, _ := r.do(t, tc.q)
				require.Equal(t, tc.wantStatus, status, body)
				if tc.wantCode != "" {
					assert.Equal(t, tc.wantCode, body["error"], body)
				} else {
					assert.NotContains(t, body, "error")
				}
			})
		}

		t.Run("introspection through tls_client_auth sees the token", func(t *testing.T) {
			status, body, _ := r.do(t, request{path: PathIntrospect, form: introspect(r.rsTLS.ClientID, nil), tls: verified(rsCert)})
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, true, body["active"])
			assert.Equal(t, r.tenant.String(), body["tenant_id"])
		})

		t.Run("the token a certificate got is the client's own", func(t *testing.T) {
			status, body, _ := r.do(t, request{path: PathToken, form: url.Values{"grant_type": {GrantClientCredentials}, "client_id": {r.svc.ClientID}}, tls: verified(svcCert)})
			require.Equal(t, http.StatusOK, status, body)
			access := body["access_token"].(string)
			got := r.introspect(t, access)
			assert.Equal(t, true, got["active"])
			assert.Equal(t, r.svc.ClientID, got["client_id"])
			assert.Equal(t, r.svc.ClientID, got["sub"])
			assert.Equal(t, "kms:read", got["scope"])

			status, body, _ = r.do(t, request{path: PathRevoke, form: url.Values{"token": {access}, "client_id": {r.svc.ClientID}}, tls: verified(svcCert)})
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, false, r.introspect(t, access)["active"], "the client revoked its own token with its certificate")
		})
	})
}

// TestTLSClientAuthOverTLS runs the token endpoint behind a TLS 1.3 listener
// that verifies optional client certificates against a test CA, as the
// service's listener does: the verified chain reaches the endpoint, and a
// client without a certificate still gets through to the secret methods.
func TestTLSClientAuthOverTLS(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newMTLSRig(t, b)
		pki := tlstest.New(t)
		cfg := pki.ServerConfig()
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = pki.Roots
		srv := httptest.NewUnstartedServer(r.mux)
		srv.TLS = cfg
		srv.StartTLS()
		t.Cleanup(srv.Close)

		leaf, err := pki.Chain.IssueLeaf(tlsx.LeafOptions{CommonName: svcSANDNS, Client: true})
		require.NoError(t, err)
		other, err := pki.Chain.IssueLeaf(tlsx.LeafOptions{CommonName: "other.passthru.test", Client: true})
		require.NoError(t, err)
		grant := func(c *http.Client, form url.Values) int {
			t.Helper()
			resp, err := c.PostForm(srv.URL+PathToken, form)
			require.NoError(t, err)
			defer resp.Body.Close()
			return resp.StatusCode
		}
		cc := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {r.svc.ClientID}}
		for _, tc := range []struct {
			desc   string
			client *http.Client
			form   url.Values
			want   int
		}{
			{desc: "the registered certificate", client: pki.MTLSClient(leaf.TLSCertificate()), form: cc, want: http.StatusOK},
			{desc: "a certificate of the same CA with another SAN", client: pki.MTLSClient(other.TLSCertificate()), form: cc, want: http.StatusUnauthorized},
			{desc: "no certificate", client: pki.Client(), form: cc, want: http.StatusUnauthorized},
			{desc: "a secret client without a certificate", client: pki.Client(), want: http.StatusBadRequest, // authenticated; the grant is not its
				form: url.Values{"grant_type": {GrantClientCredentials}, "client_id": {r.rs.ClientID}, "client_secret": {r.rsPass}}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				assert.Equal(t, tc.want, grant(tc.client, tc.form))
			})
		}
	})
}
