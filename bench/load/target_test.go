package load

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/tlstest"
)

func TestCheckLoopback(t *testing.T) {
	cases := []struct {
		desc, url string
		ok        bool
		notLoop   bool
	}{
		{desc: "IPv4 loopback", url: "https://127.0.0.1:8081", ok: true},
		{desc: "anywhere in 127/8", url: "https://127.1.2.3:8081", ok: true},
		{desc: "IPv6 loopback", url: "https://[::1]:8081", ok: true},
		{desc: "localhost", url: "https://localhost:8081", ok: true},
		{desc: "a LAN address", url: "https://192.168.1.10:8081", notLoop: true},
		{desc: "a host name that could resolve anywhere", url: "https://kms.example.com", notLoop: true},
		{desc: "localhost as a subdomain", url: "https://localhost.example.com", notLoop: true},
		{desc: "unspecified address", url: "https://0.0.0.0:8081", notLoop: true},
		{desc: "plain HTTP", url: "http://127.0.0.1:8081"},
		{desc: "not a URL", url: "https://[::1"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := CheckLoopback(tc.url)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.notLoop, errors.Is(err, ErrNotLoopback), err.Error())
		})
	}
}

// writeDemoFiles writes a KMS and an Identity demo.json for base URLs.
func writeDemoFiles(t *testing.T, kmsURL, idURL, ca string) (string, string) {
	t.Helper()
	tenant := demofile.Tenant{ID: "t1", Name: "demo-tenant-a",
		Users: []demofile.User{{Username: "admin@a", Password: "p", Roles: []string{"admin"}}, {Username: "writer@a", Password: "w", Roles: []string{"writer"}}},
		Keys:  []demofile.Key{{ID: "k", Name: "demo-a256gcm", Algorithm: "A256GCM", Purpose: "encrypt"}},
	}
	kmsDir, idDir := filepath.Join(t.TempDir(), "kms"), filepath.Join(t.TempDir(), "identity")
	require.NoError(t, os.MkdirAll(kmsDir, 0o700))
	require.NoError(t, os.MkdirAll(idDir, 0o700))
	k, err := demofile.Write(kmsDir, &demofile.File{Service: "kms", BaseURL: kmsURL, CAFile: ca, Tenants: []demofile.Tenant{tenant},
		Trust: &demofile.Trust{Issuer: idURL, Audience: "kms"}})
	require.NoError(t, err)
	idTenant := demofile.Tenant{ID: "t1", Name: "demo-tenant-a", Clients: []demofile.Client{
		{ClientID: "reader", ClientSecret: "r", Kind: demofile.KindService, Audience: "kms", Scopes: []string{"kms:read"}},
		{ClientID: "svc", ClientSecret: "s", Kind: demofile.KindService, Audience: "kms", Scopes: []string{"kms:write"}},
		{ClientID: "rs", ClientSecret: "x", Kind: demofile.KindResourceServer, Audience: "kms"},
	}}
	i, err := demofile.Write(idDir, &demofile.File{Service: "identity", BaseURL: idURL, CAFile: ca, Tenants: []demofile.Tenant{idTenant}})
	require.NoError(t, err)
	return k, i
}

func TestTargetFromDemoFiles(t *testing.T) {
	k, i := writeDemoFiles(t, "https://127.0.0.1:1", "https://127.0.0.1:2", "/ca.pem")
	tgt, err := TargetFromDemoFiles(k, i, "", "", "")
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:1", tgt.KMSURL)
	assert.Equal(t, "https://127.0.0.1:2", tgt.IdentityURL)
	assert.Equal(t, "/ca.pem", tgt.CAFile)

	tgt, err = TargetFromDemoFiles(k, i, "https://localhost:3", "https://[::1]:4", "/other.pem")
	require.NoError(t, err)
	assert.Equal(t, &Target{KMSURL: "https://localhost:3", IdentityURL: "https://[::1]:4", CAFile: "/other.pem", KMS: tgt.KMS, Identity: tgt.Identity}, tgt)

	_, err = TargetFromDemoFiles(k, i, "", "https://10.0.0.2:8082", "")
	assert.ErrorIs(t, err, ErrNotLoopback, "a flag cannot point the harness off the machine")
	far, farID := writeDemoFiles(t, "https://kms.example.com", "https://127.0.0.1:2", "/ca.pem")
	_, err = TargetFromDemoFiles(far, farID, "", "", "")
	assert.ErrorIs(t, err, ErrNotLoopback, "nor can a demo file")
	_, err = TargetFromDemoFiles(k, "", "", "", "")
	assert.ErrorContains(t, err, "both")
	_, err = TargetFromDemoFiles(k, filepath.Join(t.TempDir(), "missing.json"), "", "", "")
	assert.ErrorContains(t, err, "identity")
}

func TestNewSessionPicksTheDemoCredentials(t *testing.T) {
	k, i := writeDemoFiles(t, "https://127.0.0.1:1", "https://127.0.0.1:2", "/ca.pem")
	tgt, err := TargetFromDemoFiles(k, i, "", "", "")
	require.NoError(t, err)
	s, err := newSession(http.DefaultClient, tgt)
	require.NoError(t, err)
	assert.Equal(t, "admin@a", s.admin.Username)
	assert.Equal(t, "writer@a", s.writer.Username)
	assert.Equal(t, "svc", s.service.ClientID, "the service client that may encrypt, not the reader")
	assert.Equal(t, "rs", s.rs.ClientID)
	assert.True(t, s.bearer)

	names := func(scs []*Scenario) []string {
		var out []string
		for _, sc := range scs {
			out = append(out, sc.Name())
		}
		return out
	}
	assert.Equal(t, []string{
		"kms-encrypt/basic", "kms-decrypt/basic", "kms-sign/basic", "kms-verify/basic",
		"kms-encrypt/bearer", "kms-decrypt/bearer", "kms-sign/bearer", "kms-verify/bearer",
		"identity-token/client", "identity-introspect/client",
	}, names(s.scenarios(t.Context(), 10)))

	tgt.KMS.Trust = nil
	s, err = newSession(http.DefaultClient, tgt)
	require.NoError(t, err)
	assert.NotContains(t, names(s.scenarios(t.Context(), 10)), "kms-encrypt/bearer", "a KMS that trusts no issuer has no bearer scenarios")
}

func TestSelect(t *testing.T) {
	all := []*Scenario{
		{Endpoint: "kms-encrypt", Auth: "basic"}, {Endpoint: "kms-encrypt", Auth: "bearer"},
		{Endpoint: "kms-sign", Auth: "basic"}, {Endpoint: "identity-token", Auth: "client"},
	}
	cases := []struct {
		desc    string
		sel     []string
		want    []*Scenario
		wantErr string
	}{
		{desc: "empty is all", sel: nil, want: all},
		{desc: "all", sel: []string{"all"}, want: all},
		{desc: "an endpoint: every auth, table order", sel: []string{"identity-token", "kms-encrypt"}, want: []*Scenario{all[0], all[1], all[3]}},
		{desc: "endpoint/auth", sel: []string{" kms-encrypt/bearer"}, want: []*Scenario{all[1]}},
		{desc: "unknown", sel: []string{"kms-mac"}, wantErr: `"kms-mac" matches none of kms-encrypt/basic, kms-encrypt/bearer`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := Select(all, tc.sel)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestNewClientTrustsOnlyTheCA(t *testing.T) {
	ca := tlstest.New(t)
	srv := ca.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))

	c, err := NewClient(ca.CAFile, 2, 5*time.Second)
	require.NoError(t, err)
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "HTTP/1.1", resp.Proto)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, uint16(0x0304), resp.TLS.Version, "TLS 1.3")

	other := tlstest.New(t)
	c, err = NewClient(other.CAFile, 2, 5*time.Second)
	require.NoError(t, err)
	_, err = c.Get(srv.URL)
	assert.ErrorContains(t, err, "certificate", "a server of another CA is refused")

	_, err = NewClient(filepath.Join(t.TempDir(), "none.pem"), 2, time.Second)
	assert.ErrorContains(t, err, "read CA bundle")
}

func TestTokenSourceRenewsBeforeExpiry(t *testing.T) {
	clk := clock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fetched := 0
	ts := tokenSource{now: clk.Now, fetch: func(context.Context) (tokenResponse, error) {
		fetched++
		return tokenResponse{AccessToken: "t" + string(rune('0'+fetched)), ExpiresIn: 600}, nil
	}}
	tok, err := ts.get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "t1", tok)
	clk.Advance(600*time.Second - renewBefore - time.Second)
	tok, _ = ts.get(t.Context())
	assert.Equal(t, "t1", tok, "still well within its lifetime")
	clk.Advance(time.Second)
	tok, _ = ts.get(t.Context())
	assert.Equal(t, "t2", tok, "renewed before it expires")

	ts.fetch = func(context.Context) (tokenResponse, error) { return tokenResponse{}, errors.New("identity down") }
	clk.Advance(time.Hour)
	_, err = ts.get(t.Context())
	assert.ErrorContains(t, err, "access token: identity down")
}

func TestSamplerSpreadsAndBounds(t *testing.T) {
	s := newSampler[int](640)
	for i := range 640 {
		s.offer(i, i)
	}
	got := s.take()
	assert.Len(t, got, sampleSize)
	assert.Equal(t, 0, got[0])
	assert.Equal(t, 620, got[sampleSize-1], "spread over the whole phase, not its start")
	assert.Empty(t, s.take(), "taken once")
}
