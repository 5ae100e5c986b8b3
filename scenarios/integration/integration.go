// Package integration is the scenario of the KMS and the Identity provider
// as one system: applications get tokens from Identity and use them at the
// KMS, revoked and forged tokens are refused, and API keys and client
// certificates are the other ways in. The demo runs it after the kms and
// identity phases; integration_test.go runs the same steps against testkit
// fixtures on every database backend.
package integration

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
	"github.com/passthru-dev/passthru/services/kms/api"
)

// Phase is the phase name of every integration step.
const Phase = "integration"

// Client id prefixes of the Identity demo clients the steps use.
const (
	serviceClientPrefix = "demo-service"    // kms:admin, kms:write, kms:read
	readerClientPrefix  = "demo-kms-reader" // kms:read only
	demoKeyName         = "demo-a256gcm"    // the KMS demo's A256GCM key
	apiKeyHeader        = "X-API-Key"
	apiKeysPath         = "/api/v1/admin/api-keys"
)

type scenario struct {
	kms, idp *target.Target
	kmsAPI   *api.ClientWithResponses
}

// Steps returns the integration scenario against a KMS that trusts the
// Identity provider idp.
func Steps(kms, idp *target.Target) []step.Step {
	s := &scenario{kms: kms, idp: idp}
	steps := []step.Step{
		{Name: "trust-configured", Description: "the KMS trusts this Identity provider: same tenants, same issuer", Run: s.trustConfigured},
		{Name: "service-token-encrypts", Description: "a service gets a token (client credentials) and encrypts and decrypts with it at the KMS", DependsOn: []string{"trust-configured"}, Run: s.serviceTokenEncrypts},
		{Name: "no-token-401", Description: "no credentials: 401 with a Bearer challenge", DependsOn: []string{"trust-configured"}, Run: s.noToken},
		{Name: "bad-token-401", Description: "a tampered token and an unsigned (alg none) token get 401 invalid_token", DependsOn: []string{"service-token-encrypts"}, Run: s.badToken},
		{Name: "insufficient-scope-403", Description: "a token without kms:encrypt gets 403 insufficient_scope naming the scope", DependsOn: []string{"trust-configured"}, Run: s.insufficientScope},
		{Name: "tenant-b-cannot-see-a", Description: "a token of tenant B can neither read nor use tenant A's key", DependsOn: []string{"trust-configured"}, Run: s.tenantIsolation},
		{Name: "revoked-token-refused", Description: "a token revoked at Identity is refused: within the revocation bound for reads, at once for decrypt (sensitive)", DependsOn: []string{"service-token-encrypts"}, Run: s.revoked},
		{Name: "api-key-lifecycle", Description: "an admin creates an API key; it encrypts; revoked, it gets 401", DependsOn: []string{"service-token-encrypts"}, Run: s.apiKey},
		{Name: "client-certificate", Description: "a demo client certificate (mutual TLS) maps to its tenant and role", DependsOn: []string{"trust-configured"}, Run: s.clientCert},
	}
	for i := range steps {
		steps[i].Phase = Phase
	}
	return steps
}

func (s *scenario) api() (*api.ClientWithResponses, error) {
	if s.kmsAPI == nil {
		c, err := api.NewClientWithResponses(s.kms.BaseURL, api.WithHTTPClient(s.kms.HTTP))
		if err != nil {
			return nil, fmt.Errorf("KMS client: %w", err)
		}
		s.kmsAPI = c
	}
	return s.kmsAPI, nil
}

func bearer(token string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// trustConfigured checks what the rest relies on: the KMS demo names the
// Identity provider as its issuer and both know the tenants by one id.
func (s *scenario) trustConfigured(context.Context) error {
	tr := s.kms.Demo.Trust
	if tr == nil {
		return fmt.Errorf("KMS demo file %s has no trust section: the KMS was not started trusting an Identity provider", s.kms.DemoFile)
	}
	if tr.Issuer != s.idp.Demo.Issuer {
		return fmt.Errorf("the KMS trusts issuer %q, the Identity provider is %q", tr.Issuer, s.idp.Demo.Issuer)
	}
	for i := range 2 {
		kt, err := s.kms.Tenant(i)
		if err != nil {
			return err
		}
		it, err := s.idp.Tenant(i)
		if err != nil {
			return err
		}
		if kt.Name != it.Name || kt.ID != it.ID {
			return fmt.Errorf("tenant %d is %s (%s) at the KMS but %s (%s) at Identity", i, kt.Name, kt.ID, it.Name, it.ID)
		}
	}
	return nil
}

// client returns the Identity demo client of tenant n whose id starts with prefix.
func (s *scenario) client(n int, prefix string) (demofile.Client, error) {
	t, err := s.idp.Tenant(n)
	if err != nil {
		return demofile.Client{}, err
	}
	for _, c := range t.Clients {
		if strings.HasPrefix(c.ClientID, prefix) {
			return c, nil
		}
	}
	return demofile.Client{}, fmt.Errorf("Identity demo tenant %s has no client %s-*: %w", t.Name, prefix, demofile.ErrNotFound)
}

// token gets an access token for the KMS with the client credentials grant,
// through golang.org/x/oauth2 as an application would.
func (s *scenario) token(ctx context.Context, n int, prefix string) (string, demofile.Client, error) {
	c, err := s.client(n, prefix)
	if err != nil {
		return "", c, err
	}
	cc := clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		TokenURL:  s.idp.URL("/oauth2/v1/token"),
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, s.idp.HTTP))
	if err != nil {
		return "", c, fmt.Errorf("client credentials token for %s: %w", c.ClientID, err)
	}
	return tok.AccessToken, c, nil
}

// demoKey is the id of tenant n's demo A256GCM key at the KMS.
func (s *scenario) demoKey(n int) (uuid.UUID, error) {
	t, err := s.kms.Tenant(n)
	if err != nil {
		return uuid.Nil, err
	}
	for _, k := range t.Keys {
		if k.Name == demoKeyName {
			return uuid.Parse(k.ID)
		}
	}
	return uuid.Nil, fmt.Errorf("KMS demo tenant %s has no key %s", t.Name, demoKeyName)
}

// roundTrip encrypts and decrypts a fresh plaintext with tenant n's demo key.
func (s *scenario) roundTrip(ctx context.Context, n int, auth api.RequestEditorFn) error {
	c, err := s.api()
	if err != nil {
		return err
	}
	id, err := s.demoKey(n)
	if err != nil {
		return err
	}
	plaintext := []byte("integration " + uuid.NewString())
	enc, err := c.EncryptWithResponse(ctx, id, api.EncryptRequest{Plaintext: plaintext}, auth)
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	if enc.JSON200 == nil {
		return fmt.Errorf("encrypt: HTTP %d: %s", enc.StatusCode(), target.Excerpt(enc.Body))
	}
	dec, err := c.DecryptWithResponse(ctx, id, api.DecryptRequest{Ciphertext: enc.JSON200.Ciphertext}, auth)
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	if dec.JSON200 == nil {
		return fmt.Errorf("decrypt: HTTP %d: %s", dec.StatusCode(), target.Excerpt(dec.Body))
	}
	if string(dec.JSON200.Plaintext) != string(plaintext) {
		return errors.New("decrypt returned another plaintext")
	}
	return nil
}

func (s *scenario) serviceTokenEncrypts(ctx context.Context) error {
	tok, _, err := s.token(ctx, 0, serviceClientPrefix)
	if err != nil {
		return err
	}
	return s.roundTrip(ctx, 0, bearer(tok))
}

// call sends one request to the KMS and returns the response and body.
func (s *scenario) call(ctx context.Context, method, path string, body any, edit func(*http.Request)) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequestWithContext(ctx, method, s.kms.URL(path), rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if edit != nil {
		edit(req)
	}
	return s.kms.Do(req)
}

func withBearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// expectChallenge checks a refusal: status, problem+json body and, when
// wantError is set, an RFC 6750 Bearer challenge with that error code.
func expectChallenge(what string, resp *http.Response, body []byte, status int, wantError string) error {
	if err := target.CheckStatus(resp, body, status); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fmt.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	challenges := resp.Header.Values("WWW-Authenticate")
	var bearerChallenge string
	for _, c := range challenges {
		if strings.HasPrefix(c, "Bearer ") || c == "Bearer" {
			bearerChallenge = c
		}
	}
	if bearerChallenge == "" {
		return fmt.Errorf("%s: no Bearer challenge in %q", what, challenges)
	}
	if wantError != "" && !strings.Contains(bearerChallenge, `error="`+wantError+`"`) {
		return fmt.Errorf("%s: challenge %q lacks error=%q", what, bearerChallenge, wantError)
	}
	return nil
}

func (s *scenario) noToken(ctx context.Context) error {
	id, err := s.demoKey(0)
	if err != nil {
		return err
	}
	resp, body, err := s.call(ctx, http.MethodPost, "/api/v1/elastic-keys/"+id.String()+"/encrypt", map[string]any{"plaintext": "aGk="}, nil)
	if err != nil {
		return err
	}
	return expectChallenge("encrypt without a token", resp, body, http.StatusUnauthorized, "")
}

func (s *scenario) badToken(ctx context.Context) error {
	tok, _, err := s.token(ctx, 0, serviceClientPrefix)
	if err != nil {
		return err
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("the access token is not a compact JWS")
	}
	// Tampered: one signature byte changed.
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("token signature: %w", err)
	}
	sig[len(sig)/2] ^= 0x01
	tampered := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	// Unsigned: the same claims under {"alg":"none"}.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	for _, c := range []struct{ what, tok string }{{"a tampered token", tampered}, {"an alg none token", none}} {
		resp, body, err := s.call(ctx, http.MethodGet, "/api/v1/elastic-keys", nil, withBearer(c.tok))
		if err != nil {
			return err
		}
		if err := expectChallenge("list keys with "+c.what, resp, body, http.StatusUnauthorized, "invalid_token"); err != nil {
			return err
		}
	}
	return nil
}

func (s *scenario) insufficientScope(ctx context.Context) error {
	tok, _, err := s.token(ctx, 0, readerClientPrefix)
	if err != nil {
		return err
	}
	id, err := s.demoKey(0)
	if err != nil {
		return err
	}
	// The reader's token is good for reading...
	resp, body, err := s.call(ctx, http.MethodGet, "/api/v1/elastic-keys/"+id.String(), nil, withBearer(tok))
	if err != nil {
		return err
	}
	if err := target.CheckStatus(resp, body, http.StatusOK); err != nil {
		return fmt.Errorf("read the key with a kms:read token: %w", err)
	}
	// ...not for encrypting.
	resp, body, err = s.call(ctx, http.MethodPost, "/api/v1/elastic-keys/"+id.String()+"/encrypt", map[string]any{"plaintext": "aGk="}, withBearer(tok))
	if err != nil {
		return err
	}
	if err := expectChallenge("encrypt with a kms:read token", resp, body, http.StatusForbidden, "insufficient_scope"); err != nil {
		return err
	}
	if c := resp.Header.Get("WWW-Authenticate"); !strings.Contains(c, `scope="kms:encrypt"`) {
		return fmt.Errorf("the 403 challenge %q does not name kms:encrypt", c)
	}
	return nil
}

func (s *scenario) tenantIsolation(ctx context.Context) error {
	tokB, _, err := s.token(ctx, 1, serviceClientPrefix)
	if err != nil {
		return err
	}
	idA, err := s.demoKey(0)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what, method, path string
		body               any
	}{
		{"read tenant A's key", http.MethodGet, "/api/v1/elastic-keys/" + idA.String(), nil},
		{"encrypt with tenant A's key", http.MethodPost, "/api/v1/elastic-keys/" + idA.String() + "/encrypt", map[string]any{"plaintext": "aGk="}},
	} {
		resp, body, err := s.call(ctx, c.method, c.path, c.body, withBearer(tokB))
		if err != nil {
			return err
		}
		if err := target.CheckStatus(resp, body, http.StatusNotFound); err != nil {
			return fmt.Errorf("%s with a tenant B token: %w", c.what, err)
		}
	}
	// And tenant B's own key works with the same token: the 404 above is
	// isolation, not a broken token.
	return s.roundTrip(ctx, 1, bearer(tokB))
}

func (s *scenario) revoked(ctx context.Context) error {
	tr := s.kms.Demo.Trust
	if tr == nil {
		return errors.New("the KMS demo file has no trust section")
	}
	// Two tokens, both seen active by the KMS: one shows that a sensitive
	// call asks Identity at once, the other that ordinary calls notice
	// within the bound. (One token would not do: the first refusal makes
	// the KMS remember the token as revoked for every later call.)
	var toks [2]string
	var c demofile.Client
	for i := range toks {
		tok, client, err := s.token(ctx, 0, serviceClientPrefix)
		if err != nil {
			return err
		}
		if err := s.roundTrip(ctx, 0, bearer(tok)); err != nil {
			return fmt.Errorf("before revocation: %w", err)
		}
		toks[i], c = tok, client
	}
	for _, tok := range toks {
		if err := s.revoke(ctx, c, tok); err != nil {
			return err
		}
	}
	revokedAt := time.Now()
	id, err := s.demoKey(0)
	if err != nil {
		return err
	}
	// Decrypt is sensitive: checked at Identity on every request.
	resp, body, err := s.call(ctx, http.MethodPost, "/api/v1/elastic-keys/"+id.String()+"/decrypt", map[string]any{"ciphertext": "a.b.c.d.e"}, withBearer(toks[0]))
	if err != nil {
		return err
	}
	if err := expectChallenge("decrypt with a revoked token", resp, body, http.StatusUnauthorized, "invalid_token"); err != nil {
		return err
	}
	// Reading a key is not sensitive: it may be served from the last check
	// until the bound, never after.
	bound := time.Duration(tr.RevocationIntervalSeconds * float64(time.Second))
	deadline := revokedAt.Add(bound + 2*time.Second) // the bound, plus a round trip's slack
	for {
		resp, body, err := s.call(ctx, http.MethodGet, "/api/v1/elastic-keys/"+id.String(), nil, withBearer(toks[1]))
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return expectChallenge("a revoked token", resp, body, http.StatusUnauthorized, "invalid_token")
		}
		if err := target.CheckStatus(resp, body, http.StatusOK); err != nil {
			return fmt.Errorf("read with the revoked token: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the revoked token still works %s after revocation; the bound is %s", time.Since(revokedAt).Round(time.Millisecond), bound)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// revoke revokes tok at Identity (RFC 7009) as the client that holds it.
func (s *scenario) revoke(ctx context.Context, c demofile.Client, tok string) error {
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.idp.URL("/oauth2/v1/revoke"), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, body, err := s.idp.Do(req)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if err := target.CheckStatus(resp, body, http.StatusOK); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

func (s *scenario) apiKey(ctx context.Context) error {
	admin, _, err := s.token(ctx, 0, serviceClientPrefix)
	if err != nil {
		return err
	}
	resp, body, err := s.call(ctx, http.MethodPost, apiKeysPath, map[string]any{
		"name": "integration-" + uuid.NewString()[:8], "scopes": []string{"kms:encrypt", "kms:decrypt"},
	}, withBearer(admin))
	if err != nil {
		return err
	}
	if err := target.CheckStatus(resp, body, http.StatusCreated); err != nil {
		return fmt.Errorf("create an API key: %w", err)
	}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Key == "" || created.ID == "" {
		return fmt.Errorf("create an API key: no id and key in %s", target.Excerpt(body))
	}
	withKey := func(ctx context.Context, r *http.Request) error {
		r.Header.Set(apiKeyHeader, created.Key)
		return nil
	}
	if err := s.roundTrip(ctx, 0, withKey); err != nil {
		return fmt.Errorf("with the API key: %w", err)
	}
	resp, body, err = s.call(ctx, http.MethodDelete, apiKeysPath+"/"+created.ID, nil, withBearer(admin))
	if err != nil {
		return err
	}
	if err := target.CheckStatus(resp, body, http.StatusNoContent); err != nil {
		return fmt.Errorf("revoke the API key: %w", err)
	}
	id, err := s.demoKey(0)
	if err != nil {
		return err
	}
	resp, body, err = s.call(ctx, http.MethodPost, "/api/v1/elastic-keys/"+id.String()+"/encrypt", map[string]any{"plaintext": "aGk="},
		func(r *http.Request) { r.Header.Set(apiKeyHeader, created.Key) })
	if err != nil {
		return err
	}
	if err := target.CheckStatus(resp, body, http.StatusUnauthorized); err != nil {
		return fmt.Errorf("encrypt with the revoked API key: %w", err)
	}
	return nil
}

func (s *scenario) clientCert(ctx context.Context) error {
	t, err := s.kms.Tenant(0)
	if err != nil {
		return err
	}
	if len(t.ClientCerts) == 0 {
		return fmt.Errorf("KMS demo tenant %s has no client certificate", t.Name)
	}
	cc := t.ClientCerts[0]
	pair, err := tls.LoadX509KeyPair(cc.CertFile, cc.KeyFile)
	if err != nil {
		return fmt.Errorf("client certificate %s: %w", cc.Name, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsx.ClientConfig(s.kms.Roots, &pair)
	tr.Proxy = nil
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	defer hc.CloseIdleConnections()
	c, err := api.NewClientWithResponses(s.kms.BaseURL, api.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	list, err := c.ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{})
	if err != nil {
		return fmt.Errorf("list keys with the client certificate: %w", err)
	}
	if list.JSON200 == nil {
		return fmt.Errorf("list keys with the client certificate: HTTP %d: %s", list.StatusCode(), target.Excerpt(list.Body))
	}
	id, err := s.demoKey(0)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list.JSON200.Items, func(k api.ElasticKey) bool { return k.Id == id }) {
		return fmt.Errorf("the certificate's principal does not see tenant %s's demo key", t.Name)
	}
	return nil
}
