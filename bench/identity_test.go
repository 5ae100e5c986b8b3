package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// The two Identity requests a busy backend makes most: a service client
// getting a token (client_credentials, client_secret_basic; signing the JWT)
// and a resource server introspecting one (RFC 7662). Both run over a kept-
// alive TLS 1.3 connection. After the first request the client's secret is
// answered from the server's verified-secret cache, its record from the
// client cache, and the introspected token from the verified-token cache:
// warm, introspection runs no SQL statement and the grant one, the INSERT
// of the token's record (plus, on a live server, one read of a tenant's
// change generation per interval, which steadyIdentity keeps out of the
// loop).

// postForm sends an authenticated form POST and decodes the JSON answer.
func postForm(b *testing.B, c *http.Client, endpoint string, client demofile.Client, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: form-encode id and secret before Basic.
	req.SetBasicAuth(url.QueryEscape(client.ClientID), url.QueryEscape(client.ClientSecret))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d", endpoint, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// steadyIdentity re-reads tenants' change generations once a minute instead
// of every second, for the reason steadyKMS gives: the loop then counts the
// statements of requests, not of the clock.
var steadyIdentity = fixture.WithIdentityConfig(func(c *identityserver.Config) {
	c.Tokens.ChangeCheckInterval = time.Minute
})

func BenchmarkIdentityClientCredentials(b *testing.B) {
	id := fixture.StartIdentity(b, dbtest.SQLite, steadyIdentity)
	svc := id.ClientOfKind(b, 0, demofile.KindService)
	endpoint := id.URL + "/oauth2/v1/token"
	form := url.Values{"grant_type": {"client_credentials"}}

	token := func() error {
		var tok tokenResponse
		if err := postForm(b, id.Client, endpoint, svc, form, &tok); err != nil {
			return err
		}
		if tok.AccessToken == "" {
			return fmt.Errorf("token response without access_token")
		}
		return nil
	}
	require.NoError(b, token()) // warms the TLS connection and the secret cache
	c := startCost(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := token(); err != nil {
			b.Fatal(err)
		}
	}
	c.report(b)
}

func BenchmarkIdentityIntrospect(b *testing.B) {
	id := fixture.StartIdentity(b, dbtest.SQLite, steadyIdentity)
	svc := id.ClientOfKind(b, 0, demofile.KindService)
	rs := id.ClientOfKind(b, 0, demofile.KindResourceServer)
	var tok tokenResponse
	require.NoError(b, postForm(b, id.Client, id.URL+"/oauth2/v1/token", svc, url.Values{"grant_type": {"client_credentials"}}, &tok))
	endpoint := id.URL + "/oauth2/v1/introspect"
	form := url.Values{"token": {tok.AccessToken}}

	introspect := func() error {
		var out struct {
			Active bool `json:"active"`
		}
		if err := postForm(b, id.Client, endpoint, rs, form, &out); err != nil {
			return err
		}
		if !out.Active {
			return fmt.Errorf("introspection says the fresh token is inactive")
		}
		return nil
	}
	require.NoError(b, introspect())
	c := startCost(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := introspect(); err != nil {
			b.Fatal(err)
		}
	}
	c.report(b)
}
