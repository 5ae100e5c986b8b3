package keys_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestDatabaseHoldsNoRawKeyMaterial inspects every table of the system and
// the tenant database: no column holds a private or secret key, in raw
// bytes, base64 or as a JWK, for any algorithm. Only the barrier-wrapped
// form is stored; destroying a key removes even that.
func TestDatabaseHoldsNoRawKeyMaterial(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		g, err := e.db.Tenant(ctx, e.tenant)
		require.NoError(t, err)
		var secrets [][]byte
		var destroyed, live [][]byte
		for _, alg := range keycrypto.Algorithms() {
			k := e.key(t, alg, true)
			_, err := e.svc.Rotate(ctx, e.tenant, k.ID)
			require.NoError(t, err)
			var rows []struct {
				ID      string
				Wrapped []byte
			}
			require.NoError(t, g.Table("kms_material_keys").Select("id, wrapped").Where("elastic_key_id = ?", k.ID.String()).Scan(&rows).Error)
			require.Len(t, rows, 2)
			for _, r := range rows {
				require.NotEmpty(t, r.Wrapped)
				// The test unwraps with the barrier, as the service does, to learn what must not be stored.
				private, err := e.barrier.Unwrap(ctx, e.tenant, "kms/material/"+k.ID.String()+"/"+r.ID, r.Wrapped)
				require.NoError(t, err, "%s material unwraps only through the barrier", alg)
				comps := secretComponents(t, private)
				require.NotEmpty(t, comps, "%s has secret components", alg)
				secrets = append(secrets, private)
				secrets = append(secrets, comps...)
				if alg == keycrypto.A256GCM {
					destroyed = append(destroyed, r.Wrapped)
				} else {
					live = append(live, r.Wrapped)
				}
			}
			if alg == keycrypto.A256GCM {
				_, err := e.svc.DestroyKey(ctx, e.tenant, k.ID)
				require.NoError(t, err)
			}
		}
		dump := dumpTables(t, g) + dumpTables(t, e.db.Gorm())
		for _, s := range secrets {
			for _, form := range encodings(s) {
				assert.NotContains(t, dump, form, "key material stored unwrapped")
			}
		}
		for _, w := range live {
			require.Contains(t, dump, fmt.Sprintf("%x", w), "the dump sees the stored (wrapped) material")
		}
		for _, w := range destroyed {
			assert.NotContains(t, dump, fmt.Sprintf("%x", w), "a destroyed key's wrapped material is gone")
		}
	})
}

// secretComponents returns the private parts of a JWK (k, d, p, q, dp, dq, qi).
func secretComponents(t *testing.T, jwk []byte) [][]byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(jwk, &m))
	var out [][]byte
	for _, f := range []string{"k", "d", "p", "q", "dp", "dq", "qi"} {
		v, ok := m[f].(string)
		if !ok {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(v)
		require.NoError(t, err)
		out = append(out, raw)
	}
	return out
}

func encodings(raw []byte) []string {
	return []string{
		fmt.Sprintf("%x", raw),
		base64.RawURLEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(raw),
		string(bytes.TrimSpace(raw)),
	}
}

// dumpTables renders every value of every table of g; bytes as hex so a
// raw secret is found wherever it sits in a column.
func dumpTables(t *testing.T, g *gorm.DB) string {
	t.Helper()
	tables, err := g.Migrator().GetTables()
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	var buf bytes.Buffer
	for _, table := range tables {
		rows, err := g.Table(table).Rows()
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
					fmt.Fprintf(&buf, "%x|%s|", v, v)
				default:
					fmt.Fprintf(&buf, "%v|", v)
				}
			}
			buf.WriteByte('\n')
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return buf.String()
}
