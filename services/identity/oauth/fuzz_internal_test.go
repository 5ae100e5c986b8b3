package oauth

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// FuzzParseScope: the scope parameter of the authorize and token endpoints
// never yields an empty token, one holding whitespace, or a duplicate, and
// parsing what it yields, joined again, gives the same scopes.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"", " ", "openid", "openid profile", "openid  profile openid", "\topenid\nprofile\r", "openid\u00a0profile",
		"openid\u2028profile\u3000kms:read", "\x00 \x85", "é kms:keys:read",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes := parseScope(s)
		seen := map[string]bool{}
		for _, sc := range scopes {
			require.NotEmpty(t, sc, "empty scope token from %q", s)
			require.False(t, strings.ContainsFunc(sc, unicode.IsSpace), "scope token %q holds whitespace", sc)
			require.False(t, seen[sc], "scope %q twice", sc)
			seen[sc] = true
		}
		require.Equal(t, scopes, parseScope(strings.Join(scopes, " ")), "parse, join, parse is not stable")
		require.Equal(t, scopeKey(scopes), scopeKey(parseScope(scopeKey(scopes))))
	})
}

// loopbackWithoutPort returns an http loopback IP-literal redirect URI
// with its port removed ("http://127.0.0.1:5000/cb" -> "http://127.0.0.1/cb"),
// and false for anything else. It works on the text, not on a parse, so
// the property below holds the matcher to the literal string.
func loopbackWithoutPort(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && i > strings.LastIndexByte(authority, ']') {
		host, port = authority[:i], authority[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.ContainsAny(port, "+-") {
			return "", false
		}
	}
	ip := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip != "127.0.0.1" && ip != "::1" || (ip == "::1") != (host == "[::1]") {
		return "", false
	}
	return "http://" + host + tail, true
}

// FuzzRedirectAllowed: a redirect URI is allowed only when it is one the
// client registered, character for character (OAuth 2.1 exact matching),
// or, for a public client, a loopback IP registration with another port
// (RFC 8252 §7.3) and nothing else different: not the scheme's case, a
// user, a fragment, an empty query, an encoded character, a path segment.
func FuzzRedirectAllowed(f *testing.F) {
	confidential := &identity.Client{ClientID: "web", Kind: identity.KindConfidential,
		RedirectURIs: []string{"https://app.test/cb", "https://app.test/cb?tenant=a"}}
	public := &identity.Client{ClientID: "cli", Kind: identity.KindPublic,
		RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]:8080/cb?x=1", "http://localhost/cb", "com.example.app:/oauth"}}
	clients := []*identity.Client{confidential, public}
	for _, c := range clients {
		for _, u := range c.RedirectURIs {
			f.Add(u)
		}
	}
	// testdata/fuzz/FuzzRedirectAllowed adds the inputs the matcher once
	// allowed: loopback URIs that differ from the registration in more than
	// the port (scheme case, empty query, fragment or port).
	for _, s := range []string{
		"", "http://127.0.0.1:5000/cb", "http://127.0.0.1:65536/cb", "http://[::1]/cb?x=1", "http://[::1]:1/cb?x=1",
		"http://127.0.0.1:5000/cb#x",
		"http://user@127.0.0.1:5000/cb", "http://127.0.0.1:5000@evil.test/cb", "http://127.0.0.%31:5000/cb", "http://127.0.0.1:5000/%63b",
		"http://127.0.0.1:5000/cb/../cb", "http://127.0.0.1:5000//cb", "http://127.1:5000/cb", "http://[::ffff:127.0.0.1]:5000/cb",
		"http://[0:0:0:0:0:0:0:1]:8080/cb?x=1", "http://localhost:5000/cb", "https://app.test/cb/", "https://APP.test/cb",
		"https://app.test/cb?tenant=b", "https://app.test/cb#", "https://app.test:443/cb", "com.example.app:/oauth/",
		"http://127.0.0.1:+5000/cb", "http://127.0.0.1:05000/cb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		for _, c := range clients {
			if !redirectAllowed(c, uri) {
				continue
			}
			if slices.Contains(c.RedirectURIs, uri) {
				continue
			}
			require.True(t, c.Public(), "client %s: %q allowed but not registered", c.ClientID, uri)
			got, ok := loopbackWithoutPort(uri)
			require.True(t, ok, "client %s: %q allowed as a loopback redirect but is not one", c.ClientID, uri)
			require.True(t, slices.ContainsFunc(c.RedirectURIs, func(reg string) bool {
				want, ok := loopbackWithoutPort(reg)
				return ok && want == got
			}), "client %s: %q allowed but differs from every registration in more than the port", c.ClientID, uri)
		}
	})
}

// fuzzServiceClient is the one client FuzzTokenEndpoint's servers give
// tokens to (client_credentials); its secret is the rig's.
const fuzzServiceClient = "fuzz-svc"

// FuzzTokenEndpoint drives the token endpoint with arbitrary bodies,
// content types and Authorization headers, on each database backend of the
// run. It must never fail with a 5xx (other than a busy 503 with
// Retry-After), always answer JSON that the client cannot cache, refuse
// with an OAuth error object, and issue a token only to the service client
// presenting its exact credentials, by exactly one method.
func FuzzTokenEndpoint(f *testing.F) {
	type target struct {
		s    *Server
		rig  *rig
		name string
	}
	var targets []target
	for _, b := range dbtest.Backends(f) {
		r := newRigOn(f, dbtest.Open(f, b))
		svc := &identity.Client{ClientID: fuzzServiceClient, Name: "svc", Kind: identity.KindService, SecretHash: r.rs.SecretHash,
			GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"kms:read", "kms:encrypt"}, Audiences: []string{"kms"}}
		require.NoError(f, storeOf(r.s).CreateClient(f.Context(), r.tenant, svc))
		// No lockout: the fuzzer sends wrong secrets by the thousand, and
		// a locked client would hide the success path from it.
		creds, err := credential.New(credential.Options{Hasher: password.Hasher{Iterations: 1000}, Now: r.s.cfg.Now, LockoutThreshold: math.MaxInt32})
		require.NoError(f, err)
		s := r.serverWith(f, func(c *Config) { c.Credentials = creds })
		targets = append(targets, target{s: s, rig: r, name: string(b)})
	}
	secret := targets[0].rig.rsPass
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	web := targets[0].rig.web.ClientID
	for _, seed := range []struct{ contentType, authorization, body string }{
		{formType, basic(fuzzServiceClient, secret), "grant_type=client_credentials"},
		{formType, basic(fuzzServiceClient, secret), "grant_type=client_credentials&scope=kms%3Aread&resource=kms"},
		{formType, "", "grant_type=client_credentials&client_id=" + fuzzServiceClient + "&client_secret=" + secret},
		{formType + "; charset=UTF-8", basic(fuzzServiceClient, secret), "grant_type=client_credentials&client_secret=" + secret},
		{formType, basic(fuzzServiceClient, secret+"x"), "grant_type=client_credentials"},
		{formType, basic(fuzzServiceClient, secret), "grant_type=client_credentials&scope=openid"},
		{formType, basic(fuzzServiceClient, secret), "grant_type=client_credentials&grant_type=client_credentials"},
		{formType, basic(web, secret), "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&code_verifier=" + strings.Repeat("a", 43)},
		{formType, basic(web, secret), "grant_type=refresh_token&refresh_token=x"},
		{formType, "Basic %%%", "grant_type=client_credentials"},
		{formType, "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:%")), "grant_type=client_credentials"},
		{formType, "", "grant_type=password&username=u&password=p"},
		{formType, "", "scope=kms%3Aread"},
		{formType, "", "a=%zz;b"},
		{"application/json", "", `{"grant_type":"client_credentials"}`},
		{"", "", ""},
	} {
		f.Add(seed.contentType, seed.authorization, seed.body)
	}
	f.Fuzz(func(t *testing.T, contentType, authorization, body string) {
		for _, tg := range targets {
			r := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(body))
			if contentType != "" {
				r.Header["Content-Type"] = []string{contentType}
			}
			if authorization != "" {
				r.Header["Authorization"] = []string{authorization}
			}
			w := httptest.NewRecorder()
			tg.s.token(w, r)

			where := "db=" + tg.name
			status := w.Code
			require.True(t, status < 500 || status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") != "",
				"%s: status %d for %q: %s", where, status, body, w.Body.String())
			require.Equal(t, "no-store", w.Header().Get("Cache-Control"), where)
			mt := w.Header().Get("Content-Type")
			require.True(t, strings.HasPrefix(mt, "application/json"), "%s: content type %q", where, mt)
			var out map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), "%s: the answer is no JSON object: %s", where, w.Body.String())
			if status != http.StatusOK {
				code, _ := out["error"].(string)
				require.NotEmpty(t, code, "%s: a refusal without an OAuth error code: %s", where, w.Body.String())
				return
			}
			require.NotEmpty(t, out["access_token"], where)
			require.Equal(t, GrantClientCredentials, r.PostForm.Get("grant_type"), where)
			// A token only for the service client's exact credential, sent
			// by exactly one method.
			id, sec, isBasic := r.BasicAuth()
			if isBasic {
				id, _ = url.QueryUnescape(id)
				sec, _ = url.QueryUnescape(sec)
				require.Empty(t, r.PostForm.Get("client_secret"), "%s: two authentication methods", where)
			} else {
				id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			}
			require.Equal(t, fuzzServiceClient, id, "%s: token for another client", where)
			require.Equal(t, tg.rig.rsPass, sec, "%s: token for a credential that is not the client's", where)
		}
	})
}
