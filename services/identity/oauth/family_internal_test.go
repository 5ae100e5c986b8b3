package oauth

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

func TestNewRefreshFamilyTTL(t *testing.T) {
	for _, tc := range []struct {
		desc        string
		refresh     time.Duration
		family      time.Duration
		want        time.Duration
		wantRefused bool
	}{
		{desc: "default is 30 days", want: 30 * 24 * time.Hour},
		{desc: "configured value is kept", refresh: time.Hour, family: 2 * time.Hour, want: 2 * time.Hour},
		{desc: "equal to the refresh lifetime is allowed", refresh: time.Hour, family: time.Hour, want: time.Hour},
		{desc: "default never undercuts a longer refresh lifetime", refresh: 40 * 24 * time.Hour, want: 40 * 24 * time.Hour},
		{desc: "shorter than the refresh lifetime is refused", refresh: 2 * time.Hour, family: time.Hour, wantRefused: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := New(Config{Issuer: testIssuer, Store: &store.Store{}, Tokens: &tokens.Issuer{}, CSRFKey: randomBytes(csrfKeySize), RefreshTokenTTL: tc.refresh, RefreshFamilyTTL: tc.family})
			if tc.wantRefused {
				require.ErrorContains(t, err, "refresh family lifetime")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.cfg.RefreshFamilyTTL)
		})
	}
}

// TestRefreshFamilyDeadline checks the family deadline against stored rows
// directly: rows an older version wrote without a capped expiry (or without
// a family start) must still stop at the deadline, and a rotation copies the
// family start and caps the new token at it.
func TestRefreshFamilyDeadline(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		r := newRig(t, b)
		ctx := t.Context()
		const refreshTTL, familyTTL = 24 * time.Hour, 48 * time.Hour
		cfg := r.s.cfg
		cfg.RefreshTokenTTL, cfg.RefreshFamilyTTL = refreshTTL, familyTTL
		s, err := New(cfg)
		require.NoError(t, err)
		app := &identity.Client{ClientID: "fam-" + r.tenant.String()[:8], Name: "app", Kind: identity.KindConfidential, SecretHash: r.rs.SecretHash,
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid"}, Audiences: []string{"identity"}, RedirectURIs: []string{"https://app.test/cb"}}
		require.NoError(t, storeOf(s).CreateClient(ctx, r.tenant, app))
		r.s = s // tokenCall and introspect go through the rig's server

		for _, tc := range []struct {
			desc        string
			started     time.Time // FamilyStartedAt; zero: none recorded
			created     time.Time
			expires     time.Time
			wantOK      bool
			wantExpires time.Time // of the rotated token
		}{
			{desc: "uncapped token past its family deadline is refused", started: r.now.Add(-familyTTL - time.Second),
				created: r.now.Add(-time.Hour), expires: r.now.Add(10 * time.Hour)},
			{desc: "token without a family start counts from its creation", created: r.now.Add(-familyTTL),
				expires: r.now.Add(10 * time.Hour)},
			{desc: "token without a family start rotates within the lifetime from its creation", created: r.now.Add(-30 * time.Hour),
				expires: r.now.Add(time.Hour), wantOK: true, wantExpires: r.now.Add(-30 * time.Hour).Add(familyTTL)},
			{desc: "rotation copies the family start and is capped at the deadline", started: r.now.Add(-30 * time.Hour),
				created: r.now.Add(-time.Hour), expires: r.now.Add(time.Hour), wantOK: true, wantExpires: r.now.Add(18 * time.Hour)},
			{desc: "early in the family the rotation gets the full refresh lifetime", started: r.now.Add(-time.Hour),
				created: r.now.Add(-time.Hour), expires: r.now.Add(time.Hour), wantOK: true, wantExpires: r.now.Add(refreshTTL)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				raw := newOpaque()
				family := ids.NewEntity()
				require.NoError(t, storeOf(s).SaveRefresh(ctx, r.tenant, &identity.RefreshToken{
					IDHash: hashOpaque(raw), FamilyID: family, FamilyStartedAt: tc.started, ClientID: app.ClientID,
					UserID: r.user.ID, Scope: "openid", Audience: SelfAudience, AuthTime: r.now, ExpiresAt: tc.expires,
					CreatedAt: tc.created,
				}))
				status, body := r.tokenCall(t, app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {raw}})
				if !tc.wantOK {
					assert.Equal(t, http.StatusBadRequest, status, body)
					assert.Equal(t, "invalid_grant", body["error"])
					assert.Contains(t, body["error_description"], "maximum lifetime")
					assert.NotContains(t, body, "access_token")
					assert.NotContains(t, body, "refresh_token")
					assert.Equal(t, false, r.introspect(t, raw)["active"], "a token past its family deadline introspects inactive")
					return
				}
				require.Equal(t, http.StatusOK, status, body)
				next, err := storeOf(s).Refresh(ctx, r.tenant, hashOpaque(body["refresh_token"].(string)))
				require.NoError(t, err)
				assert.Equal(t, family, next.FamilyID)
				wantStart := tc.started
				if wantStart.IsZero() {
					wantStart = tc.created
				}
				assert.True(t, wantStart.Equal(next.FamilyStartedAt), "family start %s, want %s", next.FamilyStartedAt, wantStart)
				assert.True(t, tc.wantExpires.Equal(next.ExpiresAt), "expires %s, want %s", next.ExpiresAt, tc.wantExpires)
				assert.Equal(t, float64(tc.wantExpires.Unix()), r.introspect(t, body["refresh_token"].(string))["exp"])
			})
		}
	})
}
