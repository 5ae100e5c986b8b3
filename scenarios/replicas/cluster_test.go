package replicas_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// onPostgres runs fn once on PostgreSQL. Replicas share one PostgreSQL
// database; SQLite is one process's database, so a SQLite-only run skips
// with the reason, unless it is CI asking for more than SQLite: then a
// missing PostgreSQL is a failure (dbtest.Backends already fails when
// PASSTHRU_TEST_DB asks for PostgreSQL and there is none).
func onPostgres(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, b := range dbtest.Backends(t) {
		if b == dbtest.Postgres {
			t.Run("db=postgres", fn)
			return
		}
	}
	switch {
	case os.Getenv(dbtest.EnvDB) == string(dbtest.SQLite):
		t.Skipf("replicas share one PostgreSQL database; this is the SQLite leg (%s=sqlite), the PostgreSQL leg runs this test", dbtest.EnvDB)
	case os.Getenv("CI") == "true":
		t.Fatalf("replicas need PostgreSQL and CI=true, but this run has none: %s", dbtest.PostgresSkippedNote())
	default:
		t.Skipf("replicas share one PostgreSQL database and this run has none: %s", dbtest.PostgresSkippedNote())
	}
}

// cluster is two Identity replicas and two KMS replicas. idp[0]'s address
// is the issuer (it stands for the load balancer's public address), so
// both KMS replicas fetch keys and introspect there; tokens come from
// either Identity replica with that issuer.
type cluster struct {
	idp [2]*fixture.Identity
	kms [2]*fixture.KMS
}

func startCluster(t *testing.T, idOpts ...fixture.IdentityOption) *cluster {
	t.Helper()
	idp, k := fixture.StartSystemWith(t, dbtest.Postgres, idOpts)
	return &cluster{idp: [2]*fixture.Identity{idp, idp.Replica(t)}, kms: [2]*fixture.KMS{k, k.Replica(t)}}
}

// startIdentityPair is two Identity replicas without a KMS.
func startIdentityPair(t *testing.T, opts ...fixture.IdentityOption) [2]*fixture.Identity {
	t.Helper()
	idp := fixture.StartIdentity(t, dbtest.Postgres, opts...)
	return [2]*fixture.Identity{idp, idp.Replica(t)}
}

// kmsAs is a KMS API client of replica k sending the bearer token tok.
func kmsAs(t *testing.T, k *fixture.KMS, tok string) *api.ClientWithResponses {
	t.Helper()
	c, err := api.NewClientWithResponses(k.URL, api.WithHTTPClient(k.Client), api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}))
	require.NoError(t, err)
	return c
}

// jweKid returns the kid of a compact JWE's protected header.
func jweKid(t *testing.T, jwe string) string {
	t.Helper()
	head, _, ok := strings.Cut(jwe, ".")
	require.True(t, ok, "not a compact JWE: %.40q", jwe)
	raw, err := base64.RawURLEncoding.DecodeString(head)
	require.NoError(t, err)
	var h struct {
		Kid string `json:"kid"`
	}
	require.NoError(t, json.Unmarshal(raw, &h))
	return h.Kid
}

// form posts an application/x-www-form-urlencoded body to path on idp,
// authenticated as client c, and returns the status and decoded JSON body.
func form(ctx context.Context, t *testing.T, idp *fixture.Identity, path string, c demofile.Client, v url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, idp.URL+path, strings.NewReader(v.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := idp.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	body := map[string]any{}
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &body), "%s answered %d: %.300s", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, body
}

// active asks idp whether tok is active, as the KMS's resource-server
// client of tenant 0 does.
func active(ctx context.Context, t *testing.T, idp *fixture.Identity, tok string) bool {
	t.Helper()
	status, body := form(ctx, t, idp, "/oauth2/v1/introspect", idp.ClientWithPrefix(t, 0, "demo-kms-rs"), url.Values{"token": {tok}})
	require.Equal(t, http.StatusOK, status, "introspect: %v", body)
	a, _ := body["active"].(bool)
	return a
}

// roundRobin sends each request to the next replica in turn, as a load
// balancer without session affinity would: the requests' URLs name
// replica 0 (the public address), and the host is rewritten. served
// records which replica answered each request.
type roundRobin struct {
	replicas []*fixture.Identity

	mu     sync.Mutex
	next   int
	served []string // "<replica> <method> <path>"
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	rr.mu.Lock()
	i := rr.next
	rr.next = (rr.next + 1) % len(rr.replicas)
	rr.served = append(rr.served, fmt.Sprintf("%d %s %s", i, r.Method, r.URL.Path))
	rr.mu.Unlock()
	target, err := url.Parse(rr.replicas[i].URL)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.URL.Host, r.Host = target.Host, ""
	return rr.replicas[i].Client.Transport.RoundTrip(r)
}

// codeFlow logs tenant 0's demo user in with the demo web client through
// lb (every request of the browser and the client goes through it) with
// PKCE, and returns the tokens.
func codeFlow(ctx context.Context, t *testing.T, lb *roundRobin) *oauth2.Token {
	t.Helper()
	idp := lb.replicas[0]
	c := idp.ClientWithPrefix(t, 0, "demo-web")
	require.NotEmpty(t, c.RedirectURIs, "demo-web has no redirect URI")
	cfg := &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURIs[0],
		Scopes:   []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: idp.Issuer + "/oauth2/v1/authorize", TokenURL: idp.Issuer + "/oauth2/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	user, err := idp.Tenant(t, 0).User("user")
	require.NoError(t, err)
	client := &http.Client{Transport: lb, Timeout: 30 * time.Second}
	verifier := oauth2.GenerateVerifier()
	loc, err := fixture.IdentityLogin(ctx, client, idp.Issuer, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), user.Username, user.Password)
	require.NoError(t, err)
	require.NotEmpty(t, loc.Query().Get("code"), "login ended at %s", loc)
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, client), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

// decodeJSON decodes one JSON document from r into v.
func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v)
}
