package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/introspect"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// Identity demo client id prefixes these tests get tokens for.
const (
	m2ServicePrefix = "demo-service" // kms:admin kms:write kms:read, audience kms
	m2AdminPrefix   = "demo-admin"   // identity:admin, audience identity
)

// m2Answer is one KMS (or Identity) response: its status, body and, for a
// problem+json answer, the problem code.
type m2Answer struct {
	Status int
	Body   string
	Code   string
	Header http.Header
}

// m2Call sends one JSON request with hc and reads the whole answer.
func m2Call(t *testing.T, hc *http.Client, method, target string, body any, auth func(*http.Request)) m2Answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err, "%s %s", method, target)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := m2Answer{Status: resp.StatusCode, Body: string(raw), Header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var p struct {
			Code string `json:"code"`
		}
		require.NoError(t, json.Unmarshal(raw, &p), "problem body %s", raw)
		a.Code = p.Code
	}
	return a
}

func m2Bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func m2Basic(u demofile.User) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(u.Username, u.Password) }
}

// m2Client returns the Identity demo client of tenant n whose id starts with prefix.
// m2Token gets an access token of tenant n's demo client with prefix.
func m2Token(t *testing.T, idp *fixture.Identity, n int, prefix string) string {
	t.Helper()
	return idp.ClientToken(t, idp.ClientWithPrefix(t, n, prefix))
}

// m2Revoke revokes tok at Identity (RFC 7009) as the client that holds it.
func m2Revoke(t *testing.T, idp *fixture.Identity, n int, prefix, tok string) {
	t.Helper()
	c := idp.ClientWithPrefix(t, n, prefix)
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, idp.URL+"/oauth2/v1/revoke", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := idp.Client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "revoke")
}

// m2Issuer is an explicit trust of idp with the given revocation mode and
// interval: the demo resource-server client of each Identity tenant, its
// secret in a file as an operator would configure it.
func m2Issuer(t *testing.T, idp *fixture.Identity, mode string, interval time.Duration) kmsserver.IssuerConfig {
	t.Helper()
	is := kmsserver.IssuerConfig{
		Issuer: idp.Demo.Issuer, CAFile: idp.CAFile, Audiences: []string{kmsserver.DefaultAudience},
		Revocation: kmsserver.RevocationConfig{Mode: mode, Interval: interval},
	}
	if mode == kmsserver.RevocationNone {
		return is
	}
	dir := t.TempDir()
	for n := range idp.Demo.Tenants {
		rs := idp.ClientOfKind(t, n, demofile.KindResourceServer)
		path := filepath.Join(dir, rs.ClientID)
		require.NoError(t, os.WriteFile(path, []byte(rs.ClientSecret+"\n"), 0o600))
		is.Revocation.Clients = append(is.Revocation.Clients, kmsserver.IntrospectionClient{
			TenantID: idp.Tenant(t, n).ID, ClientID: rs.ClientID, ClientSecretFile: path,
		})
	}
	return is
}

// m2StartKMS starts a KMS sharing idp's PKI directory and tenants, trusting
// issuers, on the clock clk.
func m2StartKMS(t *testing.T, b dbtest.Backend, pki string, idp *fixture.Identity, clk *fixture.IdentityClock, edit func(*kmsserver.Config), issuers ...kmsserver.IssuerConfig) *fixture.KMS {
	t.Helper()
	return fixture.StartKMS(t, b, fixture.WithKMSPKIDir(pki),
		func(o *kmsserver.Options) { o.Now = clk.Now },
		fixture.WithKMSConfig(func(c *kmsserver.Config) {
			c.Demo.IdentityFile = idp.DemoFile
			c.Auth.Issuers = issuers
			if edit != nil {
				edit(c)
			}
		}))
}

// m2Stop shuts idp down, as an outage would.
func m2Stop(t *testing.T, idp *fixture.Identity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	idp.Client.CloseIdleConnections()
	require.NoError(t, idp.Shutdown(ctx), "stop identity")
}

// m2Ciphertext encrypts with tenant 0's demo A256GCM key as the demo writer
// (Basic), for a decrypt (a sensitive call) later.
func m2Ciphertext(t *testing.T, k *fixture.KMS) string {
	t.Helper()
	keyID := k.Key(t, 0, "A256GCM").ID
	a := m2Call(t, k.Client, http.MethodPost, k.URL+"/api/v1/elastic-keys/"+keyID+"/encrypt",
		map[string]any{"plaintext": "aGVsbG8="}, m2Basic(k.User(t, 0, "writer")))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.Body), &out))
	return out.Ciphertext
}

// m2Probe is what one step of the outage tests sends.
type m2Probe struct {
	sensitive bool // decrypt (x-sensitive) instead of listing keys
}

func (p m2Probe) String() string {
	if p.sensitive {
		return "decrypt"
	}
	return "list keys"
}

func m2Send(t *testing.T, k *fixture.KMS, ct string, p m2Probe, auth func(*http.Request)) m2Answer {
	t.Helper()
	if p.sensitive {
		keyID := k.Key(t, 0, "A256GCM").ID
		return m2Call(t, k.Client, http.MethodPost, k.URL+"/api/v1/elastic-keys/"+keyID+"/decrypt", map[string]any{"ciphertext": ct}, auth)
	}
	return m2Call(t, k.Client, http.MethodGet, k.URL+"/api/v1/elastic-keys", nil, auth)
}

var (
	m2List    = m2Probe{}
	m2Decrypt = m2Probe{sensitive: true}
)

// m2Step is one request of a revocation or outage scenario: the KMS clock
// moves by advance first, then probe is sent with the token and must get
// status (and problem code); calls is how many introspection calls the
// request may make.
type m2Step struct {
	advance time.Duration
	probe   m2Probe
	status  int
	code    string
	calls   uint64
}

// m2Interval is the revocation bound of the explicit trusts below.
const m2Interval = 30 * time.Second

// TestBearerRevocationAndOutageByMode: for every revocation mode, a KMS
// configured explicitly for it refuses a revoked token within the mode's
// bound, and behaves as the README's table says while Identity is down:
// none keeps answering from the token alone, interval answers until the
// bound then 503, sensitive refuses sensitive calls at once and the rest
// after the bound, every-request refuses at once. Basic is unaffected. The
// introspection calls each step makes are counted.
func TestBearerRevocationAndOutageByMode(t *testing.T) {
	past := m2Interval + time.Second
	// Steps that probe both sides of the bound: a second before it, then
	// a second after it (the last check was when the token was first used).
	before, after := m2Interval-time.Second, 2*time.Second
	cases := []struct {
		desc    string
		mode    string
		revoked []m2Step // after the token was used once and revoked (Identity up)
		outage  []m2Step // after a fresh token was used once and Identity stopped
	}{
		{
			desc: "none: never asks Identity, a revoked token works until it expires, an outage changes nothing",
			mode: kmsserver.RevocationNone,
			revoked: []m2Step{
				{probe: m2List, status: 200},
				{probe: m2Decrypt, status: 200},
				{advance: past, probe: m2List, status: 200},
			},
			outage: []m2Step{
				{probe: m2List, status: 200},
				{probe: m2Decrypt, status: 200},
				{advance: past, probe: m2Decrypt, status: 200},
			},
		},
		{
			desc: "interval: revoked and down both show only once the bound has passed",
			mode: kmsserver.RevocationInterval,
			revoked: []m2Step{
				{probe: m2List, status: 200},
				{probe: m2Decrypt, status: 200},
				{advance: before, probe: m2List, status: 200},
				{advance: after, probe: m2List, status: 401, code: "unauthenticated", calls: 1},
				{probe: m2Decrypt, status: 401, code: "unauthenticated"}, // the inactive answer is remembered
			},
			outage: []m2Step{
				{probe: m2List, status: 200},
				{probe: m2Decrypt, status: 200},
				{advance: before, probe: m2Decrypt, status: 200},
				{advance: after, probe: m2List, status: 503, code: "unavailable", calls: 1},
				{probe: m2Decrypt, status: 503, code: "unavailable", calls: 1},
			},
		},
		{
			desc: "sensitive: decrypt asks Identity every time, listing within the bound",
			mode: kmsserver.RevocationSensitive,
			revoked: []m2Step{
				{probe: m2List, status: 200},
				{probe: m2Decrypt, status: 401, code: "unauthenticated", calls: 1},
				{probe: m2List, status: 401, code: "unauthenticated"}, // the inactive answer serves the rest too
			},
			outage: []m2Step{
				{probe: m2Decrypt, status: 503, code: "unavailable", calls: 1},
				{probe: m2List, status: 200},
				{advance: before, probe: m2List, status: 200},
				{advance: after, probe: m2List, status: 503, code: "unavailable", calls: 1},
			},
		},
		{
			desc: "every-request: every request asks Identity",
			mode: kmsserver.RevocationEveryRequest,
			revoked: []m2Step{
				{probe: m2List, status: 401, code: "unauthenticated", calls: 1},
				{probe: m2Decrypt, status: 401, code: "unauthenticated"},
			},
			outage: []m2Step{
				{probe: m2List, status: 503, code: "unavailable", calls: 1},
				{probe: m2Decrypt, status: 503, code: "unavailable", calls: 1},
			},
		},
	}
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		for _, tc := range cases {
			t.Run(tc.mode, func(t *testing.T) {
				pki := filepath.Join(t.TempDir(), "tls")
				idp := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))
				clk := fixture.NewIdentityClock(time.Now())
				is := m2Issuer(t, idp, tc.mode, m2Interval)
				k := m2StartKMS(t, b, pki, idp, clk, nil, is)
				ct := m2Ciphertext(t, k)
				calls := func() uint64 {
					c, ok := k.Introspection[is.Issuer]
					if !ok {
						return 0
					}
					return c.Stats().Calls
				}
				if tc.mode == kmsserver.RevocationNone {
					assert.Empty(t, k.Introspection, "mode none has no introspection checker")
				} else {
					require.Equal(t, introspect.Mode(tc.mode), k.Introspection[is.Issuer].Mode())
				}
				run := func(phase, tok string, steps []m2Step) {
					for i, s := range steps {
						clk.Advance(s.advance)
						before := calls()
						a := m2Send(t, k, ct, s.probe, m2Bearer(tok))
						what := fmt.Sprintf("%s: %s step %d (%s after %s)", tc.desc, phase, i, s.probe, s.advance)
						assert.Equal(t, s.status, a.Status, "%s: %s", what, a.Body)
						assert.Equal(t, s.code, a.Code, what)
						assert.Equal(t, s.calls, calls()-before, "%s: introspection calls", what)
						if s.status == http.StatusServiceUnavailable {
							assert.NotEmpty(t, a.Header.Get("Retry-After"), what)
						}
					}
				}

				// A token used once while Identity is up, then revoked.
				revoked := m2Token(t, idp, 0, m2ServicePrefix)
				before := calls()
				a := m2Send(t, k, ct, m2List, m2Bearer(revoked))
				require.Equal(t, http.StatusOK, a.Status, a.Body)
				if tc.mode != kmsserver.RevocationNone {
					require.Equal(t, uint64(1), calls()-before, "the first use of a token is checked at Identity")
				}
				m2Revoke(t, idp, 0, m2ServicePrefix, revoked)
				run("revoked", revoked, tc.revoked)

				// A fresh token used once while Identity is up; then Identity stops.
				tok := m2Token(t, idp, 0, m2ServicePrefix)
				a = m2Send(t, k, ct, m2List, m2Bearer(tok))
				require.Equal(t, http.StatusOK, a.Status, a.Body)
				m2Stop(t, idp)
				run("outage", tok, tc.outage)

				// Passwords do not depend on Identity.
				for _, p := range []m2Probe{m2List, m2Decrypt} {
					a := m2Send(t, k, ct, p, m2Basic(k.User(t, 0, "writer")))
					assert.Equal(t, http.StatusOK, a.Status, "Basic %s while Identity is down: %s", p, a.Body)
				}
			})
		}
	})
}

// TestBearerIssuerNeverReachable: a KMS whose issuer could never be reached
// (Identity stopped before the KMS started, so no key set was ever
// fetched) answers bearer requests 503 unavailable, without a word on the
// token, while Basic keeps working.
func TestBearerIssuerNeverReachable(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		pki := filepath.Join(t.TempDir(), "tls")
		idp := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))
		tok := m2Token(t, idp, 0, m2ServicePrefix)
		m2Stop(t, idp)
		clk := fixture.NewIdentityClock(time.Now())
		k := m2StartKMS(t, b, pki, idp, clk, nil, m2Issuer(t, idp, kmsserver.RevocationNone, 0))
		require.NotNil(t, k.Tokens)

		for i := range 2 {
			// The second attempt comes after the refetch interval, so it
			// tries Identity again and fails again.
			clk.Advance(time.Duration(i) * 11 * time.Second)
			a := m2Send(t, k, "", m2List, m2Bearer(tok))
			assert.Equal(t, http.StatusServiceUnavailable, a.Status, a.Body)
			assert.Equal(t, "unavailable", a.Code)
			assert.NotEmpty(t, a.Header.Get("Retry-After"))
		}
		assert.Zero(t, k.Tokens.Stats().Verifications, "no token was checked against keys that never came")
		a := m2Send(t, k, "", m2List, m2Basic(k.User(t, 0, "writer")))
		assert.Equal(t, http.StatusOK, a.Status, "Basic while the issuer is unreachable: %s", a.Body)
	})
}
