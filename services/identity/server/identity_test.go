package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

func post(t *testing.T, idp *fixture.Identity, path string, c demofile.Client, v url.Values) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, idp.Issuer+path, strings.NewReader(v.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	out["_status"] = float64(resp.StatusCode)
	return out
}

func ccToken(t *testing.T, idp *fixture.Identity) string {
	t.Helper()
	out := post(t, idp, "/oauth2/v1/token", idp.ClientOfKind(t, 0, demofile.KindService), url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, float64(200), out["_status"], out)
	return out["access_token"].(string)
}

func active(t *testing.T, idp *fixture.Identity, token string) bool {
	t.Helper()
	out := post(t, idp, "/oauth2/v1/introspect", idp.ClientOfKind(t, 0, demofile.KindResourceServer), url.Values{"token": {token}})
	require.Equal(t, float64(200), out["_status"], out)
	return out["active"] == true
}

func jwks(t *testing.T, idp *fixture.Identity) []string {
	t.Helper()
	resp, err := idp.Client.Get(idp.Issuer + "/oauth2/v1/jwks")
	require.NoError(t, err)
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	var h struct {
		KID string `json:"kid"`
	}
	seg := strings.SplitN(token, ".", 2)[0]
	raw, err := base64URL(seg)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &h))
	return h.KID
}

func TestRestartKeepsTokensAndJWKS(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		idp := fixture.StartIdentity(t, b)
		tok := ccToken(t, idp)
		kids := jwks(t, idp)
		require.Len(t, kids, 1)
		demoBefore := idp.Demo

		idp = idp.Restart(t)
		assert.Equal(t, kids, jwks(t, idp), "JWKS stable across restart")
		assert.True(t, active(t, idp, tok), "a token issued before the restart is still valid")
		assert.Equal(t, demoBefore.Tenants, idp.Demo.Tenants, "demo data kept, secrets still valid")
		tok2 := ccToken(t, idp)
		assert.Equal(t, kidOf(t, tok), kidOf(t, tok2), "the same key keeps signing")

		// The demo service client's secret from before the restart still works,
		// and go-oidc still accepts the provider.
		ctx := oidc.ClientContext(fixture.ITContext(t), idp.Client)
		_, err := oidc.NewProvider(ctx, idp.Issuer)
		require.NoError(t, err)

		t.Run("reset-demo wipes and reseeds", func(t *testing.T) {
			old := idp.Demo
			idp2 := idp.Restart(t, func(o *identityserver.Options) { o.ResetDemo = true })
			require.Len(t, idp2.Demo.Tenants, 2)
			for i := range old.Tenants {
				assert.NotEqual(t, old.Tenants[i].ID, idp2.Demo.Tenants[i].ID, "fresh tenant ids")
			}
			// The old tenant's client no longer exists.
			out := post(t, idp2, "/oauth2/v1/token", old.Tenants[0].Clients[2], url.Values{"grant_type": {"client_credentials"}})
			assert.Equal(t, "invalid_client", out["error"])
			assert.False(t, active(t, idp2, tok), "tokens of wiped tenants are not active")
			assert.True(t, active(t, idp2, ccToken(t, idp2)))
		})
	})
}

func TestSigningKeyRotation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		clock := fixture.NewIdentityClock(time.Now())
		idp := fixture.StartIdentity(t, b, fixture.WithIdentityClock(clock.Now), fixture.WithIdentityConfig(func(c *identityserver.Config) {
			c.Tokens.KeyRotationPeriod = time.Hour
			c.Tokens.KeyPrePublication = 10 * time.Minute
			c.Tokens.AccessTokenTTL = 5 * time.Minute
			c.Tokens.IDTokenTTL = 5 * time.Minute
		}))
		t0 := ccToken(t, idp)
		k1 := kidOf(t, t0)
		require.Equal(t, []string{k1}, jwks(t, idp))

		clock.Advance(50*time.Minute + time.Second)
		kids := jwks(t, idp)
		require.Len(t, kids, 2, "the successor is published before it signs")
		assert.Equal(t, k1, kids[0])
		k2 := kids[1]
		beforeSwitch := ccToken(t, idp)
		assert.Equal(t, k1, kidOf(t, beforeSwitch), "the old key still signs during pre-publication")

		clock.Advance(8 * time.Minute) // 58m: issue a token that outlives the switch
		late := ccToken(t, idp)
		assert.Equal(t, k1, kidOf(t, late))

		clock.Advance(3 * time.Minute) // 61m: the successor signs
		fresh := ccToken(t, idp)
		assert.Equal(t, k2, kidOf(t, fresh))
		assert.Equal(t, []string{k1, k2}, jwks(t, idp), "the retired key stays published")
		assert.True(t, active(t, idp, late), "a token of the retired key verifies until it expires")
		assert.True(t, active(t, idp, fresh))

		// Restart in the overlap: same keys, same verdicts.
		idp = idp.Restart(t)
		assert.Equal(t, []string{k1, k2}, jwks(t, idp))
		assert.True(t, active(t, idp, late))

		clock.Advance(5 * time.Minute) // 66m: every k1 token has expired
		assert.Equal(t, []string{k2}, jwks(t, idp), "the retired key leaves the JWKS")
		assert.False(t, active(t, idp, late))
		assert.True(t, active(t, idp, ccToken(t, idp)))
	})
}

func TestCodeFlowSurvivesRestart(t *testing.T) {
	idp := fixture.StartIdentity(t, dbtest.SQLite)
	web := idp.ClientOfKind(t, 0, demofile.KindConfidential)
	ctx := oidc.ClientContext(fixture.ITContext(t), idp.Client)
	ctx = contextWithHTTPClient(ctx, idp.Client)
	cfg := &oauth2.Config{ClientID: web.ClientID, ClientSecret: web.ClientSecret, RedirectURL: web.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{AuthURL: idp.Issuer + "/oauth2/v1/authorize", TokenURL: idp.Issuer + "/oauth2/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "profile"}}
	tok := scriptedCodeFlow(t, idp, cfg)
	p, err := oidc.NewProvider(ctx, idp.Issuer)
	require.NoError(t, err)

	idp = idp.Restart(t)
	_, err = p.Verifier(&oidc.Config{ClientID: web.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
	require.NoError(t, err, "an ID token from before the restart verifies against the JWKS after it")
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	require.NoError(t, err)
	assert.NotEmpty(t, ui.Subject)
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	require.NoError(t, err, "refresh after restart")
	assert.NotEqual(t, tok.RefreshToken, fresh.RefreshToken)
}
