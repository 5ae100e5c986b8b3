package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// env is one running server and the demo actors of its first tenant.
type env struct {
	idp    *fixture.Identity
	tenant *demofile.Tenant
	web    demofile.Client // confidential, code + PKCE
	native demofile.Client // public, loopback redirect
	svc    demofile.Client // client_credentials for the KMS
	rs     demofile.Client // resource server, may introspect
	admin  demofile.Client // client_credentials with identity:admin
	user   demofile.User
}

func newEnv(t *testing.T, idp *fixture.Identity) *env {
	t.Helper()
	e := &env{idp: idp, tenant: idp.Tenant(t, 0)}
	e.web = idp.ClientOfKind(t, 0, demofile.KindConfidential)
	e.native = idp.ClientOfKind(t, 0, demofile.KindPublic)
	e.svc = idp.ClientOfKind(t, 0, demofile.KindService)
	e.rs = idp.ClientOfKind(t, 0, demofile.KindResourceServer)
	for _, c := range e.tenant.Clients {
		if c.Kind == demofile.KindService && len(c.Scopes) == 1 && c.Scopes[0] == "identity:admin" {
			e.admin = c
		}
	}
	require.NotEmpty(t, e.admin.ClientID, "demo admin client")
	u, err := e.tenant.User("user")
	require.NoError(t, err)
	e.user = u
	return e
}

func (e *env) url(path string) string { return e.idp.Issuer + path }

// ctx carries the fixture's TLS client for x/oauth2 and go-oidc.
func (e *env) ctx(t *testing.T) context.Context {
	return context.WithValue(fixture.ITContext(t), oauth2.HTTPClient, e.idp.Client)
}

func (e *env) endpoint(style oauth2.AuthStyle) oauth2.Endpoint {
	return oauth2.Endpoint{
		AuthURL: e.url(oauth.PathAuthorize), TokenURL: e.url(oauth.PathToken), AuthStyle: style,
	}
}

// webConfig is the confidential web client as an x/oauth2 config.
func (e *env) webConfig(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: e.web.ClientID, ClientSecret: e.web.ClientSecret, RedirectURL: e.web.RedirectURIs[0],
		Endpoint: e.endpoint(oauth2.AuthStyleInHeader), Scopes: scopes,
	}
}

// nativeConfig is the public client redirecting to a loopback port.
func (e *env) nativeConfig(port string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: e.native.ClientID, RedirectURL: "http://127.0.0.1:" + port + "/callback",
		Endpoint: e.endpoint(oauth2.AuthStyleInParams), Scopes: scopes,
	}
}

// browser is a scripted user agent: a cookie jar and no automatic redirects,
// so each step of the flow is visible.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T, idp *fixture.Identity) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, c: &http.Client{
		Transport: idp.Client.Transport, Jar: jar, Timeout: idp.Client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenField = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// fields returns the hidden inputs of a rendered form.
func (p page) fields() url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// abs resolves a Location against the issuer.
func (e *env) abs(loc string) string {
	if strings.HasPrefix(loc, "/") {
		return e.idp.Issuer + loc
	}
	return loc
}

// login follows an authorize URL through the login form (and, if shown,
// the consent form, allowing) and returns the final redirect to the client.
func (e *env) login(t *testing.T, b *browser, authURL, username, password string) *url.URL {
	t.Helper()
	p := b.get(authURL)
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	if strings.Contains(p.location, oauth.PathLogin) {
		p = b.get(e.abs(p.location))
		require.Equal(t, http.StatusOK, p.status, p.body)
		f := p.fields()
		f.Set("username", username)
		f.Set("password", password)
		p = b.post(e.url(oauth.PathLogin), f)
		require.Equal(t, http.StatusSeeOther, p.status, p.body)
	}
	if strings.Contains(p.location, oauth.PathConsent) {
		p = b.get(e.abs(p.location))
		if p.status == http.StatusOK {
			f := p.fields()
			f.Set("decision", "allow")
			p = b.post(e.url(oauth.PathConsent), f)
		}
		require.Equal(t, http.StatusSeeOther, p.status, p.body)
	}
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	return u
}

// codeFor runs the code flow for cfg as the demo user and returns the code
// and verifier.
func (e *env) codeFor(t *testing.T, b *browser, cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	state := "st-" + oauth2.GenerateVerifier()[:10]
	u := e.login(t, b, cfg.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...), e.user.Username, e.user.Password)
	q := u.Query()
	require.Empty(t, q.Get("error"), "authorization error: %s", q.Get("error_description"))
	require.Equal(t, state, q.Get("state"))
	require.Equal(t, e.idp.Issuer, q.Get("iss"))
	require.NotEmpty(t, q.Get("code"))
	return q.Get("code"), verifier
}

// form posts a form to an endpoint with optional Basic credentials and
// decodes the JSON answer.
func (e *env) form(t *testing.T, path string, basic *demofile.Client, v url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(v.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic.ClientID), url.QueryEscape(basic.ClientSecret))
	}
	resp, err := e.idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]any{}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp.StatusCode, out, resp.Header
}

// introspect asks the resource server whether token is active.
func (e *env) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	status, body, _ := e.form(t, oauth.PathIntrospect, &e.rs, url.Values{"token": {token}})
	require.Equal(t, http.StatusOK, status, body)
	return body
}

func (e *env) active(t *testing.T, token string) bool {
	t.Helper()
	return e.introspect(t, token)["active"] == true
}

// clientCredentials gets a token for the service client.
func (e *env) clientCredentials(t *testing.T, c demofile.Client, scope string) string {
	t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		v.Set("scope", scope)
	}
	status, body, _ := e.form(t, oauth.PathToken, &c, v)
	require.Equal(t, http.StatusOK, status, body)
	return body["access_token"].(string)
}

// requireOAuthError asserts an OAuth error answer that carries no token.
func requireOAuthError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	require.Equal(t, wantStatus, status, body)
	require.Equal(t, wantCode, body["error"], body)
	require.NotContains(t, body, "access_token")
	require.NotContains(t, body, "refresh_token")
	require.NotContains(t, body, "id_token")
}

// bearer calls path with a bearer token.
func (e *env) bearer(t *testing.T, method, path, token string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.url(path), nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]any{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out, resp.Header
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
