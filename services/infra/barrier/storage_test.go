package barrier

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// storedBytes returns everything the database holds for the barrier: on
// SQLite the raw database, WAL and shared-memory files; on PostgreSQL every
// column of every barrier table.
func storedBytes(t *testing.T, db *testDB) [][]byte {
	t.Helper()
	var out [][]byte
	if db.backend == dbtest.SQLite {
		entries, err := os.ReadDir(db.dir)
		require.NoError(t, err)
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(db.dir, e.Name()))
			require.NoError(t, err)
			out = append(out, raw)
		}
		require.NotEmpty(t, out)
		return out
	}
	for _, table := range []string{"barrier_meta", "barrier_secrets", "barrier_root_keys", "barrier_tenant_keys"} {
		rows, err := db.g.Raw("SELECT * FROM " + table).Rows()
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out = append(out, v)
				case string:
					out = append(out, []byte(v))
				}
			}
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return out
}

// assertNotStored fails if needle appears in the stored bytes, raw or in hex.
func assertNotStored(t *testing.T, db *testDB, needle []byte, what string) {
	t.Helper()
	require.Len(t, needle, keySize, "%s: a real key is searched for", what)
	for _, blob := range storedBytes(t, db) {
		assert.False(t, bytes.Contains(blob, needle), "%s found in the database", what)
		assert.False(t, bytes.Contains(bytes.ToLower(blob), []byte(hex.EncodeToString(needle))), "%s found hex-encoded in the database", what)
	}
}

func TestDatabaseHoldsNoPlaintextKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 3)
		b := mustOpen(t, db.g, secrets, 2)
		tenants := []uuid.UUID{uuid.Nil, uuid.New(), uuid.New()}
		for _, tenant := range tenants {
			_, err := b.Wrap(ctx, tenant, "p", []byte("x"))
			require.NoError(t, err)
		}
		require.NoError(t, b.RotateRoot(ctx))
		_, err := b.Wrap(ctx, uuid.New(), "p", []byte("after rotation"))
		require.NoError(t, err)

		// Positive control: the scan does see what is stored.
		found := false
		for _, blob := range storedBytes(t, db) {
			found = found || bytes.Contains(blob, b.salt)
		}
		require.True(t, found, "the salt is stored, so the scan must find it")

		b.cacheMu.RLock()
		keks := make([]*kek, 0, len(b.keks))
		for _, k := range b.keks {
			keks = append(keks, k)
		}
		b.cacheMu.RUnlock()
		require.Len(t, keks, 4)
		for _, k := range keks {
			// The needle is the real KEK: it is what the stored row unwraps to.
			var row tenantKeyRow
			require.NoError(t, db.g.Where("key_id = ?", k.id.String()).Find(&row).Error)
			stored, err := b.root.Open(nil, nil, row.Wrapped, kekAAD(k.tenant))
			require.NoError(t, err)
			require.Equal(t, k.key, stored)
			assertNotStored(t, db, k.key, "KEK of tenant "+k.tenant.String())
		}
		assertNotStored(t, db, b.rootKey, "root key")
		assertNotStored(t, db, b.unsealKey, "unseal key")
		for _, s := range secrets {
			for _, blob := range storedBytes(t, db) {
				assert.False(t, bytes.Contains(blob, s), "unseal secret found in the database")
			}
		}
	})
}

// TestMigrationsVersioned proves the barrier's tables come from db.Migrate:
// the set "barrier" is recorded in schema_migrations, and a database holding
// a newer barrier version than this code knows is refused before anything
// else happens (an older binary must not run on a newer schema).
func TestMigrationsVersioned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		secrets := newSecrets(t, 1)
		mustOpen(t, db.g, secrets, 1)
		mustOpen(t, db.g, secrets, 1) // a second Open applies nothing new

		type applied struct {
			Set     string `gorm:"column:set"`
			Version int
			Name    string
		}
		var rows []applied
		require.NoError(t, db.g.Table("schema_migrations").Where(`"set" = ?`, "barrier").Order("version").Find(&rows).Error)
		assert.Equal(t, []applied{{Set: "barrier", Version: 1, Name: "create barrier tables"}}, rows)

		require.NoError(t, db.g.Exec(`INSERT INTO schema_migrations ("set", version, name, applied_at) VALUES ('barrier', 99, 'from the future', CURRENT_TIMESTAMP)`).Error)
		b, err := Open(t.Context(), db.g, Options{Secrets: secrets})
		require.ErrorContains(t, err, "database has version 99")
		assert.Nil(t, b)
	})
}

// TestMigrationsAdoptAutoMigratedDatabase opens a database whose barrier
// tables were made by the earlier AutoMigrate-based code (no
// schema_migrations row): the versioned migration must adopt them and the
// keys stored there must still unwrap.
func TestMigrationsAdoptAutoMigratedDatabase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		require.NoError(t, db.g.AutoMigrate(&metaRow{}, &secretRow{}, &rootKeyRow{}, &tenantKeyRow{}))
		secrets := newSecrets(t, 1)
		tenant := uuid.New()
		w, err := mustOpen(t, db.g, secrets, 1).Wrap(t.Context(), tenant, "p", []byte("kept"))
		require.NoError(t, err)
		got, err := mustOpen(t, db.g, secrets, 1).Unwrap(t.Context(), tenant, "p", w)
		require.NoError(t, err)
		assert.Equal(t, []byte("kept"), got)
	})
}
