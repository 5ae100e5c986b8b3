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
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/kms/api"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
	"github.com/passthru-dev/passthru/testkit/procs"
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

func TestMain(m *testing.M) {
	procs.RunIfChild() // a re-executed test binary runs a server here
	os.Exit(m.Run())
}

// server is one replica as the tests use it: its address, a client
// trusting the demo CA only, and its demo.json.
type server struct {
	URL    string
	Issuer string // Identity's, the same on every replica
	Client *http.Client
	Demo   *demofile.File
}

func serverOf(t *testing.T, p *procs.Proc) *server {
	t.Helper()
	return &server{URL: p.URL, Issuer: p.Issuer(), Client: p.Client, Demo: p.Demo(t)}
}

// cluster is two Identity replicas and two KMS replicas, each a process
// of its own. idp[0]'s address is the issuer (it stands for the load
// balancer's public address), so both KMS replicas fetch keys and
// introspect there; tokens come from either Identity replica with that
// issuer.
type cluster struct {
	idp [2]*server
	kms [2]*server
}

// startCluster starts the four processes; kmsConfig is merged into both
// KMS replicas' configuration.
func startCluster(t *testing.T, kmsConfig map[string]any) *cluster {
	t.Helper()
	pki := filepath.Join(t.TempDir(), "tls") // one demo CA for all
	idp := procs.Start(t, procs.Options{Service: procs.Identity, Name: "identity-1", PKIDir: pki, DSN: dbtest.Options(t, dbtest.Postgres).DSN})
	k := procs.Start(t, procs.Options{Service: procs.KMS, Name: "kms-1", PKIDir: pki, DSN: dbtest.Options(t, dbtest.Postgres).DSN,
		IdentityDemoFile: idp.DemoFile, Config: kmsConfig})
	idp2, kms2 := procs.Replica(t, idp, "identity-2"), procs.Replica(t, k, "kms-2")
	return &cluster{
		idp: [2]*server{serverOf(t, idp), serverOf(t, idp2)},
		kms: [2]*server{serverOf(t, k), serverOf(t, kms2)},
	}
}

// startIdentityPair is two Identity replicas without a KMS; config is
// merged into their configuration.
func startIdentityPair(t *testing.T, config map[string]any) [2]*server {
	t.Helper()
	idp := procs.Start(t, procs.Options{Service: procs.Identity, Name: "identity-1", DSN: dbtest.Options(t, dbtest.Postgres).DSN, Config: config})
	return [2]*server{serverOf(t, idp), serverOf(t, procs.Replica(t, idp, "identity-2"))}
}

// tenant returns demo tenant 0 of s.
func tenant(t *testing.T, s *server) *demofile.Tenant {
	t.Helper()
	require.NotEmpty(t, s.Demo.Tenants, "demo.json has no tenant")
	return &s.Demo.Tenants[0]
}

// client returns the demo client of tenant 0 whose id starts with prefix.
func client(t *testing.T, s *server, prefix string) demofile.Client {
	t.Helper()
	for _, c := range tenant(t, s).Clients {
		if strings.HasPrefix(c.ClientID, prefix) {
			return c
		}
	}
	t.Fatalf("demo tenant 0 has no client %s-*", prefix)
	return demofile.Client{}
}

// clientToken gets an access token for c from replica s with the client
// credentials grant.
func clientToken(ctx context.Context, t *testing.T, s *server, c demofile.Client) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: s.URL + "/oauth2/v1/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, s.Client))
	require.NoError(t, err, "client credentials token for %s", c.ClientID)
	return tok.AccessToken
}

// kmsAdmin is a KMS API client of replica k authenticated as tenant 0's
// demo admin (HTTP Basic).
func kmsAdmin(t *testing.T, k *server) *api.ClientWithResponses {
	t.Helper()
	tn := tenant(t, k)
	u, err := tn.User(kmsserver.DemoUsername("admin", tn.Name))
	require.NoError(t, err)
	c, err := api.NewClientWithResponses(k.URL, api.WithHTTPClient(k.Client), api.WithRequestEditorFn(fixture.BasicAuth(u.Username, u.Password)))
	require.NoError(t, err)
	return c
}

// kmsAs is a KMS API client of replica k sending the bearer token tok.
func kmsAs(t *testing.T, k *server, tok string) *api.ClientWithResponses {
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
func form(ctx context.Context, t *testing.T, idp *server, path string, c demofile.Client, v url.Values) (int, map[string]any) {
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
func active(ctx context.Context, t *testing.T, idp *server, tok string) bool {
	t.Helper()
	status, body := form(ctx, t, idp, "/oauth2/v1/introspect", client(t, idp, "demo-kms-rs"), url.Values{"token": {tok}})
	require.Equal(t, http.StatusOK, status, "introspect: %v", body)
	a, _ := body["active"].(bool)
	return a
}

// roundRobin sends each request to the next replica in turn, as a load
// balancer without session affinity would: the requests' URLs name
// replica 0 (the public address), and the host is rewritten. served
// records which replica answered each request.
type roundRobin struct {
	replicas []*server

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
	c := client(t, idp, "demo-web")
	require.NotEmpty(t, c.RedirectURIs, "demo-web has no redirect URI")
	cfg := &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURIs[0],
		Scopes:   []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: idp.Issuer + "/oauth2/v1/authorize", TokenURL: idp.Issuer + "/oauth2/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	user, err := tenant(t, idp).User("user")
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
