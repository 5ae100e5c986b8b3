package realm

import (
	"flag"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/schematest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestSchemaMatchesMigrations fails when realmUserRow changes the schema
// without a migration, or a migration changes it without the golden file.
func TestSchemaMatchesMigrations(t *testing.T) {
	schematest.Run(t, "testdata", *update,
		schematest.Set{Name: migrationSet, Migrations: userMigrations, Models: []any{&realmUserRow{}}},
	)
}

// TestExistingDatabaseKeepsItsUsers opens a database migrated the way
// every earlier release did (set "authn-realm-users", version 1 named after
// the table) and holding a user: the store must find the table current and
// the user still there, not apply version 1 again.
func TestExistingDatabaseKeepsItsUsers(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		g := dbtest.Open(t, b).Gorm()
		require.NoError(t, db.Migrate(ctx, g, "authn-realm-users", userMigrations))
		var recorded []struct {
			Version int
			Name    string
		}
		require.NoError(t, g.Raw(`SELECT version, name FROM schema_migrations WHERE "set" = ?`, "authn-realm-users").Scan(&recorded).Error)
		require.Len(t, recorded, 1)
		assert.Equal(t, 1, recorded[0].Version)
		assert.Equal(t, "kms_realm_users", recorded[0].Name)

		roles, err := NewRoles(DefaultRoles())
		require.NoError(t, err)
		opts := UserStoreOptions{Hasher: testHasher, Roles: roles}
		before, err := NewUserStore(ctx, g, opts)
		require.NoError(t, err)
		tenant := uuid.New()
		_, err = before.Create(ctx, NewUser{Realm: "local", Username: "alice", Password: "alice-password", Roles: []string{"reader"}, TenantID: tenant, Enabled: true})
		require.NoError(t, err)

		after, err := NewUserStore(ctx, g, opts)
		require.NoError(t, err)
		u, err := after.Realm("local").Lookup(ctx, "alice")
		require.NoError(t, err)
		assert.Equal(t, tenant, u.TenantID)
		var sets []string
		require.NoError(t, g.Raw(`SELECT DISTINCT "set" FROM schema_migrations WHERE name = ?`, "kms_realm_users").Scan(&sets).Error)
		assert.Equal(t, []string{"authn-realm-users"}, sets, "no second set records the same table")
	})
}
