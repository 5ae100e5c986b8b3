package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// legacyRefreshToken is refresh_tokens as tenant migrations 1 and 2 created
// it, before the family start existed. It also stands for a process of that
// older version still writing after the migration.
type legacyRefreshToken struct {
	IDHash    string `gorm:"column:id_hash;primaryKey;size:64"`
	FamilyID  string `gorm:"size:36;not null;index"`
	ClientID  string `gorm:"size:255;not null"`
	UserID    string `gorm:"size:36;not null"`
	Scope     string `gorm:"size:2048;not null"`
	Audience  string `gorm:"size:2048;not null"`
	Nonce     string `gorm:"size:2048"`
	AuthTime  time.Time
	CodeHash  string    `gorm:"size:64;index"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}

func (legacyRefreshToken) TableName() string { return "refresh_tokens" }

// legacyClient is clients as tenant migrations 1 to 3 left it, before the
// authentication method was recorded.
type legacyClient struct {
	ClientID               string `gorm:"primaryKey;size:255"`
	Name                   string `gorm:"size:255;not null"`
	Kind                   string `gorm:"size:32;not null"`
	SecretHash             string `gorm:"size:255"`
	RedirectURIs           string `gorm:"size:8192"`
	PostLogoutRedirectURIs string `gorm:"size:8192"`
	GrantTypes             string `gorm:"size:1024"`
	Scopes                 string `gorm:"size:4096"`
	Audiences              string `gorm:"size:4096"`
	CanIntrospect          bool   `gorm:"not null;default:false"`
	Disabled               bool   `gorm:"not null;default:false"`
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

func (legacyClient) TableName() string { return "clients" }

// legacyTenantMigrations rebuild a tenant database as the previous version
// left it: the same set, versions and names as the real list up to 2.
var legacyTenantMigrations = []db.Migration{
	{Version: 1, Name: "identity tenant tables", Up: func(tx *gorm.DB) error {
		return tx.AutoMigrate(append(store.LegacyTenantRows, &legacyRefreshToken{}, &legacyClient{})...)
	}},
	{Version: 2, Name: "auth code revocation marker", Up: func(*gorm.DB) error { return nil }},
}

// TestFamilyStartMigration upgrades a tenant database created by the previous
// migrations: existing families get the creation time of their oldest token
// as their start, and rows written without one afterwards count from their
// own creation.
func TestFamilyStartMigration(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d := dbtest.Open(t, b)
		tenant := factory.TenantID()
		require.NoError(t, d.CreateTenant(ctx, tenant))
		g, err := d.Tenant(ctx, tenant)
		require.NoError(t, err)
		require.NoError(t, db.Migrate(ctx, g, "identity-tenant", legacyTenantMigrations))

		t0 := time.Now().UTC().Truncate(time.Second).Add(-72 * time.Hour)
		used := t0.Add(time.Hour)
		// Families as an older version wrote them: uuids in a string column.
		familyA, familyB := ids.NewEntity().String(), ids.NewEntity().String()
		legacy := func(hash, family string, created time.Time, usedAt *time.Time) *legacyRefreshToken {
			return &legacyRefreshToken{IDHash: hash, FamilyID: family, ClientID: "c", UserID: userU.String(), Scope: "openid",
				Audience: "identity", ExpiresAt: created.Add(24 * time.Hour), UsedAt: usedAt, CreatedAt: created}
		}
		// Inserted out of order, so the backfill cannot lean on row order.
		for _, r := range []*legacyRefreshToken{
			legacy("a-live", familyA, t0.Add(40*time.Hour), nil),
			legacy("a-first", familyA, t0, &used),
			legacy("a-second", familyA, t0.Add(20*time.Hour), &used),
			legacy("b-only", familyB, t0.Add(50*time.Hour), nil),
		} {
			require.NoError(t, g.Create(r).Error)
		}

		st, err := store.New(ctx, d)
		require.NoError(t, err)
		for _, tc := range []struct {
			desc      string
			hash      string
			wantStart time.Time
		}{
			{desc: "the family's first token keeps its own creation", hash: "a-first", wantStart: t0},
			{desc: "a rotated token gets its family's oldest creation", hash: "a-second", wantStart: t0},
			{desc: "the live token gets its family's oldest creation", hash: "a-live", wantStart: t0},
			{desc: "a one-token family starts at that token's creation", hash: "b-only", wantStart: t0.Add(50 * time.Hour)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				r, err := st.Refresh(ctx, tenant, tc.hash) // the first call migrates the tenant
				require.NoError(t, err)
				assert.True(t, tc.wantStart.Equal(r.FamilyStartedAt), "family_started_at %s, want %s", r.FamilyStartedAt, tc.wantStart)
				assert.True(t, tc.wantStart.Equal(r.FamilyStart()))
			})
		}

		t.Run("a row written without a family start after the migration counts from its creation", func(t *testing.T) {
			created := t0.Add(60 * time.Hour)
			require.NoError(t, g.Create(legacy("late", ids.NewEntity().String(), created, nil)).Error)
			r, err := st.Refresh(ctx, tenant, "late")
			require.NoError(t, err)
			assert.True(t, r.FamilyStartedAt.IsZero(), "NULL reads as no family start: %s", r.FamilyStartedAt)
			assert.True(t, created.Equal(r.FamilyStart()), "family start %s, want %s", r.FamilyStart(), created)
		})

		t.Run("migrating again changes nothing", func(t *testing.T) {
			again, err := store.New(ctx, d)
			require.NoError(t, err)
			r, err := again.Refresh(ctx, tenant, "late")
			require.NoError(t, err)
			assert.True(t, r.FamilyStartedAt.IsZero(), "version 3 ran once; a row written since keeps no start")
			r, err = again.Refresh(ctx, tenant, "a-live")
			require.NoError(t, err)
			assert.True(t, t0.Equal(r.FamilyStartedAt))
		})
	})
}

// TestFamilyStart covers the family start on a database created at the
// current version, where the column exists from the first migration.
func TestFamilyStart(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		st, tenant := newStore(t, b)
		start := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		created := start.Add(30 * time.Minute)
		for _, tc := range []struct {
			desc      string
			started   time.Time
			wantStart time.Time
		}{
			{desc: "a recorded family start is kept", started: start, wantStart: start},
			{desc: "no family start falls back to the row's creation", wantStart: created},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				hash := factory.Name("rt")
				require.NoError(t, st.SaveRefresh(ctx, tenant, &identity.RefreshToken{IDHash: hash, FamilyID: ids.NewEntity(),
					FamilyStartedAt: tc.started, ClientID: "c", UserID: userU, Scope: "openid", Audience: "identity",
					ExpiresAt: created.Add(time.Hour), CreatedAt: created}))
				r, err := st.Refresh(ctx, tenant, hash)
				require.NoError(t, err)
				assert.True(t, tc.wantStart.Equal(r.FamilyStart()), "family start %s, want %s", r.FamilyStart(), tc.wantStart)
			})
		}
	})
}
