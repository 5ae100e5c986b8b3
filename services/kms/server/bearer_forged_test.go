package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// m1FetchJSON GETs url with client and decodes the JSON answer into v.
func m1FetchJSON(t *testing.T, client *http.Client, url string, v any) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(fixture.ITContext(t), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, raw)
	require.NoError(t, json.Unmarshal(raw, v), "GET %s", url)
	return raw
}

// m1IssuerJWKS returns the signing keys Identity publishes.
func m1IssuerJWKS(t *testing.T, idp *fixture.Identity) jose.JSONWebKeySet {
	t.Helper()
	var md struct {
		JWKSURI string `json:"jwks_uri"`
	}
	m1FetchJSON(t, idp.Client, idp.Issuer+"/.well-known/oauth-authorization-server", &md)
	require.NotEmpty(t, md.JWKSURI)
	var set jose.JSONWebKeySet
	m1FetchJSON(t, idp.Client, md.JWKSURI, &set)
	require.NotEmpty(t, set.Keys)
	return set
}

// m1JWKSServer serves keys as a JWKS over TLS on loopback. The KMS is told
// to take the issuer's keys from it (auth.issuers[].jwks_uri): it serves the
// issuer's real keys plus the test's own, so the test can sign tokens that
// the KMS treats as the issuer's and vary one claim or header at a time.
// caFile is a bundle of the demo CA and this server's certificate, the only
// roots the KMS's issuer client then trusts.
func m1JWKSServer(t *testing.T, keys jose.JSONWebKeySet, demoCA string) (url, caFile string) {
	t.Helper()
	body, err := json.Marshal(keys)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	bundle, err := os.ReadFile(demoCA)
	require.NoError(t, err)
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})...)
	caFile = filepath.Join(t.TempDir(), "issuer-ca.pem")
	require.NoError(t, os.WriteFile(caFile, bundle, 0o600))
	return srv.URL + "/jwks", caFile
}

// m1Sign signs claims with header fields hdr (alg comes from method; a nil
// value removes the field).
func m1Sign(t *testing.T, method jwt.SigningMethod, key any, hdr map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range hdr {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// m1Tamper replaces the payload of a signed token with claims edited by
// fn, keeping header and signature: the signature no longer matches.
func m1Tamper(t *testing.T, raw string, fn func(jwt.MapClaims)) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims jwt.MapClaims
	require.NoError(t, json.Unmarshal(payload, &claims))
	fn(claims)
	edited, err := json.Marshal(claims)
	require.NoError(t, err)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(edited) + "." + parts[2]
}

// m1IDToken gets a real ID token of tenant n's demo user through the
// authorization code flow (login and consent pages, PKCE) with the demo
// confidential client.
func m1IDToken(t *testing.T, idp *fixture.Identity, n int) string {
	t.Helper()
	web := idp.ClientOfKind(t, n, demofile.KindConfidential)
	user, err := idp.Tenant(t, n).User("user")
	require.NoError(t, err)
	cfg := &oauth2.Config{
		ClientID: web.ClientID, ClientSecret: web.ClientSecret, RedirectURL: web.RedirectURIs[0], Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: idp.Issuer + "/oauth2/v1/authorize", TokenURL: idp.Issuer + "/oauth2/v1/token"},
	}
	ctx := context.WithValue(fixture.ITContext(t), oauth2.HTTPClient, idp.Client)
	verifier := oauth2.GenerateVerifier()
	u, err := fixture.IdentityLogin(ctx, idp.Client, idp.Issuer, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), user.Username, user.Password)
	require.NoError(t, err)
	tok, err := cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	id, _ := tok.Extra("id_token").(string)
	require.NotEmpty(t, id)
	return id
}

// TestBearerForgedTokens: tokens that must not get in, each through the
// real KMS router, all answered alike: 401, the invalid_token challenge and
// one problem+json body whose detail never says which check failed.
//
// The KMS takes the Identity issuer's keys from a test JWKS server holding
// Identity's real keys plus one test key ("trusted test key"): a token
// signed with it passes every check the KMS makes, as the control cases
// show, so a case that changes exactly one claim or header of such a token
// is refused for that change and nothing else. Cases that need no trusted
// key use Identity's real tokens (whose signature is real) or say which key
// signed them.
func TestBearerForgedTokens(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		pki := filepath.Join(t.TempDir(), "tls")
		idp := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))
		untrusted := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki))

		realKeys := m1IssuerJWKS(t, idp)
		trustedKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		trustedKid := "test-" + uuid.NewString()
		served := jose.JSONWebKeySet{Keys: append(append([]jose.JSONWebKey{}, realKeys.Keys...),
			jose.JSONWebKey{Key: &trustedKey.PublicKey, KeyID: trustedKid, Algorithm: "ES256", Use: "sig"})}
		jwksURL, caFile := m1JWKSServer(t, served, idp.CAFile)

		k := fixture.StartKMS(t, b, fixture.WithKMSPKIDir(pki), fixture.WithKMSConfig(func(c *kmsserver.Config) {
			c.Demo.IdentityFile = idp.DemoFile // the KMS's tenants are Identity's
			c.Auth.Issuers = []kmsserver.IssuerConfig{{
				Issuer: idp.Issuer, JWKSURI: jwksURL, CAFile: caFile,
				// Local checks only: what is tested is the token itself.
				Revocation: kmsserver.RevocationConfig{Mode: kmsserver.RevocationNone},
			}}
		}))
		tenantA := k.Tenant(t, 0).ID
		tokens := m1NewTokens(idp)
		realTok := tokens.get(t, idp.ClientWithPrefix(t, 0, "demo-service"))
		realKid := realKeys.Keys[0].KeyID

		now := time.Now()
		claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
			c := jwt.MapClaims{
				"iss": idp.Issuer, "aud": "kms", "sub": "forger", "client_id": "forger", "tenant_id": tenantA,
				"scope": "kms:read", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
				"jti": uuid.NewString(),
			}
			if edit != nil {
				edit(c)
			}
			return c
		}
		atHdr := map[string]any{"typ": "at+jwt", "kid": trustedKid}
		trusted := func(edit func(jwt.MapClaims)) string {
			return m1Sign(t, jwt.SigningMethodES256, trustedKey, atHdr, claims(edit))
		}
		otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		realPub, ok := realKeys.Keys[0].Key.(*ecdsa.PublicKey)
		require.True(t, ok, "Identity signs with an EC key (%T)", realKeys.Keys[0].Key)
		realPubDER, err := x509.MarshalPKIXPublicKey(realPub)
		require.NoError(t, err)
		realPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: realPubDER})

		t.Run("controls: these tokens are accepted", func(t *testing.T) {
			for _, tc := range []struct{ desc, token string }{
				{desc: "Identity's real access token (the test JWKS serves Identity's real keys)", token: realTok},
				{desc: "a token signed by the trusted test key with every claim right", token: trusted(nil)},
				{desc: "trusted test key, expired 10s ago: within the 30s leeway", token: trusted(func(c jwt.MapClaims) {
					c["exp"] = now.Add(-10 * time.Second).Unix()
				})},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					r := m1Do(t, k, tc.token, http.MethodGet, "/api/v1/elastic-keys", nil)
					require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
				})
			}
		})

		cases := []struct{ desc, token string }{
			{desc: "alg none, unsigned, real kid", token: m1Sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
				map[string]any{"typ": "at+jwt", "kid": realKid}, claims(nil))},
			{desc: "HS256 keyed with the PKIX DER bytes of Identity's public key, real kid", token: m1Sign(t, jwt.SigningMethodHS256, realPubDER,
				map[string]any{"typ": "at+jwt", "kid": realKid}, claims(nil))},
			{desc: "HS256 keyed with the PEM of Identity's public key, real kid", token: m1Sign(t, jwt.SigningMethodHS256, realPubPEM,
				map[string]any{"typ": "at+jwt", "kid": realKid}, claims(nil))},
			{desc: "ES256 by a key the issuer never published, random kid", token: m1Sign(t, jwt.SigningMethodES256, otherKey,
				map[string]any{"typ": "at+jwt", "kid": uuid.NewString()}, claims(nil))},
			{desc: "ES256 by an unpublished key under the trusted test key's kid", token: m1Sign(t, jwt.SigningMethodES256, otherKey, atHdr, claims(nil))},
			{desc: "ES384 (not an allowed algorithm) by a P-384 key, trusted kid", token: m1Sign(t, jwt.SigningMethodES384, p384, atHdr, claims(nil))},
			{desc: "no kid, trusted test key", token: m1Sign(t, jwt.SigningMethodES256, trustedKey, map[string]any{"typ": "at+jwt"}, claims(nil))},
			{desc: "Identity's real token with its tenant_id changed to tenant B (signature no longer matches)",
				token: m1Tamper(t, realTok, func(c jwt.MapClaims) { c["tenant_id"] = k.Tenant(t, 1).ID })},
			{desc: "trusted test key, wrong iss", token: trusted(func(c jwt.MapClaims) { c["iss"] = "https://issuer.invalid" })},
			{desc: "trusted test key, wrong aud", token: trusted(func(c jwt.MapClaims) { c["aud"] = "identity" })},
			{desc: "trusted test key, no aud", token: trusted(func(c jwt.MapClaims) { delete(c, "aud") })},
			{desc: "trusted test key, typ JWT", token: m1Sign(t, jwt.SigningMethodES256, trustedKey,
				map[string]any{"typ": "JWT", "kid": trustedKid}, claims(nil))},
			{desc: "trusted test key, no typ", token: m1Sign(t, jwt.SigningMethodES256, trustedKey,
				map[string]any{"typ": nil, "kid": trustedKid}, claims(nil))},
			{desc: "trusted test key, crit header", token: m1Sign(t, jwt.SigningMethodES256, trustedKey,
				map[string]any{"typ": "at+jwt", "kid": trustedKid, "crit": []string{"exp"}}, claims(nil))},
			{desc: "trusted test key, expired 2 minutes ago (beyond the leeway)", token: trusted(func(c jwt.MapClaims) {
				c["iat"] = now.Add(-10 * time.Minute).Unix()
				c["nbf"] = now.Add(-10 * time.Minute).Unix()
				c["exp"] = now.Add(-2 * time.Minute).Unix()
			})},
			{desc: "trusted test key, no exp", token: trusted(func(c jwt.MapClaims) { delete(c, "exp") })},
			{desc: "trusted test key, nbf 5 minutes ahead", token: trusted(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })},
			{desc: "trusted test key, iat 5 minutes ahead", token: trusted(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() })},
			{desc: "trusted test key, no iat", token: trusted(func(c jwt.MapClaims) { delete(c, "iat") })},
			{desc: "trusted test key, no sub", token: trusted(func(c jwt.MapClaims) { delete(c, "sub") })},
			{desc: "trusted test key, no tenant_id", token: trusted(func(c jwt.MapClaims) { delete(c, "tenant_id") })},
			{desc: "trusted test key, tenant_id not a UUID", token: trusted(func(c jwt.MapClaims) { c["tenant_id"] = "acme" })},
			{desc: "trusted test key, tenant_id of no registered KMS tenant", token: trusted(func(c jwt.MapClaims) { c["tenant_id"] = uuid.NewString() })},
			{desc: "trusted test key, malformed scope", token: trusted(func(c jwt.MapClaims) { c["scope"] = `kms:read "x"` })},
			{desc: "a real token of a second Identity the KMS does not trust (its own keys and iss)",
				token: m1NewTokens(untrusted).get(t, untrusted.ClientWithPrefix(t, 0, "demo-service"))},
			{desc: "a real access token of the trusted Identity for audience identity (demo-admin client)",
				token: tokens.get(t, idp.ClientWithPrefix(t, 0, "demo-admin"))},
			{desc: "a real ID token of the trusted Identity (authorization code flow), presented as an access token",
				token: m1IDToken(t, idp, 0)},
			{desc: "not a JWT at all", token: "not-a-jwt"},
		}
		var body string
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				r := m1Do(t, k, tc.token, http.MethodGet, "/api/v1/elastic-keys", nil)
				m1AssertBearer401(t, r, "invalid_token")
				var bearerChallenges []string
				for _, c := range r.header.Values("WWW-Authenticate") {
					if strings.HasPrefix(c, "Bearer") {
						bearerChallenges = append(bearerChallenges, c)
					}
				}
				assert.Equal(t, []string{`Bearer realm="kms", error="invalid_token"`}, bearerChallenges,
					"one Bearer challenge, with no error_description")
				got := r.str(t, "detail")
				require.NotEmpty(t, got)
				if body == "" {
					body = string(r.body)
				}
				// Same path, so the whole problem document is the same.
				assert.JSONEq(t, body, string(r.body), "every refusal reads the same")
				for _, word := range []string{"iss", "aud", "kid", "typ", "exp", "nbf", "iat", "tenant", "signature", "alg", "scope", "expired"} {
					assert.NotContains(t, strings.ToLower(got), word, "the detail names the failed check")
				}
			})
		}
	})
}
