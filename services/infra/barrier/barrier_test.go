package barrier

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// newSecrets returns n distinct secrets shaped like GenerateSecretFile's.
func newSecrets(t testing.TB, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		raw := make([]byte, 32)
		_, err := rand.Read(raw)
		require.NoError(t, err)
		out[i] = []byte(base64.StdEncoding.EncodeToString(raw))
	}
	return out
}

func fixedNow() time.Time { return time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC) }

func mustOpen(t testing.TB, g *gorm.DB, secrets [][]byte, threshold int) *Barrier {
	t.Helper()
	b, err := Open(t.Context(), g, Options{Secrets: secrets, Threshold: threshold, Now: fixedNow})
	require.NoError(t, err)
	return b
}

func TestWrapUnwrapRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		b := mustOpen(t, db.g, newSecrets(t, 1), 0)
		big := make([]byte, 1<<20)
		_, err := rand.Read(big)
		require.NoError(t, err)
		tests := []struct {
			desc      string
			tenant    uuid.UUID
			purpose   string
			plaintext []byte
		}{
			{desc: "tenant key material", tenant: uuid.New(), purpose: "kms/key-version", plaintext: []byte("0123456789abcdef0123456789abcdef")},
			{desc: "system scope", tenant: uuid.Nil, purpose: "identity/signing-key", plaintext: []byte("private key bytes")},
			{desc: "empty plaintext", tenant: uuid.New(), purpose: "p", plaintext: []byte{}},
			{desc: "one MiB plaintext", tenant: uuid.New(), purpose: "blob", plaintext: big},
			{desc: "purpose with separators", tenant: uuid.New(), purpose: "a/b\x00c", plaintext: []byte("x")},
			{desc: "longest purpose", tenant: uuid.New(), purpose: string(bytes.Repeat([]byte{'p'}, maxPurposeLen)), plaintext: []byte("x")},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				w1, err := b.Wrap(t.Context(), tc.tenant, tc.purpose, tc.plaintext)
				require.NoError(t, err)
				w2, err := b.Wrap(t.Context(), tc.tenant, tc.purpose, tc.plaintext)
				require.NoError(t, err)
				assert.NotEqual(t, w1, w2, "every wrap draws a fresh nonce")
				assert.Equal(t, byte(formatV1), w1[0])
				assert.Len(t, w1, minWrapped+len(tc.plaintext))
				if len(tc.plaintext) >= 16 {
					assert.False(t, bytes.Contains(w1, tc.plaintext[:16]), "plaintext must not appear in the output")
				}
				for _, w := range [][]byte{w1, w2} {
					got, err := b.Unwrap(t.Context(), tc.tenant, tc.purpose, w)
					require.NoError(t, err)
					assert.Equal(t, tc.plaintext, got)
				}
			})
		}
	})
}

func TestUnwrapRejects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		secrets := newSecrets(t, 1)
		b := mustOpen(t, db.g, secrets, 0)
		ctx := t.Context()
		tenant, other := uuid.New(), uuid.New()
		w, err := b.Wrap(ctx, tenant, "kms/key", []byte("secret key material"))
		require.NoError(t, err)
		// other gets a cached KEK of its own, so both the cached and the
		// uncached wrong-tenant paths are exercised.
		_, err = b.Wrap(ctx, other, "kms/key", []byte("x"))
		require.NoError(t, err)
		flip := func(i int) []byte {
			c := bytes.Clone(w)
			c[i] ^= 0x01
			return c
		}
		tests := []struct {
			desc    string
			tenant  uuid.UUID
			purpose string
			data    []byte
			fresh   bool // unwrap in a new process whose cache is empty
			msg     string
		}{
			{desc: "wrong tenant, KEK cached", tenant: other, purpose: "kms/key", data: w, msg: "not wrapped for this tenant"},
			{desc: "wrong tenant, KEK not cached", tenant: other, purpose: "kms/key", data: w, fresh: true, msg: "no key"},
			{desc: "tenant without a KEK", tenant: uuid.New(), purpose: "kms/key", data: w, fresh: true, msg: "no key"},
			{desc: "system scope instead of tenant", tenant: uuid.Nil, purpose: "kms/key", data: w, msg: "not wrapped for this tenant"},
			{desc: "wrong purpose, KEK not cached", tenant: tenant, purpose: "kms/other", data: w, fresh: true, msg: "authentication failed"},
			{desc: "wrong purpose", tenant: tenant, purpose: "kms/key2", data: w, msg: "authentication failed"},
			{desc: "purpose prefix", tenant: tenant, purpose: "kms/ke", data: w, msg: "authentication failed"},
			{desc: "empty purpose", tenant: tenant, purpose: "", data: w, msg: "purpose is empty"},
			{desc: "purpose too long", tenant: tenant, purpose: string(bytes.Repeat([]byte{'p'}, maxPurposeLen+1)), data: w, msg: "at most"},
			{desc: "format byte changed", tenant: tenant, purpose: "kms/key", data: flip(0), msg: "unknown wrapped-data format"},
			{desc: "key id changed", tenant: tenant, purpose: "kms/key", data: flip(5), msg: "no key"},
			{desc: "nonce changed", tenant: tenant, purpose: "kms/key", data: flip(headerSize + 3), msg: "authentication failed"},
			{desc: "ciphertext changed", tenant: tenant, purpose: "kms/key", data: flip(headerSize + nonceSize + 1), msg: "authentication failed"},
			{desc: "tag changed", tenant: tenant, purpose: "kms/key", data: flip(len(w) - 1), msg: "authentication failed"},
			{desc: "last byte cut", tenant: tenant, purpose: "kms/key", data: w[:len(w)-1], msg: "authentication failed"},
			{desc: "truncated below minimum", tenant: tenant, purpose: "kms/key", data: w[:minWrapped-1], msg: "truncated"},
			{desc: "header only", tenant: tenant, purpose: "kms/key", data: w[:headerSize], msg: "truncated"},
			{desc: "empty", tenant: tenant, purpose: "kms/key", data: nil, msg: "truncated"},
			{desc: "byte appended", tenant: tenant, purpose: "kms/key", data: append(bytes.Clone(w), 0), msg: "authentication failed"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				u := b
				if tc.fresh {
					u = mustOpen(t, db.g, secrets, 0)
				}
				got, err := u.Unwrap(ctx, tc.tenant, tc.purpose, tc.data)
				require.ErrorIs(t, err, ErrUnwrap)
				assert.Contains(t, err.Error(), tc.msg)
				assert.Nil(t, got)
			})
		}
		got, err := b.Unwrap(ctx, tenant, "kms/key", w)
		require.NoError(t, err, "failed attempts leave the original readable")
		assert.Equal(t, []byte("secret key material"), got)
	})
}

func TestWrapRejectsBadPurpose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		b := mustOpen(t, db.g, newSecrets(t, 1), 0)
		tests := []struct {
			desc    string
			purpose string
			msg     string
		}{
			{desc: "empty", purpose: "", msg: "purpose is empty"},
			{desc: "too long", purpose: string(bytes.Repeat([]byte{'p'}, maxPurposeLen+1)), msg: "at most 1024"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				_, err := b.Wrap(t.Context(), uuid.New(), tc.purpose, []byte("x"))
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.msg)
				var n int64
				require.NoError(t, db.g.Model(&tenantKeyRow{}).Count(&n).Error)
				assert.Zero(t, n, "a rejected wrap creates no KEK")
			})
		}
	})
}

func TestReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		secrets := newSecrets(t, 1)
		b := mustOpen(t, db.g, secrets, 1)
		tenant := uuid.New()
		w, err := b.Wrap(t.Context(), tenant, "p", []byte("survives restarts"))
		require.NoError(t, err)
		sys, err := b.Wrap(t.Context(), uuid.Nil, "p", []byte("system"))
		require.NoError(t, err)

		tests := []struct {
			desc    string
			secrets [][]byte
		}{
			{desc: "same secret slice", secrets: secrets},
			{desc: "same secret copied", secrets: [][]byte{bytes.Clone(secrets[0])}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				b2 := mustOpen(t, db.g, tc.secrets, 0)
				got, err := b2.Unwrap(t.Context(), tenant, "p", w)
				require.NoError(t, err)
				assert.Equal(t, []byte("survives restarts"), got)
				got, err = b2.Unwrap(t.Context(), uuid.Nil, "p", sys)
				require.NoError(t, err)
				assert.Equal(t, []byte("system"), got)
				// The reopened barrier wraps with the same, already stored KEK.
				w2, err := b2.Wrap(t.Context(), tenant, "p", []byte("new"))
				require.NoError(t, err)
				assert.Equal(t, w[1:headerSize], w2[1:headerSize])
				got, err = b.Unwrap(t.Context(), tenant, "p", w2)
				require.NoError(t, err)
				assert.Equal(t, []byte("new"), got)
			})
		}
		var n int64
		require.NoError(t, db.g.Model(&tenantKeyRow{}).Count(&n).Error)
		assert.EqualValues(t, 2, n)
	})
}

func TestOpenSealed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		secrets := newSecrets(t, 3)
		b := mustOpen(t, db.g, secrets, 2)
		_, err := b.Wrap(t.Context(), uuid.New(), "p", []byte("x"))
		require.NoError(t, err)
		wrong := newSecrets(t, 3)
		tests := []struct {
			desc      string
			secrets   [][]byte
			threshold int
			msg       string
		}{
			{desc: "all secrets wrong", secrets: wrong, threshold: 2,
				msg: "barrier: unseal failed: the unseal secrets do not match this database (2 of 3 required, 0 matched)"},
			{desc: "one right, one wrong", secrets: [][]byte{secrets[1], wrong[0]}, threshold: 2,
				msg: "barrier: unseal failed: the unseal secrets do not match this database (2 of 3 required, 1 matched)"},
			{desc: "one right, two wrong", secrets: [][]byte{wrong[0], secrets[2], wrong[1]}, threshold: 2,
				msg: "(2 of 3 required, 1 matched)"},
			{desc: "a single secret is not enough", secrets: secrets[:1], threshold: 2,
				msg: "barrier: unseal failed: 2 of the unseal secrets are required, only 1 given"},
			{desc: "no secrets", secrets: nil, threshold: 2, msg: "no unseal secrets configured"},
			{desc: "two right, one replaced", secrets: [][]byte{secrets[0], secrets[1], wrong[0]}, threshold: 2,
				msg: "unseal secret(s) [3] do not belong to this database (2 of 3 required, 2 matched)"},
			{desc: "more secrets than configured", secrets: append(bytes2D(secrets), wrong[0]), threshold: 2,
				msg: "4 unseal secrets configured, but this database was initialised with 3"},
			{desc: "threshold differs", secrets: secrets, threshold: 3,
				msg: "threshold 3 configured, but this database was initialised to need 2 of 3"},
			{desc: "default threshold differs", secrets: secrets, threshold: 0,
				msg: "threshold 1 configured"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				got, err := Open(t.Context(), db.g, Options{Secrets: tc.secrets, Threshold: tc.threshold})
				require.ErrorIs(t, err, ErrSealed)
				assert.Contains(t, err.Error(), tc.msg)
				assert.Nil(t, got)
			})
		}
	})
}

func bytes2D(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	copy(out, in)
	return out
}

func TestOpenInvalidOptions(t *testing.T) {
	good := newSecrets(t, 2)
	db := newSQLite(t)
	tests := []struct {
		desc string
		g    *gorm.DB
		opts Options
		msg  string
	}{
		{desc: "nil database", g: nil, opts: Options{Secrets: good[:1]}, msg: "nil database"},
		{desc: "short secret", g: db.g, opts: Options{Secrets: [][]byte{[]byte("too short")}}, msg: "unseal secret #1 is 9 bytes, at least 32 required"},
		{desc: "duplicate secrets", g: db.g, opts: Options{Secrets: [][]byte{good[0], good[1], bytes.Clone(good[0])}}, msg: "#1 and #3 are identical"},
		{desc: "too many secrets", g: db.g, opts: Options{Secrets: newSecrets(t, MaxSecrets+1)}, msg: "at most 8 supported"},
		{desc: "negative threshold", g: db.g, opts: Options{Secrets: good, Threshold: -1}, msg: "threshold -1 out of range"},
		{desc: "threshold above max", g: db.g, opts: Options{Secrets: good, Threshold: MaxSecrets + 1}, msg: "threshold 9 out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b, err := Open(t.Context(), tc.g, tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Nil(t, b)
		})
	}
	var n int64
	require.NoError(t, db.g.Raw("SELECT count(*) FROM sqlite_master WHERE name LIKE 'barrier_%' OR name = 'schema_migrations'").Scan(&n).Error)
	assert.Zero(t, n, "invalid options are refused before anything is written")
}

func TestThreshold(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		secrets := newSecrets(t, 3)
		b := mustOpen(t, db.g, secrets, 2)
		tenant := uuid.New()
		w, err := b.Wrap(t.Context(), tenant, "p", []byte("2-of-3"))
		require.NoError(t, err)

		var rows int64
		require.NoError(t, db.g.Model(&rootKeyRow{}).Count(&rows).Error)
		assert.EqualValues(t, 3, rows, "C(3,2) stored root key copies")

		tests := []struct {
			desc    string
			secrets [][]byte
			ok      bool
		}{
			{desc: "secrets 1+2", secrets: [][]byte{secrets[0], secrets[1]}, ok: true},
			{desc: "secrets 1+3", secrets: [][]byte{secrets[0], secrets[2]}, ok: true},
			{desc: "secrets 2+3", secrets: [][]byte{secrets[1], secrets[2]}, ok: true},
			{desc: "secrets 3+1, other order", secrets: [][]byte{secrets[2], secrets[0]}, ok: true},
			{desc: "all three, reversed", secrets: [][]byte{secrets[2], secrets[1], secrets[0]}, ok: true},
			{desc: "secret 1 alone", secrets: [][]byte{secrets[0]}},
			{desc: "secret 2 alone", secrets: [][]byte{secrets[1]}},
			{desc: "secret 3 alone", secrets: [][]byte{secrets[2]}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				b2, err := Open(t.Context(), db.g, Options{Secrets: tc.secrets, Threshold: 2})
				if !tc.ok {
					require.ErrorIs(t, err, ErrSealed)
					assert.Contains(t, err.Error(), "2 of the unseal secrets are required, only 1 given")
					return
				}
				require.NoError(t, err)
				got, err := b2.Unwrap(t.Context(), tenant, "p", w)
				require.NoError(t, err)
				assert.Equal(t, []byte("2-of-3"), got)
			})
		}
	})
}

func TestThresholdSizes(t *testing.T) {
	tests := []struct {
		desc string
		n, m int
		rows int
	}{
		{desc: "1 of 1", n: 1, m: 1, rows: 1},
		{desc: "1 of 2", n: 2, m: 1, rows: 2},
		{desc: "3 of 3", n: 3, m: 3, rows: 1},
		{desc: "3 of 5", n: 5, m: 3, rows: 10},
		{desc: "4 of 8", n: 8, m: 4, rows: 70},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			db := newSQLite(t)
			secrets := newSecrets(t, tc.n)
			b := mustOpen(t, db.g, secrets, tc.m)
			w, err := b.Wrap(t.Context(), uuid.New(), "p", []byte("x"))
			require.NoError(t, err)
			var rows int64
			require.NoError(t, db.g.Model(&rootKeyRow{}).Count(&rows).Error)
			assert.EqualValues(t, tc.rows, rows)
			// Every m-subset unseals and reads the same data.
			for _, subset := range combinations(secrets, tc.m) {
				b2, err := Open(t.Context(), db.g, Options{Secrets: subset, Threshold: tc.m})
				require.NoError(t, err)
				_, err = b2.kekByID(t.Context(), uuid.Nil, uuid.Nil)
				require.ErrorIs(t, err, ErrUnwrap)
				got, err := b2.Unwrap(t.Context(), tenantOf(t, db.g), "p", w)
				require.NoError(t, err)
				assert.Equal(t, []byte("x"), got)
			}
		})
	}
}

func tenantOf(t testing.TB, g *gorm.DB) uuid.UUID {
	t.Helper()
	var row tenantKeyRow
	require.NoError(t, g.Limit(1).Find(&row).Error)
	return uuid.MustParse(row.Tenant)
}

func TestCombinations(t *testing.T) {
	tests := []struct {
		desc  string
		items []int
		m     int
		want  [][]int
	}{
		{desc: "2 of 3", items: []int{1, 2, 3}, m: 2, want: [][]int{{1, 2}, {1, 3}, {2, 3}}},
		{desc: "1 of 2", items: []int{1, 2}, m: 1, want: [][]int{{1}, {2}}},
		{desc: "3 of 3", items: []int{1, 2, 3}, m: 3, want: [][]int{{1, 2, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, combinations(tc.items, tc.m))
		})
	}
}

func TestRotateRoot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 3)
		b := mustOpen(t, db.g, secrets, 2)
		// A second process that opened before the rotation, with only M secrets.
		partial := mustOpen(t, db.g, secrets[1:], 2)
		type item struct {
			tenant uuid.UUID
			w      []byte
		}
		var items []item
		for i := range 5 {
			tenant := uuid.New()
			if i == 0 {
				tenant = uuid.Nil
			}
			w, err := b.Wrap(ctx, tenant, "p", []byte(tenant.String()))
			require.NoError(t, err)
			items = append(items, item{tenant, w})
		}
		oldRoot := bytes.Clone(b.rootKey)
		var before []rootKeyRow
		require.NoError(t, db.g.Order("subset").Find(&before).Error)

		require.NoError(t, b.RotateRoot(ctx))
		assert.NotEqual(t, oldRoot, b.rootKey)
		assert.Equal(t, 2, b.rootVersion)

		var after []rootKeyRow
		require.NoError(t, db.g.Order("subset").Find(&after).Error)
		require.Len(t, after, len(before))
		for i := range after {
			assert.Equal(t, before[i].Subset, after[i].Subset, "same subsets")
			assert.NotEqual(t, before[i].Wrapped, after[i].Wrapped, "root key copy rewrapped")
			assert.Equal(t, 2, after[i].RootVersion)
		}
		var kekRows []tenantKeyRow
		require.NoError(t, db.g.Find(&kekRows).Error)
		for _, r := range kekRows {
			assert.Equal(t, 2, r.RootVersion)
		}
		assertNotStored(t, db, oldRoot, "old root key")

		reopened := mustOpen(t, db.g, [][]byte{secrets[0], secrets[2]}, 2)
		for _, barrier := range []*Barrier{b, reopened, partial} {
			for _, it := range items {
				got, err := barrier.Unwrap(ctx, it.tenant, "p", it.w)
				require.NoError(t, err)
				assert.Equal(t, []byte(it.tenant.String()), got)
			}
		}
		assert.Equal(t, 2, partial.rootVersion, "the other process re-read the rotated root")

		// The stale process creates a KEK after a second rotation: it must wrap
		// with the new root, or the KEK would be lost with the old one.
		require.NoError(t, b.RotateRoot(ctx))
		fresh := uuid.New()
		w, err := partial.Wrap(ctx, fresh, "p", []byte("after rotation"))
		require.NoError(t, err)
		assert.Equal(t, 3, partial.rootVersion)
		got, err := mustOpen(t, db.g, secrets[:2], 2).Unwrap(ctx, fresh, "p", w)
		require.NoError(t, err)
		assert.Equal(t, []byte("after rotation"), got)

		// Rotation needs every subset, hence all N secrets.
		err = partial.RotateRoot(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "all 3 unseal secrets are needed")
	})
}

func TestRotateRootStaleProcess(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 1)
		a := mustOpen(t, db.g, secrets, 1)
		stale := mustOpen(t, db.g, secrets, 1)
		tenant := uuid.New()
		w, err := a.Wrap(ctx, tenant, "p", []byte("x"))
		require.NoError(t, err)
		require.NoError(t, a.RotateRoot(ctx))
		// stale still holds root version 1; its rotation must build on version 2.
		require.NoError(t, stale.RotateRoot(ctx))
		assert.Equal(t, 3, stale.rootVersion)
		got, err := mustOpen(t, db.g, secrets, 1).Unwrap(ctx, tenant, "p", w)
		require.NoError(t, err)
		assert.Equal(t, []byte("x"), got)
	})
}

func TestRotateRootManyTenants(t *testing.T) {
	db := newSQLite(t)
	ctx := t.Context()
	b := mustOpen(t, db.g, newSecrets(t, 1), 1)
	n := rotateBatch + 7 // more than one batch
	wrapped := make(map[uuid.UUID][]byte, n)
	for range n {
		tenant := uuid.New()
		w, err := b.Wrap(ctx, tenant, "p", tenant[:])
		require.NoError(t, err)
		wrapped[tenant] = w
	}
	require.NoError(t, b.RotateRoot(ctx))
	var stale int64
	require.NoError(t, db.g.Model(&tenantKeyRow{}).Where("root_version <> ?", 2).Count(&stale).Error)
	assert.Zero(t, stale, "every tenant KEK rewrapped")
	reopened := mustOpen(t, db.g, b.secretValues(), 1)
	for tenant, w := range wrapped {
		got, err := reopened.Unwrap(ctx, tenant, "p", w)
		require.NoError(t, err)
		assert.Equal(t, tenant[:], got)
	}
}

func (b *Barrier) secretValues() [][]byte {
	out := make([][]byte, len(b.secrets))
	for i, s := range b.secrets {
		out[i] = s.value
	}
	return out
}

func TestDeleteTenant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 1)
		b := mustOpen(t, db.g, secrets, 1)
		gone, kept := uuid.New(), uuid.New()
		wGone, err := b.Wrap(ctx, gone, "p", []byte("shred me"))
		require.NoError(t, err)
		wKept, err := b.Wrap(ctx, kept, "p", []byte("keep me"))
		require.NoError(t, err)
		var goneRow tenantKeyRow
		require.NoError(t, db.g.Where("tenant = ?", gone.String()).Find(&goneRow).Error)

		require.NoError(t, b.DeleteTenant(ctx, gone))
		require.NoError(t, b.DeleteTenant(ctx, uuid.New()), "deleting a tenant without a KEK is a no-op")

		var n int64
		require.NoError(t, db.g.Model(&tenantKeyRow{}).Where("tenant = ?", gone.String()).Count(&n).Error)
		assert.Zero(t, n)

		tests := []struct {
			desc string
			b    *Barrier
		}{
			{desc: "same process (cache evicted)", b: b},
			{desc: "after restart", b: mustOpen(t, db.g, secrets, 1)},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				_, err := tc.b.Unwrap(ctx, gone, "p", wGone)
				require.ErrorIs(t, err, ErrUnwrap)
				got, err := tc.b.Unwrap(ctx, kept, "p", wKept)
				require.NoError(t, err)
				assert.Equal(t, []byte("keep me"), got)
			})
		}

		// The tenant id may come back; it gets a new KEK, and the old data stays unreadable.
		w2, err := b.Wrap(ctx, gone, "p", []byte("new life"))
		require.NoError(t, err)
		assert.NotEqual(t, wGone[1:headerSize], w2[1:headerSize])
		_, err = b.Unwrap(ctx, gone, "p", wGone)
		require.ErrorIs(t, err, ErrUnwrap)
		var newRow tenantKeyRow
		require.NoError(t, db.g.Where("tenant = ?", gone.String()).Find(&newRow).Error)
		assert.NotEqual(t, goneRow.KeyID, newRow.KeyID)

		err = b.DeleteTenant(ctx, uuid.Nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "system scope")
	})
}

func TestConcurrentFirstUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 1)
		// Two barriers on one database stand for two processes: the in-process
		// lock cannot help them, only the database can.
		barriers := []*Barrier{mustOpen(t, db.g, secrets, 1), mustOpen(t, db.g, secrets, 1)}
		tenant := uuid.New()
		const workers = 24
		results := make([][]byte, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				results[i], errs[i] = barriers[i%2].Wrap(ctx, tenant, "p", []byte(fmt.Sprint(i)))
			})
		}
		close(start)
		wg.Wait()
		for i := range workers {
			require.NoError(t, errs[i])
			assert.Equal(t, results[0][1:headerSize], results[i][1:headerSize], "every wrap used the same KEK")
			for _, b := range barriers {
				got, err := b.Unwrap(ctx, tenant, "p", results[i])
				require.NoError(t, err)
				assert.Equal(t, []byte(fmt.Sprint(i)), got)
			}
		}
		var n int64
		require.NoError(t, db.g.Model(&tenantKeyRow{}).Where("tenant = ?", tenant.String()).Count(&n).Error)
		assert.EqualValues(t, 1, n, "exactly one KEK")
	})
}

func TestConcurrentInitialise(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		// No migration beforehand: the workers race on creating the tables
		// too, which db.Migrate must serialise.
		secrets := newSecrets(t, 2)
		const workers = 8
		barriers := make([]*Barrier, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				barriers[i], errs[i] = Open(t.Context(), db.g, Options{Secrets: secrets, Threshold: 1})
			})
		}
		close(start)
		wg.Wait()
		for i := range workers {
			require.NoError(t, errs[i])
			assert.Equal(t, barriers[0].rootKey, barriers[i].rootKey, "one root key for all")
		}
		var n int64
		require.NoError(t, db.g.Model(&rootKeyRow{}).Count(&n).Error)
		assert.EqualValues(t, 2, n)
	})
}

func TestDamagedDatabase(t *testing.T) {
	tests := []struct {
		desc   string
		damage func(t *testing.T, g *gorm.DB)
		msg    string
		sealed bool
	}{
		{desc: "root key copy tampered", sealed: true, msg: "stored root key failed authentication",
			damage: func(t *testing.T, g *gorm.DB) {
				var row rootKeyRow
				require.NoError(t, g.Limit(1).Find(&row).Error)
				row.Wrapped[len(row.Wrapped)-1] ^= 1
				require.NoError(t, g.Model(&rootKeyRow{}).Where("subset = ?", row.Subset).Update("wrapped", row.Wrapped).Error)
			}},
		{desc: "root key copy missing", sealed: true, msg: "no stored root key",
			damage: func(t *testing.T, g *gorm.DB) {
				require.NoError(t, g.Where("1 = 1").Delete(&rootKeyRow{}).Error)
			}},
		{desc: "root key copy of another version", sealed: true, msg: "stored root key has version 1, expected 2",
			damage: func(t *testing.T, g *gorm.DB) {
				require.NoError(t, g.Model(&metaRow{}).Where("id = ?", metaID).Update("root_version", 2).Error)
			}},
		{desc: "meta row deleted over existing keys", msg: "refusing to initialise over them",
			damage: func(t *testing.T, g *gorm.DB) {
				require.NoError(t, g.Where("1 = 1").Delete(&metaRow{}).Error)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			db := newSQLite(t)
			secrets := newSecrets(t, 1)
			mustOpen(t, db.g, secrets, 1)
			tc.damage(t, db.g)
			_, err := Open(t.Context(), db.g, Options{Secrets: secrets})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Equal(t, tc.sealed, errors.Is(err, ErrSealed))
		})
	}
}

func TestTamperedTenantKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 1)
		b := mustOpen(t, db.g, secrets, 1)
		a, c := uuid.New(), uuid.New()
		wa, err := b.Wrap(ctx, a, "p", []byte("a"))
		require.NoError(t, err)
		_, err = b.Wrap(ctx, c, "p", []byte("c"))
		require.NoError(t, err)
		var rowA, rowC tenantKeyRow
		require.NoError(t, db.g.Where("tenant = ?", a.String()).Find(&rowA).Error)
		require.NoError(t, db.g.Where("tenant = ?", c.String()).Find(&rowC).Error)
		// Give tenant a the wrapped KEK of tenant c: the AAD binding must refuse it.
		require.NoError(t, db.g.Model(&tenantKeyRow{}).Where("key_id = ?", rowA.KeyID).Update("wrapped", rowC.Wrapped).Error)

		fresh := mustOpen(t, db.g, secrets, 1)
		_, err = fresh.Unwrap(ctx, a, "p", wa)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "failed authentication")
		_, err = fresh.Wrap(ctx, a, "p", []byte("x"))
		require.Error(t, err)
		err = fresh.RotateRoot(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "failed authentication")
	})
}

// TestDatabaseUnavailable checks that a failing database surfaces as an
// error naming the operation, never as a panic or a silent success.
func TestDatabaseUnavailable(t *testing.T) {
	db := newSQLite(t)
	secrets := newSecrets(t, 1)
	b := mustOpen(t, db.g, secrets, 1)
	known := uuid.New()
	w, err := b.Wrap(t.Context(), known, "p", []byte("x"))
	require.NoError(t, err)
	stale := mustOpen(t, db.g, secrets, 1) // has nothing cached
	sqlDB, err := db.g.DB()
	require.NoError(t, err)
	require.NoError(t, sqlDB.Close())

	tests := []struct {
		desc string
		call func() error
		msg  string
	}{
		{desc: "open", msg: "barrier: open", call: func() error {
			_, err := Open(t.Context(), db.g, Options{Secrets: secrets})
			return err
		}},
		{desc: "wrap for a new tenant", msg: "barrier: wrap for tenant", call: func() error {
			_, err := b.Wrap(t.Context(), uuid.New(), "p", []byte("x"))
			return err
		}},
		{desc: "unwrap with an empty cache", msg: "read tenant key", call: func() error {
			_, err := stale.Unwrap(t.Context(), known, "p", w)
			return err
		}},
		{desc: "delete tenant", msg: "barrier: delete tenant", call: func() error {
			return b.DeleteTenant(t.Context(), known)
		}},
		{desc: "rotate root", msg: "barrier: rotate root", call: func() error {
			return b.RotateRoot(t.Context())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.call()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	// Cached KEKs keep working: the hot path never touches the database.
	got, err := b.Unwrap(t.Context(), known, "p", w)
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), got)
}

// TestRotateRootAtomic damages the last tenant KEK row in rotation order: the
// rows rewrapped before it must be rolled back with everything else.
func TestRotateRootAtomic(t *testing.T) {
	tests := []struct {
		desc   string
		column string
		value  any
		msg    string
	}{
		{desc: "row wrapped by an unknown root version", column: "root_version", value: 7, msg: "wrapped by root version 7, current is 1"},
		{desc: "row with a malformed tenant", column: "tenant", value: "not-a-uuid", msg: "tenant: invalid UUID"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db *testDB) {
				ctx := t.Context()
				secrets := newSecrets(t, 1)
				b := mustOpen(t, db.g, secrets, 1)
				tenants := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
				wrapped := make([][]byte, len(tenants))
				for i, tenant := range tenants {
					var err error
					wrapped[i], err = b.Wrap(ctx, tenant, "p", tenant[:])
					require.NoError(t, err)
				}
				var rows []tenantKeyRow
				require.NoError(t, db.g.Order("key_id").Find(&rows).Error)
				last := rows[len(rows)-1]
				require.NoError(t, db.g.Model(&tenantKeyRow{}).Where("key_id = ?", last.KeyID).Update(tc.column, tc.value).Error)
				var rootsBefore []rootKeyRow
				require.NoError(t, db.g.Find(&rootsBefore).Error)

				err := b.RotateRoot(ctx)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.msg)
				assert.Equal(t, 1, b.rootVersion, "a failed rotation keeps the old root")

				var rootsAfter []rootKeyRow
				require.NoError(t, db.g.Find(&rootsAfter).Error)
				assert.Equal(t, rootsBefore, rootsAfter, "root key copies unchanged")
				var rewrapped int64
				require.NoError(t, db.g.Model(&tenantKeyRow{}).Where("root_version = ?", 2).Count(&rewrapped).Error)
				assert.Zero(t, rewrapped, "no row keeps a partial rewrap")
				reopened := mustOpen(t, db.g, secrets, 1)
				for i, tenant := range tenants {
					if tenant.String() == last.Tenant {
						continue
					}
					got, err := reopened.Unwrap(ctx, tenant, "p", wrapped[i])
					require.NoError(t, err)
					assert.Equal(t, tenant[:], got)
				}
			})
		})
	}
}

// TestCallerWipesSecretsAfterOpen: a caller may zero its secret buffers once
// the barrier is open. The barrier must have kept its own copy, or a later
// RotateRoot would wrap the new root under keys derived from zeros and the
// database could never be unsealed again with the real secrets.
func TestCallerWipesSecretsAfterOpen(t *testing.T) {
	deepCopy := func(in [][]byte) [][]byte {
		out := make([][]byte, len(in))
		for i, s := range in {
			out[i] = bytes.Clone(s)
		}
		return out
	}
	tests := []struct {
		desc   string
		n, m   int
		unseal bool // wipe after an unsealing Open rather than the initialising one
	}{
		{desc: "1-of-1, wiped after the initialising Open", n: 1, m: 1},
		{desc: "2-of-3, wiped after the initialising Open", n: 3, m: 2},
		{desc: "2-of-3, wiped after an unsealing Open", n: 3, m: 2, unseal: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			db := newSQLite(t)
			secrets := newSecrets(t, tc.n)
			ctx := t.Context()
			tenant := uuid.New()
			given := deepCopy(secrets)
			b := mustOpen(t, db.g, given, tc.m)
			w, err := b.Wrap(ctx, tenant, "p", []byte("kept"))
			require.NoError(t, err)
			if tc.unseal {
				given = deepCopy(secrets)
				b = mustOpen(t, db.g, given, tc.m)
			}
			for _, s := range given {
				clear(s)
			}
			require.NoError(t, b.RotateRoot(ctx))

			reopened, err := Open(ctx, db.g, Options{Secrets: deepCopy(secrets), Threshold: tc.m})
			require.NoError(t, err, "the real secrets must still unseal after the rotation")
			got, err := reopened.Unwrap(ctx, tenant, "p", w)
			require.NoError(t, err)
			assert.Equal(t, []byte("kept"), got)
		})
	}
}

// TestDeleteTenantDuringUnwrap runs DeleteTenant exactly between Unwrap's
// read of the tenant's KEK row and its caching of the KEK (a gorm callback
// after the query makes the interleaving certain). The shredded KEK must not
// end up in the cache: nothing wrapped for the tenant may unwrap afterwards.
func TestDeleteTenantDuringUnwrap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		ctx := t.Context()
		secrets := newSecrets(t, 1)
		tenant := uuid.New()
		w, err := mustOpen(t, db.g, secrets, 1).Wrap(ctx, tenant, "p", []byte("shred me"))
		require.NoError(t, err)

		b := mustOpen(t, db.g, secrets, 1) // nothing cached yet
		var armed atomic.Bool
		require.NoError(t, db.g.Callback().Query().After("gorm:query").Register("test:delete-during-unwrap", func(tx *gorm.DB) {
			if tx.Statement.Table == "barrier_tenant_keys" && armed.CompareAndSwap(true, false) {
				assert.NoError(t, b.DeleteTenant(ctx, tenant))
			}
		}))
		armed.Store(true)
		_, err = b.Unwrap(ctx, tenant, "p", w)
		require.False(t, armed.Load(), "the delete ran inside Unwrap's lookup")
		require.ErrorIs(t, err, ErrUnwrap, "the lookup saw the tenant deleted")
		_, err = b.Unwrap(ctx, tenant, "p", w)
		require.ErrorIs(t, err, ErrUnwrap, "a shredded KEK must not stay cached")
	})
}
