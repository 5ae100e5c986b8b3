package oauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// raceAnswer is one token endpoint answer of a concurrent burst.
type raceAnswer struct {
	status int
	body   map[string]any
	err    error
}

// burst posts the same token request n times at once (released together)
// and returns every answer. Safe to call from the test goroutine only; the
// workers never call t.FailNow.
func (e *env) burst(ctx context.Context, n int, c *demofile.Client, form url.Values) []raceAnswer {
	out := make([]raceAnswer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url(oauth.PathToken), strings.NewReader(form.Encode()))
			if err != nil {
				out[i].err = err
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
			resp, err := e.idp.Client.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err == nil {
				err = json.Unmarshal(raw, &out[i].body)
			}
			out[i].status, out[i].err = resp.StatusCode, err
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// TestConcurrentRedemption presents one code, and one refresh token, many
// times at once, on every backend: each grant is one transaction, so exactly
// one presentation succeeds and the others fail with invalid_grant; since
// those failures are replays, the grant is revoked, so no token issued in
// the burst stays active.
func TestConcurrentRedemption(t *testing.T) {
	const n = 8
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))
		ctx := fixture.ITContext(t)
		check := func(t *testing.T, answers []raceAnswer) {
			t.Helper()
			wins := 0
			for i, a := range answers {
				require.NoError(t, a.err, "request %d", i)
				if a.status == http.StatusOK {
					wins++
					assert.False(t, e.active(t, a.body["access_token"].(string)), "a token issued during a replay is revoked")
					if rt, ok := a.body["refresh_token"].(string); ok {
						assert.False(t, e.active(t, rt), "a refresh token issued during a replay is revoked")
					}
					continue
				}
				assert.Equal(t, http.StatusBadRequest, a.status, "request %d: %v", i, a.body)
				assert.Equal(t, "invalid_grant", a.body["error"], "request %d", i)
				assert.NotContains(t, a.body, "access_token")
			}
			assert.Equal(t, 1, wins, "presentations of one grant that succeeded")
		}

		for round := range 3 {
			t.Run(fmt.Sprintf("one code, %d exchanges at once (round %d)", n, round), func(t *testing.T) {
				code, verifier := e.codeFor(t, newBrowser(t, e.idp), e.webConfig("openid"))
				check(t, e.burst(ctx, n, &e.web, url.Values{
					"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {e.web.RedirectURIs[0]}, "code_verifier": {verifier},
				}))
			})
			t.Run(fmt.Sprintf("one refresh token, %d rotations at once (round %d)", n, round), func(t *testing.T) {
				first := e.tokensFor(t, "openid")
				check(t, e.burst(ctx, n, &e.web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}))
				assert.False(t, e.active(t, first["access_token"].(string)), "reuse revoked the family")
			})
		}
	})
}
