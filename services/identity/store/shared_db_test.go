package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// TestServicesShareOnePostgresDatabase runs the KMS key store and the
// Identity store, each with its own barrier, on one PostgreSQL database, as
// a deployment with a single database would: both create the same tenant
// id, the KMS deletes it, and the Identity tenant keeps its users (and the
// KMS can create the tenant again).
func TestServicesShareOnePostgresDatabase(t *testing.T) {
	for _, b := range dbtest.Backends(t) {
		if b != dbtest.Postgres {
			continue // SQLite gives each service its own directory: nothing is shared
		}
		t.Run("db="+string(b), func(t *testing.T) {
			ctx := t.Context()
			opts := dbtest.Options(t, b)
			open := func(ns, secret string) (*db.DB, *barrier.Barrier) {
				o := opts
				o.Namespace = ns
				d, err := db.Open(ctx, o)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, d.Close()) })
				br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte(secret)}})
				require.NoError(t, err, "each service initialises its own barrier")
				return d, br
			}
			kd, kb := open("kms", "the-kms-unseal-secret-of-32-bytes!!")
			id, _ := open("identity", "the-identity-unseal-secret-32-bytes")
			kmsStore, err := sqlstore.New(ctx, kd)
			require.NoError(t, err)
			kmsKeys, err := keys.New(ctx, keys.Options{Store: kmsStore, Barrier: kb})
			require.NoError(t, err)
			idStore, err := store.New(ctx, id)
			require.NoError(t, err)

			tenant := factory.TenantID()
			_, err = kmsKeys.CreateTenant(ctx, tenant, factory.Name("tenant"), false)
			require.NoError(t, err)
			_, err = kmsKeys.CreateKey(ctx, tenant, kms.NewKey{Name: factory.Name("key"), Algorithm: string(keycrypto.A256GCM)})
			require.NoError(t, err)
			require.NoError(t, idStore.CreateTenant(ctx, tenant, "tenant", false))
			user := &identity.User{ID: factory.TenantID(), Username: factory.Name("user"), PasswordHash: "x"}
			require.NoError(t, idStore.CreateUser(ctx, tenant, user))

			require.NoError(t, kmsKeys.DeleteTenant(ctx, tenant))

			got, err := idStore.UserByUsername(ctx, tenant, user.Username)
			require.NoError(t, err, "the Identity tenant survives the KMS dropping the same tenant id")
			assert.Equal(t, user.ID, got.ID)
			_, err = kmsKeys.Tenant(ctx, tenant)
			require.Error(t, err, "the KMS tenant is gone")
			_, err = kmsKeys.CreateTenant(ctx, tenant, factory.Name("tenant"), false)
			require.NoError(t, err, "and can be created again beside the Identity one")
		})
	}
}
