package oauth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestRefreshFamilyLifetime walks one refresh-token family through its
// absolute lifetime (tokens.refresh_family_ttl, default 30 days) with the
// injected clock: rotations renew each token's own 24h, the last one before
// the deadline is capped at the deadline, and after it the family is over.
// The steps run in order on the same family.
func TestRefreshFamilyLifetime(t *testing.T) {
	defaults := identityserver.DefaultConfig().Tokens
	refreshTTL, familyTTL := defaults.RefreshTokenTTL, defaults.RefreshFamilyTTL
	require.Equal(t, 24*time.Hour, refreshTTL)
	require.Equal(t, 30*24*time.Hour, familyTTL)
	// Rotating every 23h keeps each token alive; 31 rotations reach 713h,
	// the last point before the 720h deadline.
	const every = 23 * time.Hour

	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		clock := fixture.NewIdentityClock(time.Now().UTC().Truncate(time.Second))
		e := newEnv(t, fixture.StartIdentity(t, b, fixture.WithIdentityClock(clock.Now)))

		first := e.tokensFor(t, "openid")
		start := clock.Now()
		deadline := start.Add(familyTTL)
		rt := first["refresh_token"].(string)
		assert.Equal(t, float64(start.Add(refreshTTL).Unix()), e.introspect(t, rt)["exp"], "the first token has the full refresh lifetime")

		for _, step := range []struct {
			desc      string
			rotations int           // each after advancing the clock by every
			advance   time.Duration // instead of rotations: move the clock once, then refresh once
			// wantExp is the expiry of the last token issued, from the
			// clock at that moment; nil means the refresh must fail.
			wantExp func(now time.Time) time.Time
		}{
			{desc: "rotation within the family lifetime renews the refresh lifetime", rotations: 1,
				wantExp: func(now time.Time) time.Time { return now.Add(refreshTTL) }},
			{desc: "rotations carry the family into its last day", rotations: 29,
				wantExp: func(now time.Time) time.Time { return now.Add(refreshTTL) }},
			{desc: "the last rotation before the deadline is capped at the family deadline", rotations: 1,
				wantExp: func(time.Time) time.Time { return deadline }},
			{desc: "a refresh after the family deadline is invalid_grant and issues nothing", advance: 8 * time.Hour},
		} {
			t.Run(step.desc, func(t *testing.T) {
				n := max(step.rotations, 1)
				for i := range n {
					if step.rotations > 0 {
						clock.Advance(every)
					} else {
						clock.Advance(step.advance)
					}
					status, body := e.refresh(t, &e.web, rt, "")
					if step.wantExp == nil {
						require.True(t, clock.Now().After(deadline), "the step must end past the deadline")
						requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
						assert.Contains(t, body["error_description"], "maximum lifetime")
						assert.False(t, e.active(t, rt), "the family's last token is no longer active")
						return
					}
					require.Equal(t, http.StatusOK, status, "rotation %d at %s: %v", i+1, clock.Now().Sub(start), body)
					rt = body["refresh_token"].(string)
				}
				in := e.introspect(t, rt)
				require.Equal(t, true, in["active"], in)
				assert.Equal(t, float64(step.wantExp(clock.Now()).Unix()), in["exp"])
				assert.LessOrEqual(t, int64(in["exp"].(float64)), deadline.Unix(), "no token outlives its family")
			})
		}

		t.Run("a fresh code flow starts a new family", func(t *testing.T) {
			again := e.tokensFor(t, "openid")
			now := clock.Now()
			rt := again["refresh_token"].(string)
			assert.Equal(t, float64(now.Add(refreshTTL).Unix()), e.introspect(t, rt)["exp"])
			clock.Advance(every)
			status, body := e.refresh(t, &e.web, rt, "")
			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, float64(clock.Now().Add(refreshTTL).Unix()), e.introspect(t, body["refresh_token"].(string))["exp"],
				"the new family counts from the new authorization, not the old one")
		})
	})
}

// TestRefreshFamilyTTLConfigured: the configured tokens.refresh_family_ttl is
// the one the server enforces, not the default.
func TestRefreshFamilyTTLConfigured(t *testing.T) {
	const familyTTL = 36 * time.Hour
	clock := fixture.NewIdentityClock(time.Now().UTC().Truncate(time.Second))
	e := newEnv(t, fixture.StartIdentity(t, dbtest.SQLite,
		fixture.WithIdentityClock(clock.Now),
		fixture.WithIdentityConfig(func(c *identityserver.Config) { c.Tokens.RefreshFamilyTTL = familyTTL })))

	first := e.tokensFor(t, "openid")
	deadline := clock.Now().Add(familyTTL)
	clock.Advance(20 * time.Hour)
	status, body := e.refresh(t, &e.web, first["refresh_token"].(string), "")
	require.Equal(t, http.StatusOK, status, body)
	rt := body["refresh_token"].(string)
	assert.Equal(t, float64(deadline.Unix()), e.introspect(t, rt)["exp"], "capped at the configured family deadline")

	clock.Advance(17 * time.Hour) // 37h: past the configured 36h, well within the 30-day default
	status, body = e.refresh(t, &e.web, rt, "")
	requireOAuthError(t, status, body, http.StatusBadRequest, "invalid_grant")
}
