package oauth

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestBatchIntrospection: each result is what the single introspection
// endpoint answers for that token, in request order.
func TestBatchIntrospection(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newMTLSRig(t, b)
		ctx := t.Context()
		st := storeOf(r.s)

		user := r.mint(t, testIssuer, nil)
		grant := r.newRefresh(t, r.refresher(t))
		revoked := r.mint(t, testIssuer, nil)
		c, err := r.s.cfg.Tokens.ParseAccess(ctx, revoked, "")
		require.NoError(t, err)
		require.NoError(t, st.RevokeAccess(ctx, r.tenant, c.ID, r.now))
		other := ids.NewTenant()
		require.NoError(t, st.CreateTenant(ctx, other, "other", false))
		otherSvc := &identity.Client{ClientID: "svc-" + other.String()[:8], Name: "svc", Kind: identity.KindService, SecretHash: r.rs.SecretHash,
			GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"kms:read"}, Audiences: []string{"kms"}}
		require.NoError(t, st.CreateClient(ctx, other, otherSvc))
		foreign, err := r.s.issueTokens(ctx, issue{tenant: other, client: otherSvc, scopes: []string{"kms:read"}, audience: "kms"})
		require.NoError(t, err)
		require.Equal(t, true, r.otherIntrospect(t, other, foreign.AccessToken), "the token is live in its own tenant")

		batch := []string{user, "not-a-token", grant.RefreshToken, revoked, foreign.AccessToken, grant.AccessToken, "a.b.c", user}
		status, body, header := r.do(t, request{path: PathIntrospectBatch, form: url.Values{"token": batch},
			basicUser: r.rs.ClientID, basicPass: r.rsPass})
		require.Equal(t, http.StatusOK, status, body)
		assert.Equal(t, "no-store", header.Get("Cache-Control"))
		results, ok := body["results"].([]any)
		require.True(t, ok, body)
		require.Len(t, results, len(batch))
		for i, tok := range batch {
			assert.Equal(t, r.introspect(t, tok), results[i], "result %d is what introspect answers alone", i)
		}
		wantActive := []bool{true, false, true, false, false, true, false, true}
		for i, want := range wantActive {
			assert.Equal(t, want, results[i].(map[string]any)["active"], "result %d", i)
		}
		assert.Equal(t, "refresh_token", results[2].(map[string]any)["token_type"])
		assert.Equal(t, map[string]any{"active": false}, results[4], "another tenant's token is just inactive")
	})
}

// otherIntrospect asks a fresh resource server of tenant whether token is
// active there.
func (r *mtlsRig) otherIntrospect(t *testing.T, tenant uuid.UUID, token string) bool {
	t.Helper()
	rs := &identity.Client{ClientID: "rs-" + tenant.String()[:8], Name: "rs", Kind: identity.KindResourceServer, SecretHash: r.rs.SecretHash, CanIntrospect: true}
	require.NoError(t, storeOf(r.s).CreateClient(t.Context(), tenant, rs))
	status, body, _ := r.do(t, request{path: PathIntrospect, form: url.Values{"token": {token}}, basicUser: rs.ClientID, basicPass: r.rsPass})
	require.Equal(t, http.StatusOK, status, body)
	return body["active"] == true
}

func TestBatchIntrospectionRefusals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newMTLSRig(t, b)
		token := r.mint(t, testIssuer, nil)
		tokens := func(n int) url.Values {
			v := url.Values{}
			for range n {
				v.Add("token", token)
			}
			return v
		}
		withForm := func(v url.Values, k, val string) url.Values {
			v.Add(k, val)
			return v
		}
		rs := func(form url.Values) request {
			return request{path: PathIntrospectBatch, form: form, basicUser: r.rs.ClientID, basicPass: r.rsPass}
		}
		for _, tc := range []struct {
			desc       string
			q          request
			wantStatus int
			wantCode   string
			wantDesc   string
			wantN      int // results on success
		}{
			{desc: "one token", q: rs(tokens(1)), wantStatus: 200, wantN: 1},
			{desc: "the maximum of tokens", q: rs(tokens(MaxBatchTokens)), wantStatus: 200, wantN: MaxBatchTokens},
			{desc: "no token", q: rs(url.Values{}), wantStatus: 400, wantCode: "invalid_request", wantDesc: "at least one token is required"},
			{desc: "one token too many", q: rs(tokens(MaxBatchTokens + 1)), wantStatus: 400, wantCode: "invalid_request",
				wantDesc: "at most 100 tokens per request, got " + strconv.Itoa(MaxBatchTokens+1)},
			{desc: "an empty token", q: rs(withForm(tokens(2), "token", "")), wantStatus: 400, wantCode: "invalid_request", wantDesc: "token 3 of 3 is empty"},
			{desc: "another parameter repeated", q: rs(withForm(withForm(tokens(2), "client_id", r.rs.ClientID), "client_id", r.rs.ClientID)),
				wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter client_id given more than once"},
			{desc: "a client that may not introspect", q: request{path: PathIntrospectBatch, form: tokens(2), basicUser: r.web.ClientID, basicPass: r.rsPass},
				wantStatus: 403, wantCode: "unauthorized_client"},
			{desc: "a wrong secret", q: request{path: PathIntrospectBatch, form: tokens(2), basicUser: r.rs.ClientID, basicPass: "wrong"},
				wantStatus: 401, wantCode: "invalid_client"},
			{desc: "no client authentication", q: request{path: PathIntrospectBatch, form: tokens(2)},
				wantStatus: 401, wantCode: "invalid_client"},
			{desc: "the single endpoint still refuses a repeated token", q: request{path: PathIntrospect, form: tokens(2), basicUser: r.rs.ClientID, basicPass: r.rsPass},
				wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter token given more than once"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				status, body, _ := r.do(t, tc.q)
				require.Equal(t, tc.wantStatus, status, body)
				if tc.wantCode == "" {
					results, ok := body["results"].([]any)
					require.True(t, ok, body)
					require.Len(t, results, tc.wantN)
					for _, res := range results {
						assert.Equal(t, true, res.(map[string]any)["active"])
					}
					return
				}
				assert.Equal(t, tc.wantCode, body["error"], body)
				assert.NotContains(t, body, "results")
				if tc.wantDesc != "" {
					assert.Contains(t, body["error_description"], tc.wantDesc)
				}
			})
		}
	})
}
