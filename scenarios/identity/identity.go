// Package identity is the Identity scenario: the OAuth 2.1 / OpenID Connect
// steps a newcomer watches in the demo and the end-to-end test of the
// Identity provider (identity_test.go runs the same steps against testkit
// fixtures). Steps drive real clients: golang.org/x/oauth2 and go-oidc,
// and a scripted browser for the login and consent forms.
package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
)

// Phase is the phase name of every Identity step.
const Phase = "identity"

// OAuth endpoints (see services/identity/README.md).
const (
	pathToken      = "/oauth2/v1/token"
	pathIntrospect = "/oauth2/v1/introspect"
	pathRevoke     = "/oauth2/v1/revoke"
)

type scenario struct {
	t        *target.Target
	provider *oidc.Provider
	browser  *browser

	tenantA, tenantB *demofile.Tenant
	web, native, svc *demofile.Client
	rs, rsB          *demofile.Client
	user             demofile.User

	// From the code flow.
	tokens  *oauth2.Token
	nonce   string
	idToken *oidc.IDToken
}

// Steps returns the Identity scenario against t; each call is independent.
func Steps(t *target.Target) []step.Step {
	s := &scenario{t: t}
	once := &step.RetryPolicy{Attempts: 1}
	steps := []step.Step{
		{Name: "readyz", Description: "the Identity provider answers ready on /readyz", Run: s.readyz, Timeout: t.HealthTimeout, Retry: once},
		{Name: "discovery", Description: "go-oidc accepts the discovery document; both metadata documents agree on OAuth 2.1", DependsOn: []string{"readyz"}, Run: s.discovery},
		{Name: "seeded-data-present", Description: "every demo user signs in and every demo client authenticates", DependsOn: []string{"readyz"}, Run: s.seeded},
		{Name: "client-credentials", Description: "a service client gets an RFC 9068 access token whose signature verifies with the JWKS", DependsOn: []string{"discovery"}, Run: s.clientCredentials},
		{Name: "auth-code-pkce", Description: "authorization code + PKCE S256 through the login and consent forms", DependsOn: []string{"discovery"}, Run: s.authCode, Retry: once},
		{Name: "id-token-verified", Description: "the ID token verifies (signature, issuer, audience, nonce, at_hash)", DependsOn: []string{"auth-code-pkce"}, Run: s.verifyIDToken},
		{Name: "userinfo", Description: "userinfo answers for the access token with the ID token's subject", DependsOn: []string{"id-token-verified"}, Run: s.userinfo},
		{Name: "introspection", Description: "the resource server sees the token active; another tenant's does not", DependsOn: []string{"auth-code-pkce"}, Run: s.introspection},
		{Name: "refresh-rotation", Description: "refresh rotates the refresh token; reusing the old one revokes the whole family", DependsOn: []string{"auth-code-pkce"}, Run: s.refreshRotation, Retry: once},
		{Name: "code-replay-refused", Description: "a code works once; replaying it fails and revokes what it produced", DependsOn: []string{"auth-code-pkce"}, Run: s.codeReplay, Retry: once},
		{Name: "pkce-enforced", Description: "a wrong PKCE verifier is refused", DependsOn: []string{"auth-code-pkce"}, Run: s.wrongVerifier, Retry: once},
		{Name: "revocation", Description: "a public client revokes its refresh token; a service revokes its access token", DependsOn: []string{"auth-code-pkce"}, Run: s.revocation, Retry: once},
	}
	for i := range steps {
		steps[i].Phase = Phase
	}
	return steps
}

func (s *scenario) readyz(ctx context.Context) error { return s.t.WaitReady(ctx, 0) }

// oauthCtx makes x/oauth2 and go-oidc use the target's CA-pinned client.
func (s *scenario) oauthCtx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, s.t.HTTP)
}

func (s *scenario) issuer() (string, error) {
	if s.t.Demo.Issuer == "" {
		return "", fmt.Errorf("demo file %s has no issuer", s.t.DemoFile)
	}
	return s.t.Demo.Issuer, nil
}

// actors resolves the demo tenants, clients and the end user once.
func (s *scenario) actors() error {
	if s.web != nil {
		return nil
	}
	a, err := s.t.Tenant(0)
	if err != nil {
		return err
	}
	b, err := s.t.Tenant(1)
	if err != nil {
		return err
	}
	pick := func(t *demofile.Tenant, kind string) (*demofile.Client, error) {
		c, err := t.ClientOfKind(kind)
		return &c, err
	}
	var errs []error
	var e error
	s.tenantA, s.tenantB = a, b
	s.native, e = pick(a, demofile.KindPublic)
	errs = append(errs, e)
	s.svc, e = pick(a, demofile.KindService)
	errs = append(errs, e)
	s.rs, e = pick(a, demofile.KindResourceServer)
	errs = append(errs, e)
	s.rsB, e = pick(b, demofile.KindResourceServer)
	errs = append(errs, e)
	s.user, e = a.User("user")
	errs = append(errs, e)
	web, e := pick(a, demofile.KindConfidential)
	errs = append(errs, e)
	if err := errors.Join(errs...); err != nil {
		s.web = nil
		return err
	}
	if len(web.RedirectURIs) == 0 || len(s.native.RedirectURIs) == 0 {
		return fmt.Errorf("demo file %s: code-flow clients need redirect URIs", s.t.DemoFile)
	}
	s.web = web
	return nil
}

func (s *scenario) discovery(ctx context.Context) error {
	issuer, err := s.issuer()
	if err != nil {
		return err
	}
	p, err := oidc.NewProvider(s.oauthCtx(ctx), issuer)
	if err != nil {
		return fmt.Errorf("go-oidc discovery of %s: %w", issuer, err)
	}
	var oidcDoc map[string]any
	if err := p.Claims(&oidcDoc); err != nil {
		return fmt.Errorf("discovery claims: %w", err)
	}
	asDoc, err := s.getJSON(ctx, "/.well-known/oauth-authorization-server")
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(oidcDoc, asDoc) {
		return errors.New("openid-configuration and oauth-authorization-server documents differ")
	}
	checks := []struct {
		field string
		want  []string
	}{
		{"code_challenge_methods_supported", []string{"S256"}},
		{"response_types_supported", []string{"code"}},
	}
	for _, c := range checks {
		if got := strs(oidcDoc[c.field]); !slices.Equal(got, c.want) {
			return fmt.Errorf("discovery %s = %v, want %v (OAuth 2.1)", c.field, got, c.want)
		}
	}
	grants := strs(oidcDoc["grant_types_supported"])
	for _, banned := range []string{"password", "implicit"} {
		if slices.Contains(grants, banned) {
			return fmt.Errorf("discovery advertises the %s grant, which OAuth 2.1 removed", banned)
		}
	}
	if !slices.Contains(grants, "authorization_code") {
		return fmt.Errorf("discovery grant_types_supported %v lacks authorization_code", grants)
	}
	s.provider = p
	return nil
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (s *scenario) getJSON(ctx context.Context, path string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.t.URL(path), nil)
	if err != nil {
		return nil, err
	}
	resp, body, err := s.t.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if err := target.CheckStatus(resp, body, http.StatusOK); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return out, nil
}

// form posts an OAuth form, authenticating as c with HTTP Basic when it has
// a secret (client id and secret form-encoded, RFC 6749 §2.3.1) and with
// client_id in the body when it is public.
func (s *scenario) form(ctx context.Context, path string, c *demofile.Client, v url.Values) (int, map[string]any, error) {
	if c != nil && c.ClientSecret == "" {
		v.Set("client_id", c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.t.URL(path), strings.NewReader(v.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c != nil && c.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	resp, body, err := s.t.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return 0, nil, target.CheckStatus(resp, body, http.StatusOK) // transient: let the runner retry
	}
	out := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("POST %s: HTTP %d, not JSON: %s", path, resp.StatusCode, target.Excerpt(body))
		}
	}
	return resp.StatusCode, out, nil
}

// expectOAuthError checks an OAuth error answer that carries no token.
func expectOAuthError(what string, status int, body map[string]any, wantStatus int, wantCode string) error {
	if status != wantStatus || body["error"] != wantCode {
		return fmt.Errorf("%s: got HTTP %d %v, want HTTP %d error=%s", what, status, body, wantStatus, wantCode)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if _, ok := body[k]; ok {
			return fmt.Errorf("%s: the error answer carries a %s", what, k)
		}
	}
	return nil
}

func (s *scenario) introspect(ctx context.Context, rs *demofile.Client, token string) (map[string]any, error) {
	status, body, err := s.form(ctx, pathIntrospect, rs, url.Values{"token": {token}})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("introspect as %s: HTTP %d %v", rs.ClientID, status, body)
	}
	return body, nil
}

func (s *scenario) expectActive(ctx context.Context, what, token string, want bool) error {
	in, err := s.introspect(ctx, s.rs, token)
	if err != nil {
		return err
	}
	if got := in["active"] == true; got != want {
		return fmt.Errorf("%s: introspection active=%v, want %v", what, got, want)
	}
	return nil
}

func (s *scenario) seeded(ctx context.Context) error {
	if len(s.t.Demo.Tenants) < 2 {
		return fmt.Errorf("demo file %s: %d tenant(s), the scenario needs two", s.t.DemoFile, len(s.t.Demo.Tenants))
	}
	var errs []error
	for i := range s.t.Demo.Tenants {
		tenant := &s.t.Demo.Tenants[i]
		for _, kind := range []string{demofile.KindConfidential, demofile.KindPublic, demofile.KindService, demofile.KindResourceServer} {
			if _, err := tenant.ClientOfKind(kind); err != nil {
				errs = append(errs, err)
			}
		}
		// Users sign in through the confidential web client; without users,
		// or without a redirect URI to sign them in with, nothing would be
		// checked and the step must not pass.
		web, err := tenant.ClientOfKind(demofile.KindConfidential)
		switch {
		case len(tenant.Users) == 0:
			errs = append(errs, fmt.Errorf("tenant %s: demo file %s lists no users", tenant.Name, s.t.DemoFile))
		case err == nil && len(web.RedirectURIs) == 0:
			errs = append(errs, fmt.Errorf("tenant %s: client %s has no redirect URI to sign the users in with", tenant.Name, web.ClientID))
		case err == nil:
			for _, u := range tenant.Users {
				if err := s.userSignsIn(ctx, tenant, web, u); err != nil {
					errs = append(errs, err)
				}
			}
		}
		for _, c := range tenant.Clients {
			if err := s.clientAuthenticates(ctx, tenant, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// userSignsIn submits the login form as u; success is the redirect to consent.
func (s *scenario) userSignsIn(ctx context.Context, tenant *demofile.Tenant, web demofile.Client, u demofile.User) error {
	b, err := newBrowser(s.t)
	if err != nil {
		return err
	}
	cfg := s.codeConfig(&web, web.RedirectURIs[0], "openid")
	p, err := b.signIn(ctx, cfg.AuthCodeURL("seeded", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), u.Username, u.Password)
	if err != nil {
		return fmt.Errorf("tenant %s: user %s: %w", tenant.Name, u.Username, err)
	}
	if err := expectRedirect(fmt.Sprintf("tenant %s: sign in as %s", tenant.Name, u.Username), p); err != nil {
		return err
	}
	return nil
}

// clientAuthenticates proves a demo client's credentials with a request
// that needs them and changes nothing.
func (s *scenario) clientAuthenticates(ctx context.Context, tenant *demofile.Tenant, c demofile.Client) error {
	what := fmt.Sprintf("tenant %s: %s client %s", tenant.Name, c.Kind, c.ClientID)
	switch c.Kind {
	case demofile.KindService:
		status, body, err := s.form(ctx, pathToken, &c, url.Values{"grant_type": {"client_credentials"}})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if status != http.StatusOK || body["access_token"] == nil {
			return fmt.Errorf("%s: client_credentials: HTTP %d %v", what, status, body)
		}
	case demofile.KindResourceServer:
		in, err := s.introspect(ctx, &c, "not-a-token")
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if in["active"] != false {
			return fmt.Errorf("%s: a garbage token introspects as %v", what, in)
		}
	case demofile.KindConfidential:
		// Authenticated, the unknown code is invalid_grant; a bad secret would be invalid_client.
		status, body, err := s.form(ctx, pathToken, &c, url.Values{
			"grant_type": {"authorization_code"}, "code": {"unknown"}, "redirect_uri": {firstOf(c.RedirectURIs)},
			"code_verifier": {oauth2.GenerateVerifier()},
		})
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := expectOAuthError(what, status, body, http.StatusBadRequest, "invalid_grant"); err != nil {
			return err
		}
	}
	return nil
}

func firstOf(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

func (s *scenario) clientCredentials(ctx context.Context) error {
	if err := s.actors(); err != nil {
		return err
	}
	cc := clientcredentials.Config{
		ClientID: s.svc.ClientID, ClientSecret: s.svc.ClientSecret, TokenURL: s.provider.Endpoint().TokenURL,
		Scopes: []string{"kms:read"}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(s.oauthCtx(ctx))
	if err != nil {
		return fmt.Errorf("client_credentials: %w", err)
	}
	if tok.RefreshToken != "" {
		return errors.New("client_credentials returned a refresh token")
	}
	claims, err := s.verifyAccessToken(ctx, tok.AccessToken)
	if err != nil {
		return err
	}
	if claims["client_id"] != s.svc.ClientID || claims["scope"] != "kms:read" {
		return fmt.Errorf("access token client_id=%v scope=%v, want %s and kms:read", claims["client_id"], claims["scope"], s.svc.ClientID)
	}
	return nil
}

// verifyAccessToken checks an RFC 9068 JWT access token: typ at+jwt, a
// signature that verifies with the published JWKS, the required claims,
// this issuer and tenant A.
func (s *scenario) verifyAccessToken(ctx context.Context, raw string) (map[string]any, error) {
	header, err := jwtPart(raw, 0)
	if err != nil {
		return nil, err
	}
	if typ, _ := header["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, fmt.Errorf("access token typ %q, want at+jwt (RFC 9068)", typ)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := s.provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discovery jwks_uri: %w", err)
	}
	payload, err := oidc.NewRemoteKeySet(s.oauthCtx(ctx), meta.JWKS).VerifySignature(s.oauthCtx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("access token signature against %s: %w", meta.JWKS, err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("access token claims: %w", err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "tenant_id"} {
		if _, ok := claims[k]; !ok {
			return nil, fmt.Errorf("access token lacks claim %q (RFC 9068)", k)
		}
	}
	issuer, _ := s.issuer()
	if claims["iss"] != issuer {
		return nil, fmt.Errorf("access token iss %v, want %s", claims["iss"], issuer)
	}
	if claims["tenant_id"] != s.tenantA.ID {
		return nil, fmt.Errorf("access token tenant_id %v, want %s", claims["tenant_id"], s.tenantA.ID)
	}
	if exp, _ := claims["exp"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		return nil, fmt.Errorf("access token already expired at %v", exp)
	}
	return claims, nil
}

func jwtPart(raw string, i int) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a compact JWT: %d parts", len(parts))
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		return nil, fmt.Errorf("JWT part %d: %w", i, err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("JWT part %d: %w", i, err)
	}
	return out, nil
}

// codeConfig is c as an x/oauth2 config against the discovered endpoints.
func (s *scenario) codeConfig(c *demofile.Client, redirect string, scopes ...string) *oauth2.Config {
	ep := oauth2.Endpoint{AuthURL: s.t.URL("/oauth2/v1/authorize"), TokenURL: s.t.URL(pathToken)}
	if s.provider != nil {
		ep = s.provider.Endpoint()
	}
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if c.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: redirect, Endpoint: ep, Scopes: scopes}
}

// codeFlow runs the front channel for cfg as the demo user and returns the
// code and its verifier after checking state and the iss parameter.
func (s *scenario) codeFlow(ctx context.Context, cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) (code, verifier string, err error) {
	if s.browser == nil {
		if s.browser, err = newBrowser(s.t); err != nil {
			return "", "", err
		}
	}
	verifier = oauth2.GenerateVerifier()
	state := "st-" + oauth2.GenerateVerifier()[:12]
	u, err := s.browser.authorize(ctx, cfg.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...), s.user.Username, s.user.Password)
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	issuer, _ := s.issuer()
	back := *u
	back.RawQuery = ""
	switch {
	case q.Get("error") != "":
		return "", "", fmt.Errorf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	case back.String() != cfg.RedirectURL:
		return "", "", fmt.Errorf("redirected to %s, want the client's %s", u, cfg.RedirectURL)
	case q.Get("state") != state:
		return "", "", fmt.Errorf("state %q, want %q", q.Get("state"), state)
	case q.Get("iss") != issuer:
		return "", "", fmt.Errorf("iss parameter %q, want %q (RFC 9207)", q.Get("iss"), issuer)
	case q.Get("code") == "":
		return "", "", errors.New("no code in the redirect")
	}
	return q.Get("code"), verifier, nil
}

func (s *scenario) authCode(ctx context.Context) error {
	if err := s.actors(); err != nil {
		return err
	}
	cfg := s.codeConfig(s.web, s.web.RedirectURIs[0], oidc.ScopeOpenID, "profile", "email")
	s.nonce = "n-" + oauth2.GenerateVerifier()[:16]
	code, verifier, err := s.codeFlow(ctx, cfg, oidc.Nonce(s.nonce))
	if err != nil {
		return err
	}
	tok, err := cfg.Exchange(s.oauthCtx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("exchange the code: %w", err)
	}
	if tok.RefreshToken == "" {
		return errors.New("the code flow returned no refresh token")
	}
	if _, ok := tok.Extra("id_token").(string); !ok {
		return errors.New("the code flow with scope openid returned no ID token")
	}
	if _, err := s.verifyAccessToken(ctx, tok.AccessToken); err != nil {
		return err
	}
	s.tokens = tok
	return nil
}

func (s *scenario) verifyIDToken(ctx context.Context) error {
	raw, _ := s.tokens.Extra("id_token").(string)
	idt, err := s.provider.Verifier(&oidc.Config{ClientID: s.web.ClientID}).Verify(s.oauthCtx(ctx), raw)
	if err != nil {
		return fmt.Errorf("verify ID token: %w", err)
	}
	if idt.Nonce != s.nonce {
		return fmt.Errorf("ID token nonce %q, want %q", idt.Nonce, s.nonce)
	}
	if err := idt.VerifyAccessToken(s.tokens.AccessToken); err != nil {
		return fmt.Errorf("ID token at_hash: %w", err)
	}
	var c struct {
		Username string `json:"preferred_username"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := idt.Claims(&c); err != nil {
		return fmt.Errorf("ID token claims: %w", err)
	}
	if c.Username != s.user.Username || c.AuthTime == 0 {
		return fmt.Errorf("ID token preferred_username %q auth_time %d, want %q and a login time", c.Username, c.AuthTime, s.user.Username)
	}
	s.idToken = idt
	return nil
}

func (s *scenario) userinfo(ctx context.Context) error {
	ui, err := s.provider.UserInfo(s.oauthCtx(ctx), oauth2.StaticTokenSource(s.tokens))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if ui.Subject != s.idToken.Subject {
		return fmt.Errorf("userinfo sub %q, ID token sub %q", ui.Subject, s.idToken.Subject)
	}
	var c struct {
		Username string `json:"preferred_username"`
	}
	if err := ui.Claims(&c); err != nil {
		return fmt.Errorf("userinfo claims: %w", err)
	}
	if c.Username != s.user.Username || ui.Email == "" {
		return fmt.Errorf("userinfo preferred_username %q email %q, want %q and an email (scopes profile, email)", c.Username, ui.Email, s.user.Username)
	}
	// Without a token: a Bearer challenge, no data.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.provider.UserInfoEndpoint(), nil)
	if err != nil {
		return err
	}
	resp, body, err := s.t.Do(req)
	if err != nil {
		return err
	}
	if err := target.CheckStatus(resp, body, http.StatusUnauthorized); err != nil {
		return fmt.Errorf("userinfo without a token: %w", err)
	}
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		return fmt.Errorf("userinfo without a token: WWW-Authenticate %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
	}
	return nil
}

func (s *scenario) introspection(ctx context.Context) error {
	in, err := s.introspect(ctx, s.rs, s.tokens.AccessToken)
	if err != nil {
		return err
	}
	if in["active"] != true || in["client_id"] != s.web.ClientID || in["tenant_id"] != s.tenantA.ID || in["sub"] == nil {
		return fmt.Errorf("introspection by the resource server: %v, want active, client %s, tenant %s", in, s.web.ClientID, s.tenantA.ID)
	}
	other, err := s.introspect(ctx, s.rsB, s.tokens.AccessToken)
	if err != nil {
		return err
	}
	if other["active"] != false || len(other) != 1 {
		return fmt.Errorf("tenant B's resource server learns about tenant A's token: %v", other)
	}
	return nil
}

func (s *scenario) refresh(ctx context.Context, c *demofile.Client, rt string) (int, map[string]any, error) {
	return s.form(ctx, pathToken, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (s *scenario) refreshRotation(ctx context.Context) error {
	rt1 := s.tokens.RefreshToken
	status, second, err := s.refresh(ctx, s.web, rt1)
	if err != nil {
		return err
	}
	rt2, _ := second["refresh_token"].(string)
	at2, _ := second["access_token"].(string)
	if status != http.StatusOK || rt2 == "" || at2 == "" {
		return fmt.Errorf("refresh: HTTP %d %v", status, second)
	}
	if rt2 == rt1 {
		return errors.New("refresh returned the same refresh token: no rotation")
	}
	if err := s.expectActive(ctx, "refreshed access token", at2, true); err != nil {
		return err
	}
	status, body, err := s.refresh(ctx, s.web, rt1)
	if err != nil {
		return err
	}
	if err := expectOAuthError("reuse of the rotated-out refresh token", status, body, http.StatusBadRequest, "invalid_grant"); err != nil {
		return err
	}
	status, body, err = s.refresh(ctx, s.web, rt2)
	if err != nil {
		return err
	}
	if err := expectOAuthError("the newest refresh token after reuse was detected", status, body, http.StatusBadRequest, "invalid_grant"); err != nil {
		return err
	}
	return s.expectActive(ctx, "access token of the revoked family", at2, false)
}

func (s *scenario) exchange(ctx context.Context, c *demofile.Client, code, redirect, verifier string) (int, map[string]any, error) {
	return s.form(ctx, pathToken, c, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
	})
}

func (s *scenario) codeReplay(ctx context.Context) error {
	redirect := s.web.RedirectURIs[0]
	code, verifier, err := s.codeFlow(ctx, s.codeConfig(s.web, redirect, "openid"))
	if err != nil {
		return err
	}
	status, first, err := s.exchange(ctx, s.web, code, redirect, verifier)
	if err != nil {
		return err
	}
	at, _ := first["access_token"].(string)
	if status != http.StatusOK || at == "" {
		return fmt.Errorf("first exchange: HTTP %d %v", status, first)
	}
	status, body, err := s.exchange(ctx, s.web, code, redirect, verifier)
	if err != nil {
		return err
	}
	if err := expectOAuthError("replayed code", status, body, http.StatusBadRequest, "invalid_grant"); err != nil {
		return err
	}
	return s.expectActive(ctx, "access token from the replayed code", at, false)
}

func (s *scenario) wrongVerifier(ctx context.Context) error {
	redirect := s.web.RedirectURIs[0]
	code, _, err := s.codeFlow(ctx, s.codeConfig(s.web, redirect, "openid"))
	if err != nil {
		return err
	}
	status, body, err := s.exchange(ctx, s.web, code, redirect, oauth2.GenerateVerifier())
	if err != nil {
		return err
	}
	return expectOAuthError("exchange with a wrong PKCE verifier", status, body, http.StatusBadRequest, "invalid_grant")
}

func (s *scenario) revocation(ctx context.Context) error {
	// A native app (public client, loopback redirect on any port) revokes
	// its own refresh token on sign-out.
	redirect := strings.Replace(s.native.RedirectURIs[0], "127.0.0.1/", "127.0.0.1:49152/", 1)
	cfg := s.codeConfig(s.native, redirect, "openid")
	code, verifier, err := s.codeFlow(ctx, cfg)
	if err != nil {
		return err
	}
	tok, err := cfg.Exchange(s.oauthCtx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("native app exchange: %w", err)
	}
	status, body, err := s.form(ctx, pathRevoke, s.native, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("revoke refresh token: HTTP %d %v", status, body)
	}
	status, body, err = s.refresh(ctx, s.native, tok.RefreshToken)
	if err != nil {
		return err
	}
	if err := expectOAuthError("refresh with a revoked refresh token", status, body, http.StatusBadRequest, "invalid_grant"); err != nil {
		return err
	}
	if err := s.expectActive(ctx, "access token of a revoked refresh token", tok.AccessToken, false); err != nil {
		return err
	}
	// A service revokes an access token it no longer needs.
	status, body, err = s.form(ctx, pathToken, s.svc, url.Values{"grant_type": {"client_credentials"}, "scope": {"kms:read"}})
	if err != nil {
		return err
	}
	at, _ := body["access_token"].(string)
	if status != http.StatusOK || at == "" {
		return fmt.Errorf("client_credentials: HTTP %d %v", status, body)
	}
	if err := s.expectActive(ctx, "fresh service token", at, true); err != nil {
		return err
	}
	if status, body, err = s.form(ctx, pathRevoke, s.svc, url.Values{"token": {at}, "token_type_hint": {"access_token"}}); err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("revoke access token: HTTP %d %v", status, body)
	}
	return s.expectActive(ctx, "revoked service token", at, false)
}
