package identity_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	identityscenario "github.com/passthru-dev/passthru/scenarios/identity"
	"github.com/passthru-dev/passthru/scenarios/step"
	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/scenarios/target/tamper"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

func formOf(body []byte) url.Values {
	v, _ := url.ParseQuery(string(body))
	return v
}

func grant(g string, status int) func(*http.Request, []byte, *tamper.Response) bool {
	return func(r *http.Request, body []byte, resp *tamper.Response) bool {
		return r.URL.Path == "/oauth2/v1/token" && formOf(body).Get("grant_type") == g && resp.Status == status
	}
}

func fakeTokens(resp *tamper.Response) {
	resp.Status = http.StatusOK
	resp.Body = []byte(`{"access_token":"a.b.c","refresh_token":"r","token_type":"Bearer","expires_in":300}`)
}

// TestStepsNoticeALyingIdentity puts a rewriting proxy in front of a real
// Identity provider (for the calls a scenario makes to its base URL) and
// checks that the step covering each lie fails.
func TestStepsNoticeALyingIdentity(t *testing.T) {
	pkiDir := t.TempDir()
	idp := fixture.StartIdentity(t, dbtest.Backend("sqlite"), fixture.WithIdentityPKIDir(pkiDir))
	rsB, err := idp.Demo.Tenants[1].ClientOfKind(demofile.KindResourceServer)
	require.NoError(t, err)
	cases := []struct {
		desc   string
		rule   tamper.Rule
		failed string
	}{
		{
			desc: "the OAuth metadata advertises the password grant",
			rule: tamper.Rule{
				Match: func(r *http.Request, _ []byte, _ *tamper.Response) bool {
					return r.URL.Path == "/.well-known/oauth-authorization-server"
				},
				Rewrite: func(resp *tamper.Response) {
					resp.Body = []byte(strings.Replace(string(resp.Body), `"grant_types_supported":[`, `"grant_types_supported":["password",`, 1))
				},
			},
			failed: "discovery",
		},
		{
			desc: "a demo user cannot sign in",
			rule: tamper.Rule{
				Match: func(r *http.Request, body []byte, _ *tamper.Response) bool {
					return r.Method == "POST" && r.URL.Path == "/oidc/v1/login" && formOf(body).Get("username") == "admin"
				},
				Rewrite: func(resp *tamper.Response) {
					resp.Status, resp.Body = http.StatusUnauthorized, []byte("Wrong username or password.")
				},
			},
			failed: "seeded-data-present",
		},
		{
			desc: "another tenant's resource server sees the token",
			rule: tamper.Rule{
				Match: func(r *http.Request, _ []byte, _ *tamper.Response) bool {
					id, _, _ := r.BasicAuth()
					id, _ = url.QueryUnescape(id)
					return r.URL.Path == "/oauth2/v1/introspect" && id == rsB.ClientID
				},
				Rewrite: func(resp *tamper.Response) { resp.Body = []byte(`{"active":true,"sub":"someone"}`) },
			},
			failed: "introspection",
		},
		{
			desc:   "a reused refresh token still works",
			rule:   tamper.Rule{Match: grant("refresh_token", http.StatusBadRequest), Rewrite: fakeTokens},
			failed: "refresh-rotation",
		},
		{
			desc:   "a replayed code still works",
			rule:   tamper.Rule{Match: grant("authorization_code", http.StatusBadRequest), Rewrite: fakeTokens},
			failed: "code-replay-refused",
		},
		{
			desc:   "a wrong PKCE verifier still works",
			rule:   tamper.Rule{Match: grant("authorization_code", http.StatusBadRequest), Rewrite: fakeTokens},
			failed: "pkce-enforced",
		},
		{
			desc: "revocation is refused",
			rule: tamper.Rule{
				Match: func(r *http.Request, _ []byte, _ *tamper.Response) bool { return r.URL.Path == "/oauth2/v1/revoke" },
				Rewrite: func(resp *tamper.Response) {
					resp.Status, resp.Body = http.StatusBadRequest, []byte(`{"error":"invalid_request"}`)
				},
			},
			failed: "revocation",
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			proxy := tamper.Start(t, pkiDir, idp.URL, idp.Client, tc.rule)
			tgt, err := target.New(target.Options{Service: "identity", BaseURL: proxy, DemoFile: idp.DemoFile})
			require.NoError(t, err)
			sum, err := (&step.Runner{StepTimeout: 20 * time.Second}).Run(fixture.ITContext(t), identityscenario.Steps(tgt))
			require.NoError(t, err)
			outcomes := map[string]step.Outcome{}
			for _, r := range sum.Results {
				outcomes[r.Name] = r.Outcome
				if r.Outcome == step.Failed {
					t.Logf("%s failed: %v", r.Name, r.Err)
				}
			}
			assert.Equal(t, step.Failed, outcomes[tc.failed], "the lie must fail %s", tc.failed)
			assert.Equal(t, step.Passed, outcomes["readyz"])
		})
	}
}

// TestSeededStepNeedsSomethingToCheck edits the demo file instead of the
// answers: a tenant without users, or a web client without a redirect URI
// to sign them in with, leaves nothing to prove, and the step must fail
// rather than pass having checked nothing.
func TestSeededStepNeedsSomethingToCheck(t *testing.T) {
	idp := fixture.StartIdentity(t, dbtest.Backend("sqlite"))
	cases := []struct {
		desc string
		edit func(f *demofile.File)
		want string
	}{
		{
			desc: "a tenant without users",
			edit: func(f *demofile.File) { f.Tenants[1].Users = nil },
			want: "lists no users",
		},
		{
			desc: "a web client without a redirect URI",
			edit: func(f *demofile.File) {
				for i, c := range f.Tenants[1].Clients {
					if c.Kind == demofile.KindConfidential {
						f.Tenants[1].Clients[i].RedirectURIs = nil
					}
				}
			},
			want: "has no redirect URI",
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			f, err := demofile.Read(idp.DemoFile)
			require.NoError(t, err)
			tc.edit(f)
			path, err := demofile.Write(t.TempDir(), f)
			require.NoError(t, err)
			tgt, err := target.New(target.Options{Service: "identity", DemoFile: path})
			require.NoError(t, err)
			sum, err := (&step.Runner{StepTimeout: 20 * time.Second}).Run(fixture.ITContext(t), identityscenario.Steps(tgt))
			require.NoError(t, err)
			for _, r := range sum.Results {
				if r.Name == "seeded-data-present" {
					assert.Equal(t, step.Failed, r.Outcome)
					require.Error(t, r.Err)
					assert.Contains(t, r.Err.Error(), tc.want)
					return
				}
			}
			t.Fatal("no seeded-data-present step")
		})
	}
}
