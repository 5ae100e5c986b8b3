package certauth_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/certauth"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

var (
	tenantA = uuid.MustParse("0b5e0c3c-9a57-4b8e-bd56-6a1c1f3f0a01")
	tenantB = uuid.MustParse("0b5e0c3c-9a57-4b8e-bd56-6a1c1f3f0a02")
)

// roleScopes is a toy role table: reader grants read, writer grants write.
func roleScopes(roles []string) []string {
	var out []string
	for _, r := range roles {
		switch r {
		case "reader":
			out = append(out, "read")
		case "writer":
			out = append(out, "write")
		}
	}
	return out
}

// expand is a toy implication rule: write implies read.
func expand(scopes []string) []string {
	out := slices.Clone(scopes)
	if slices.Contains(out, "write") && !slices.Contains(out, "read") {
		out = append(out, "read")
	}
	slices.Sort(out)
	return out
}

func checkRoles(roles []string) error {
	for _, r := range roles {
		if r != "reader" && r != "writer" {
			return fmt.Errorf("unknown role %q", r)
		}
	}
	return nil
}

func newAuth(t *testing.T, rules ...certauth.Rule) *certauth.Authenticator {
	t.Helper()
	a, err := certauth.New(certauth.Options{Rules: rules, RoleScopes: roleScopes, Scopes: expand, CheckRoles: checkRoles})
	require.NoError(t, err)
	return a
}

// clientCert issues a client certificate with the given SANs.
func clientCert(t *testing.T, chain *tlsx.Chain, uris, dns []string) *x509.Certificate {
	t.Helper()
	leaf, err := tlsx.IssueClientCert(chain, tlsx.ClientCertOptions{CommonName: "client", URIs: uris, DNSNames: dns})
	require.NoError(t, err)
	return leaf.Cert
}

// verified is a request whose TLS connection verified cert.
func verified(cert *x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://svc.local/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
	return r
}

func TestAuthenticate(t *testing.T) {
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	a := newAuth(t,
		certauth.Rule{URI: "spiffe://passthru.demo/billing", TenantID: tenantA, Roles: []string{"writer"}},
		certauth.Rule{URI: "spiffe://passthru.demo/reports", TenantID: tenantB, Subject: "reports app", Roles: []string{"reader"}},
		certauth.Rule{DNS: "batch.clients.local", TenantID: tenantB},
		certauth.Rule{DNS: "billing.clients.local", TenantID: tenantB, Roles: []string{"reader"}},
	)
	unverified := httptest.NewRequest(http.MethodGet, "https://svc.local/", nil)
	unverified.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{clientCert(t, chain, []string{"spiffe://passthru.demo/billing"}, nil)}}
	emptyChain := httptest.NewRequest(http.MethodGet, "https://svc.local/", nil)
	emptyChain.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{}}}

	cases := []struct {
		desc    string
		req     *http.Request
		want    *authn.Principal
		wantErr error
	}{
		{desc: "not TLS", req: httptest.NewRequest(http.MethodGet, "http://svc.local/", nil), wantErr: authn.ErrNoCredentials},
		{desc: "TLS without client certificate", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "https://svc.local/", nil)
			r.TLS = &tls.ConnectionState{}
			return r
		}(), wantErr: authn.ErrNoCredentials},
		{desc: "peer certificate the listener did not verify", req: unverified, wantErr: authn.ErrNoCredentials},
		{desc: "empty verified chain", req: emptyChain, wantErr: authn.ErrNoCredentials},
		{
			desc: "URI rule, subject defaults to the SAN, roles become expanded scopes",
			req:  verified(clientCert(t, chain, []string{"spiffe://passthru.demo/billing"}, nil)),
			want: &authn.Principal{
				Subject: "spiffe://passthru.demo/billing", TenantID: tenantA, Roles: []string{"writer"}, Scopes: []string{"read", "write"},
				Method: authn.MethodMTLS, ClientID: "spiffe://passthru.demo/billing",
			},
		},
		{
			desc: "configured subject",
			req:  verified(clientCert(t, chain, []string{"spiffe://passthru.demo/reports"}, nil)),
			want: &authn.Principal{
				Subject: "reports app", TenantID: tenantB, Roles: []string{"reader"}, Scopes: []string{"read"},
				Method: authn.MethodMTLS, ClientID: "spiffe://passthru.demo/reports",
			},
		},
		{
			desc: "DNS rule without roles",
			req:  verified(clientCert(t, chain, nil, []string{"batch.clients.local"})),
			want: &authn.Principal{Subject: "batch.clients.local", TenantID: tenantB, Method: authn.MethodMTLS, ClientID: "batch.clients.local"},
		},
		{
			desc: "DNS compared without case",
			req:  verified(clientCert(t, chain, nil, []string{"Batch.Clients.Local"})),
			want: &authn.Principal{Subject: "batch.clients.local", TenantID: tenantB, Method: authn.MethodMTLS, ClientID: "batch.clients.local"},
		},
		{
			desc: "URI rules win over DNS rules",
			req:  verified(clientCert(t, chain, []string{"spiffe://passthru.demo/billing"}, []string{"batch.clients.local"})),
			want: &authn.Principal{
				Subject: "spiffe://passthru.demo/billing", TenantID: tenantA, Roles: []string{"writer"}, Scopes: []string{"read", "write"},
				Method: authn.MethodMTLS, ClientID: "spiffe://passthru.demo/billing",
			},
		},
		{
			desc: "the first matching rule wins, whatever the SAN order",
			req:  verified(clientCert(t, chain, []string{"spiffe://passthru.demo/reports", "spiffe://passthru.demo/billing"}, nil)),
			want: &authn.Principal{
				Subject: "spiffe://passthru.demo/billing", TenantID: tenantA, Roles: []string{"writer"}, Scopes: []string{"read", "write"},
				Method: authn.MethodMTLS, ClientID: "spiffe://passthru.demo/billing",
			},
		},
		{
			desc: "first matching DNS rule",
			req:  verified(clientCert(t, chain, []string{"spiffe://passthru.demo/unknown"}, []string{"billing.clients.local", "batch.clients.local"})),
			want: &authn.Principal{Subject: "batch.clients.local", TenantID: tenantB, Method: authn.MethodMTLS, ClientID: "batch.clients.local"},
		},
		{desc: "unmapped certificate is refused, not passed on", req: verified(clientCert(t, chain, []string{"spiffe://passthru.demo/other"}, []string{"other.clients.local"})),
			wantErr: authn.ErrInvalidCredentials},
		{desc: "a prefix is no match", req: verified(clientCert(t, chain, []string{"spiffe://passthru.demo/billing/x"}, []string{"x.batch.clients.local"})),
			wantErr: authn.ErrInvalidCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := a.Authenticate(tc.req)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Nil(t, p)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
		})
	}
	assert.Empty(t, a.Challenge(), "TLS has no WWW-Authenticate scheme")
}

// TestPrincipalsAreIndependent: a handler changing its principal's slices
// does not change what the next request of the same client gets.
func TestPrincipalsAreIndependent(t *testing.T) {
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	a := newAuth(t, certauth.Rule{DNS: "app.local", TenantID: tenantA, Roles: []string{"writer"}})
	cert := clientCert(t, chain, nil, []string{"app.local"})
	p, err := a.Authenticate(verified(cert))
	require.NoError(t, err)
	p.Roles[0], p.Scopes[0] = "admin", "admin"
	p, err = a.Authenticate(verified(cert))
	require.NoError(t, err)
	assert.Equal(t, []string{"writer"}, p.Roles)
	assert.Equal(t, []string{"read", "write"}, p.Scopes)
}

func TestNewRefusesBadRules(t *testing.T) {
	cases := []struct {
		desc  string
		opts  certauth.Options
		wants []string
	}{
		{desc: "neither uri nor dns", opts: certauth.Options{Rules: []certauth.Rule{{TenantID: tenantA}}},
			wants: []string{"rules[0].uri: set exactly one of uri and dns"}},
		{desc: "both uri and dns", opts: certauth.Options{Rules: []certauth.Rule{{URI: "spiffe://x/a", DNS: "a.local", TenantID: tenantA}}},
			wants: []string{"rules[0].uri: set exactly one of uri and dns, not both"}},
		{desc: "relative uri", opts: certauth.Options{Rules: []certauth.Rule{{URI: "x/a", TenantID: tenantA}}},
			wants: []string{"rules[0].uri: ", "has no scheme"}},
		{desc: "uri not canonical", opts: certauth.Options{Rules: []certauth.Rule{{URI: "SPIFFE://x/a", TenantID: tenantA}}},
			wants: []string{`rules[0].uri: `, `write "spiffe://x/a"`}},
		{desc: "wildcard dns", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "*.local", TenantID: tenantA}}},
			wants: []string{"rules[0].dns: "}},
		{desc: "nil tenant", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "a.local"}}},
			wants: []string{"rules[0].tenant_id: required"}},
		{desc: "duplicate uri", opts: certauth.Options{Rules: []certauth.Rule{{URI: "spiffe://x/a", TenantID: tenantA}, {URI: "spiffe://x/a", TenantID: tenantB}}},
			wants: []string{`rules[1].uri: "spiffe://x/a" is already mapped by an earlier rule`}},
		{desc: "duplicate dns in another case", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA}, {DNS: "A.Local", TenantID: tenantB}}},
			wants: []string{`rules[1].dns: "a.local" is already mapped by an earlier rule`}},
		{desc: "subject with spaces around", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA, Subject: " app"}}},
			wants: []string{"rules[0].subject: leading or trailing spaces"}},
		{desc: "subject with a control character", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA, Subject: "a\nb"}}},
			wants: []string{"rules[0].subject: ", "non-printable"}},
		{desc: "subject too long", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA, Subject: strings.Repeat("s", 256)}}},
			wants: []string{"rules[0].subject: 256 bytes, the limit is 255"}},
		{desc: "empty role", opts: certauth.Options{RoleScopes: roleScopes, Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA, Roles: []string{""}}}},
			wants: []string{"rules[0].roles: entry 0 is empty"}},
		{desc: "roles without a mapping", opts: certauth.Options{Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA, Roles: []string{"reader"}}}},
			wants: []string{"rules[0].roles: granted, but no role-to-scope mapping was configured"}},
		{desc: "unknown role", opts: certauth.Options{RoleScopes: roleScopes, CheckRoles: checkRoles, Rules: []certauth.Rule{{DNS: "a.local", TenantID: tenantA, Roles: []string{"root"}}}},
			wants: []string{`rules[0].roles: unknown role "root"`}},
		{
			desc:  "every problem at once",
			opts:  certauth.Options{Rules: []certauth.Rule{{URI: "spiffe://x/a", TenantID: tenantA}, {}, {DNS: "b.local"}}},
			wants: []string{"rules[1].uri: set exactly one", "rules[1].tenant_id: required", "rules[2].tenant_id: required"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			a, err := certauth.New(tc.opts)
			require.ErrorIs(t, err, certauth.ErrInvalidRule)
			assert.Nil(t, a)
			for _, w := range tc.wants {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

// TestNoRules: without rules every verified certificate is refused, and
// requests without one still fall through to the next authenticator.
func TestNoRules(t *testing.T) {
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	a, err := certauth.New(certauth.Options{})
	require.NoError(t, err)
	_, err = a.Authenticate(verified(clientCert(t, chain, nil, []string{"a.local"})))
	assert.ErrorIs(t, err, authn.ErrInvalidCredentials)
	_, err = a.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
	assert.ErrorIs(t, err, authn.ErrNoCredentials)
}

// fallback stands for a Basic or bearer authenticator: it accepts every
// request with its own principal.
type fallback struct{}

func (fallback) Authenticate(*http.Request) (*authn.Principal, error) {
	return &authn.Principal{Subject: "basic user", Method: authn.MethodBasic}, nil
}
func (fallback) Challenge() string { return `Basic realm="svc"` }

// TestOverARealListener: through a real TLS 1.3 listener with client
// certificates optional, a mapped certificate authenticates by mTLS, a
// request without one falls through to the next authenticator, and an
// unmapped one is refused with 401 and no fallback.
func TestOverARealListener(t *testing.T) {
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	serverLeaf, err := chain.IssueLeaf(tlsx.LeafOptions{CommonName: "svc.test.local", IPs: []net.IP{net.IPv4(127, 0, 0, 1).To4()}, Server: true})
	require.NoError(t, err)
	cfg, err := tlsx.ServerConfigClientAuth(serverLeaf.TLSCertificate(), chain.Pool(), tls.VerifyClientCertIfGiven)
	require.NoError(t, err)
	a := newAuth(t, certauth.Rule{URI: "spiffe://passthru.demo/app", TenantID: tenantA, Roles: []string{"reader"}})
	auths := []authn.Authenticator{a, fallback{}}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authn.Authenticate(r, auths)
		if err != nil {
			authn.SetChallenges(w, auths, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = fmt.Fprintf(w, "%s %s %s", p.Method, p.Subject, p.TenantID)
	}))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)

	issue := func(uri string) *tls.Certificate {
		leaf, err := tlsx.IssueClientCert(chain, tlsx.ClientCertOptions{CommonName: "client", URIs: []string{uri}})
		require.NoError(t, err)
		c := leaf.TLSCertificate()
		return &c
	}
	cases := []struct {
		desc      string
		cert      *tls.Certificate
		wantCode  int
		wantBody  string
		wantChall []string
	}{
		{desc: "mapped certificate", cert: issue("spiffe://passthru.demo/app"), wantCode: http.StatusOK, wantBody: "mtls spiffe://passthru.demo/app " + tenantA.String()},
		{desc: "no certificate falls through", wantCode: http.StatusOK, wantBody: "basic basic user 00000000-0000-0000-0000-000000000000"},
		{desc: "unmapped certificate is refused", cert: issue("spiffe://passthru.demo/stranger"), wantCode: http.StatusUnauthorized,
			wantChall: []string{`Basic realm="svc"`}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: tlsx.ClientConfig(chain.Pool(), tc.cert), DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.wantCode, resp.StatusCode)
			if tc.wantBody != "" {
				assert.Equal(t, tc.wantBody, string(body))
			}
			assert.Equal(t, tc.wantChall, resp.Header.Values("WWW-Authenticate"), "mTLS adds no challenge")
		})
	}
}

// TestErrorsDoNotLeakRules: the refusal names neither the certificate's
// SANs nor the configured rules.
func TestErrorsDoNotLeakRules(t *testing.T) {
	chain, err := tlsx.NewChain(tlsx.ChainOptions{})
	require.NoError(t, err)
	a := newAuth(t, certauth.Rule{URI: "spiffe://passthru.demo/secret-app", TenantID: tenantA})
	_, err = a.Authenticate(verified(clientCert(t, chain, []string{"spiffe://passthru.demo/probe"}, nil)))
	require.True(t, errors.Is(err, authn.ErrInvalidCredentials))
	assert.NotContains(t, err.Error(), "secret-app")
	assert.NotContains(t, err.Error(), "probe")
}
