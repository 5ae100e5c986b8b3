package identity_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/testkit/fixture"
)

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func contextWithHTTPClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

var formField = regexp.MustCompile(`name="(request|csrf_token)" value="([^"]*)"`)

// scriptedCodeFlow logs the demo user in through the real forms and
// exchanges the code with PKCE.
func scriptedCodeFlow(t *testing.T, idp *fixture.Identity, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: idp.Client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	user, err := idp.Tenant(t, 0).User("user")
	require.NoError(t, err)
	verifier := oauth2.GenerateVerifier()
	get := func(u string) (*http.Response, string) {
		resp, err := c.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	postForm := func(u string, body string, extra url.Values) *http.Response {
		v := url.Values{}
		for _, m := range formField.FindAllStringSubmatch(body, -1) {
			v.Set(m[1], m[2])
		}
		for k, vs := range extra {
			v[k] = vs
		}
		resp, err := c.PostForm(u, v)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp, _ := get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	resp, body := get(idp.Issuer + resp.Header.Get("Location"))
	resp = postForm(idp.Issuer+"/oidc/v1/login", body, url.Values{"username": {"user"}, "password": {user.Password}})
	resp, body = get(idp.Issuer + resp.Header.Get("Location"))
	if resp.StatusCode == http.StatusOK {
		resp = postForm(idp.Issuer+"/oidc/v1/consent", body, url.Values{"decision": {"allow"}})
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc.String(), cfg.RedirectURL), loc.String())
	tok, err := cfg.Exchange(contextWithHTTPClient(fixture.ITContext(t), idp.Client), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}
