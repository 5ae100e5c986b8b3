package keys_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
)

type env struct {
	svc     *keys.Service
	db      *db.DB
	barrier *barrier.Barrier
	tenant  uuid.UUID
}

func newEnv(t *testing.T, b dbtest.Backend) *env {
	t.Helper()
	ctx := t.Context()
	d := dbtest.Open(t, b)
	br, err := barrier.Open(ctx, d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("a-test-unseal-secret-of-32-bytes!!")}})
	require.NoError(t, err)
	store, err := sqlstore.New(ctx, d)
	require.NoError(t, err)
	svc, err := keys.New(ctx, keys.Options{Store: store, Barrier: br})
	require.NoError(t, err)
	tn, err := svc.CreateTenant(ctx, factory.TenantID(), factory.Name("tenant"), false)
	require.NoError(t, err)
	return &env{svc: svc, db: d, barrier: br, tenant: tn.ID}
}

func (e *env) key(t *testing.T, alg keycrypto.Algorithm, versioning bool) *kms.ElasticKey {
	t.Helper()
	k, err := e.svc.CreateKey(t.Context(), e.tenant, kms.NewKey{Name: factory.Name("key"), Algorithm: string(alg), VersioningAllowed: versioning})
	require.NoError(t, err)
	return k
}

func requireCode(t *testing.T, err error, code kms.Code) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, code, kms.CodeOf(err), "error: %v", err)
}

func TestTenants(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		name := factory.Name("t")
		id := factory.TenantID()
		tn, err := e.svc.CreateTenant(ctx, id, name, true)
		require.NoError(t, err)
		assert.True(t, tn.Demo)
		_, err = e.svc.CreateTenant(ctx, factory.TenantID(), name, false)
		requireCode(t, err, kms.NameTaken)
		_, err = e.svc.CreateTenant(ctx, uuid.Must(uuid.NewV7()), factory.Name("t"), false)
		requireCode(t, err, kms.InvalidRequest)
		_, err = e.svc.CreateTenant(ctx, factory.TenantID(), "", false)
		requireCode(t, err, kms.InvalidRequest)

		again, err := e.svc.EnsureTenant(ctx, id, "ignored", false)
		require.NoError(t, err)
		assert.Equal(t, name, again.Name)
		all, err := e.svc.Tenants(ctx)
		require.NoError(t, err)
		assert.Len(t, all, 2)

		k, err := e.svc.CreateKey(ctx, id, kms.NewKey{Name: "k", Algorithm: "A256GCM"})
		require.NoError(t, err)
		require.NoError(t, e.svc.DeleteTenant(ctx, id))
		_, err = e.svc.Tenant(ctx, id)
		requireCode(t, err, kms.NotFound)
		_, err = e.svc.GetKey(ctx, id, k.ID)
		requireCode(t, err, kms.NotFound)
		list, _, err := e.svc.ListKeys(ctx, id, kms.KeyFilter{}, kms.Page{Size: 10})
		require.NoError(t, err)
		assert.Empty(t, list, "an unknown tenant has no keys")
	})
}

func TestCryptoRoundTrips(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		for _, alg := range keycrypto.Algorithms() {
			t.Run(string(alg), func(t *testing.T) {
				k := e.key(t, alg, true)
				assert.Equal(t, alg.Purpose(), k.Purpose)
				assert.Equal(t, 1, k.PrimaryVersion)
				switch alg.Purpose() {
				case keycrypto.PurposeEncrypt:
					jwe, kid, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("secret"), []byte("ctx"))
					require.NoError(t, err)
					assert.NotEmpty(t, kid)
					pt, err := e.svc.Decrypt(ctx, e.tenant, k.ID, jwe, []byte("ctx"))
					require.NoError(t, err)
					assert.Equal(t, "secret", string(pt))
					_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, jwe, []byte("other"))
					requireCode(t, err, kms.ContextMismatch)
					_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, jwe[:len(jwe)-4], []byte("ctx"))
					require.Error(t, err)
					assert.Contains(t, []kms.Code{kms.DecryptionFailed, kms.MalformedCiphertext}, kms.CodeOf(err))
					_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, "not-a-jwe", nil)
					requireCode(t, err, kms.MalformedCiphertext)
					dk, wrapped, _, err := e.svc.GenerateDataKey(ctx, e.tenant, k.ID, nil)
					require.NoError(t, err)
					assert.Len(t, dk, 32)
					back, err := e.svc.Decrypt(ctx, e.tenant, k.ID, wrapped, nil)
					require.NoError(t, err)
					assert.Equal(t, dk, back)
					_, _, err = e.svc.Sign(ctx, e.tenant, k.ID, []byte("x"))
					requireCode(t, err, kms.WrongPurpose)
				case keycrypto.PurposeSign:
					jws, _, err := e.svc.Sign(ctx, e.tenant, k.ID, []byte("payload"))
					require.NoError(t, err)
					v, err := e.svc.Verify(ctx, e.tenant, k.ID, jws)
					require.NoError(t, err)
					assert.True(t, v.Valid)
					assert.Equal(t, "payload", string(v.Payload))
					tampered := jws[:len(jws)-2] + flip(jws[len(jws)-2:])
					v, err = e.svc.Verify(ctx, e.tenant, k.ID, tampered)
					if err != nil {
						// The flip may leave bits base64url does not allow.
						requireCode(t, err, kms.MalformedSignature)
					} else {
						assert.False(t, v.Valid, "a tampered signature never verifies")
					}
					set, err := e.svc.JWKS(ctx, e.tenant, k.ID)
					require.NoError(t, err)
					assert.Len(t, set.Keys, 1)
					_, _, err = e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
					requireCode(t, err, kms.WrongPurpose)
					_, _, err = e.svc.MAC(ctx, e.tenant, k.ID, []byte("x"))
					requireCode(t, err, kms.WrongPurpose)
				case keycrypto.PurposeMAC:
					jws, _, err := e.svc.MAC(ctx, e.tenant, k.ID, []byte("data"))
					require.NoError(t, err)
					v, err := e.svc.VerifyMAC(ctx, e.tenant, k.ID, jws)
					require.NoError(t, err)
					assert.True(t, v.Valid)
					_, err = e.svc.Verify(ctx, e.tenant, k.ID, jws)
					requireCode(t, err, kms.WrongPurpose)
					set, err := e.svc.JWKS(ctx, e.tenant, k.ID)
					require.NoError(t, err)
					assert.Empty(t, set.Keys, "symmetric keys publish nothing")
				}
			})
		}
	})
}

func flip(s string) string {
	out := []byte(s)
	for i := range out {
		if out[i] == 'A' {
			out[i] = 'B'
		} else {
			out[i] = 'A'
		}
	}
	return string(out)
}

func TestRotationAndVersions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		enc := e.key(t, keycrypto.A256KW, true)
		sig := e.key(t, keycrypto.ES256, true)

		c1, kid1, err := e.svc.Encrypt(ctx, e.tenant, enc.ID, []byte("v1"), nil)
		require.NoError(t, err)
		s1, _, err := e.svc.Sign(ctx, e.tenant, sig.ID, []byte("v1"))
		require.NoError(t, err)
		v2, err := e.svc.Rotate(ctx, e.tenant, enc.ID)
		require.NoError(t, err)
		assert.Equal(t, 2, v2.Version)
		assert.True(t, v2.Primary)
		_, err = e.svc.Rotate(ctx, e.tenant, sig.ID)
		require.NoError(t, err)

		c2, kid2, err := e.svc.Encrypt(ctx, e.tenant, enc.ID, []byte("v2"), nil)
		require.NoError(t, err)
		assert.Equal(t, v2.Kid(), kid2, "the new version encrypts")
		assert.NotEqual(t, kid1, kid2)
		pt, err := e.svc.Decrypt(ctx, e.tenant, enc.ID, c1, nil)
		require.NoError(t, err)
		assert.Equal(t, "v1", string(pt), "old version still decrypts")
		v, err := e.svc.Verify(ctx, e.tenant, sig.ID, s1)
		require.NoError(t, err)
		assert.True(t, v.Valid, "old signature still verifies")
		set, err := e.svc.JWKS(ctx, e.tenant, sig.ID)
		require.NoError(t, err)
		assert.Len(t, set.Keys, 2)

		vs, next, err := e.svc.ListVersions(ctx, e.tenant, enc.ID, kms.Page{Size: 1})
		require.NoError(t, err)
		require.Len(t, vs, 1)
		assert.Equal(t, 2, vs[0].Version, "newest first")
		vs2, next2, err := e.svc.ListVersions(ctx, e.tenant, enc.ID, kms.Page{Size: 1, After: next})
		require.NoError(t, err)
		require.Len(t, vs2, 1)
		assert.Equal(t, 1, vs2[0].Version)
		assert.False(t, vs2[0].Primary)
		assert.Equal(t, uuid.Nil, next2)

		mid1 := uuid.MustParse(kid1)
		m, err := e.svc.SetVersionStatus(ctx, e.tenant, enc.ID, mid1, kms.StatusDisabled)
		require.NoError(t, err)
		assert.Equal(t, kms.StatusDisabled, m.Status)
		_, err = e.svc.Decrypt(ctx, e.tenant, enc.ID, c1, nil)
		requireCode(t, err, kms.VersionDisabled)
		_, err = e.svc.SetVersionStatus(ctx, e.tenant, enc.ID, mid1, kms.StatusEnabled)
		require.NoError(t, err)
		_, err = e.svc.Decrypt(ctx, e.tenant, enc.ID, c1, nil)
		require.NoError(t, err, "re-enabled version decrypts again")

		_, err = e.svc.SetVersionStatus(ctx, e.tenant, enc.ID, mid1, kms.StatusDestroyed)
		require.NoError(t, err)
		_, err = e.svc.Decrypt(ctx, e.tenant, enc.ID, c1, nil)
		requireCode(t, err, kms.VersionDestroyed)
		_, err = e.svc.SetVersionStatus(ctx, e.tenant, enc.ID, mid1, kms.StatusEnabled)
		requireCode(t, err, kms.VersionDestroyed)
		_, err = e.svc.SetVersionStatus(ctx, e.tenant, enc.ID, mid1, "bogus")
		requireCode(t, err, kms.InvalidRequest)
		got, err := e.svc.GetVersion(ctx, e.tenant, enc.ID, mid1)
		require.NoError(t, err)
		assert.Equal(t, kms.StatusDestroyed, got.Status)
		_, err = e.svc.GetVersion(ctx, e.tenant, sig.ID, mid1)
		requireCode(t, err, kms.NotFound)

		// Disable the only remaining version: nothing encrypts.
		_, err = e.svc.SetVersionStatus(ctx, e.tenant, enc.ID, uuid.MustParse(kid2), kms.StatusDisabled)
		require.NoError(t, err)
		_, _, err = e.svc.Encrypt(ctx, e.tenant, enc.ID, []byte("x"), nil)
		requireCode(t, err, kms.NoEnabledVersion)
		k, err := e.svc.GetKey(ctx, e.tenant, enc.ID)
		require.NoError(t, err)
		assert.Equal(t, 0, k.PrimaryVersion)
		_, err = e.svc.Decrypt(ctx, e.tenant, enc.ID, c2, nil)
		requireCode(t, err, kms.VersionDisabled)

		// A kid of another key is unknown here.
		other := e.key(t, keycrypto.A256KW, true)
		c3, _, err := e.svc.Encrypt(ctx, e.tenant, other.ID, []byte("x"), nil)
		require.NoError(t, err)
		_, err = e.svc.Decrypt(ctx, e.tenant, enc.ID, c3, nil)
		requireCode(t, err, kms.UnknownKid)

		fixed := e.key(t, keycrypto.HS256, false)
		_, err = e.svc.Rotate(ctx, e.tenant, fixed.ID)
		requireCode(t, err, kms.VersioningNotAllowed)
	})
}

func TestKeyLifecycle(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k := e.key(t, keycrypto.A256GCM, true)
		c, _, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
		require.NoError(t, err)

		_, err = e.svc.CreateKey(ctx, e.tenant, kms.NewKey{Name: k.Name, Algorithm: "A256GCM"})
		requireCode(t, err, kms.NameTaken)
		for _, nk := range []kms.NewKey{
			{Name: "x", Algorithm: "A128GCM"},
			{Name: "", Algorithm: "A256GCM"},
			{Name: "x", Algorithm: "A256GCM", Description: string(make([]byte, 5000))},
		} {
			_, err = e.svc.CreateKey(ctx, e.tenant, nk)
			requireCode(t, err, kms.InvalidRequest)
		}

		desc := "new description"
		disabled := kms.StatusDisabled
		u, err := e.svc.UpdateKey(ctx, e.tenant, k.ID, kms.KeyPatch{Description: &desc, Status: &disabled})
		require.NoError(t, err)
		assert.Equal(t, desc, u.Description)
		assert.Equal(t, kms.StatusDisabled, u.Status)
		_, _, err = e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
		requireCode(t, err, kms.KeyDisabled)
		_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, c, nil)
		requireCode(t, err, kms.KeyDisabled)
		_, err = e.svc.Rotate(ctx, e.tenant, k.ID)
		requireCode(t, err, kms.KeyDisabled)
		_, err = e.svc.JWKS(ctx, e.tenant, k.ID)
		requireCode(t, err, kms.KeyDisabled)
		destroyed := kms.StatusDestroyed
		_, err = e.svc.UpdateKey(ctx, e.tenant, k.ID, kms.KeyPatch{Status: &destroyed})
		requireCode(t, err, kms.InvalidRequest)
		long := string(make([]byte, 5000))
		_, err = e.svc.UpdateKey(ctx, e.tenant, k.ID, kms.KeyPatch{Description: &long})
		requireCode(t, err, kms.InvalidRequest)
		enabled := kms.StatusEnabled
		_, err = e.svc.UpdateKey(ctx, e.tenant, k.ID, kms.KeyPatch{Status: &enabled})
		require.NoError(t, err)

		gone, err := e.svc.DestroyKey(ctx, e.tenant, k.ID)
		require.NoError(t, err)
		assert.Equal(t, kms.StatusDestroyed, gone.Status)
		_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, c, nil)
		requireCode(t, err, kms.KeyDestroyed)
		_, _, err = e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
		requireCode(t, err, kms.KeyDestroyed)
		_, err = e.svc.DestroyKey(ctx, e.tenant, k.ID)
		requireCode(t, err, kms.KeyDestroyed)
		_, err = e.svc.UpdateKey(ctx, e.tenant, k.ID, kms.KeyPatch{Description: &desc})
		requireCode(t, err, kms.KeyDestroyed)
		_, err = e.svc.Rotate(ctx, e.tenant, k.ID)
		requireCode(t, err, kms.KeyDestroyed)
		_, err = e.svc.JWKS(ctx, e.tenant, k.ID)
		requireCode(t, err, kms.KeyDestroyed)
		vs, _, err := e.svc.ListVersions(ctx, e.tenant, k.ID, kms.Page{Size: 10})
		require.NoError(t, err)
		_, err = e.svc.SetVersionStatus(ctx, e.tenant, k.ID, vs[0].ID, kms.StatusEnabled)
		requireCode(t, err, kms.KeyDestroyed)
		meta, err := e.svc.GetKey(ctx, e.tenant, k.ID)
		require.NoError(t, err, "metadata is kept")
		assert.Equal(t, kms.StatusDestroyed, meta.Status)

		missing := uuid.Must(uuid.NewV7())
		_, err = e.svc.GetKey(ctx, e.tenant, missing)
		requireCode(t, err, kms.NotFound)
		_, _, err = e.svc.Encrypt(ctx, e.tenant, missing, []byte("x"), nil)
		requireCode(t, err, kms.NotFound)
		_, err = e.svc.UpdateKey(ctx, e.tenant, missing, kms.KeyPatch{Description: &desc})
		requireCode(t, err, kms.NotFound)
		_, err = e.svc.DestroyKey(ctx, e.tenant, missing)
		requireCode(t, err, kms.NotFound)
		_, err = e.svc.Rotate(ctx, e.tenant, missing)
		requireCode(t, err, kms.NotFound)
		_, _, err = e.svc.ListVersions(ctx, e.tenant, missing, kms.Page{Size: 1})
		requireCode(t, err, kms.NotFound)
		_, err = e.svc.GetVersion(ctx, e.tenant, missing, missing)
		requireCode(t, err, kms.NotFound)
		_, err = e.svc.JWKS(ctx, e.tenant, missing)
		requireCode(t, err, kms.NotFound)
	})
}

func TestListFiltersAndPaging(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		var created []*kms.ElasticKey
		for _, alg := range []keycrypto.Algorithm{keycrypto.A256GCM, keycrypto.ES256, keycrypto.ES256, keycrypto.HS256, keycrypto.EdDSA} {
			created = append(created, e.key(t, alg, true))
		}
		pct, err := e.svc.CreateKey(ctx, e.tenant, kms.NewKey{Name: "50%_off", Algorithm: "A256GCM"})
		require.NoError(t, err)
		_, err = e.svc.DestroyKey(ctx, e.tenant, created[0].ID)
		require.NoError(t, err)

		tests := []struct {
			desc   string
			filter kms.KeyFilter
			want   int
		}{
			{desc: "all", want: 6},
			{desc: "by algorithm", filter: kms.KeyFilter{Algorithm: "ES256"}, want: 2},
			{desc: "by purpose", filter: kms.KeyFilter{Purpose: "sign"}, want: 3},
			{desc: "by status", filter: kms.KeyFilter{Status: kms.StatusDestroyed}, want: 1},
			// Factory names begin with their UUIDv7: a name's UUID part is a
			// prefix only that key has.
			{desc: "by name prefix", filter: kms.KeyFilter{NamePrefix: strings.TrimSuffix(created[2].Name, "-key")}, want: 1},
			{desc: "prefix wildcards are literal", filter: kms.KeyFilter{NamePrefix: "50%"}, want: 1},
			{desc: "prefix percent alone matches nothing", filter: kms.KeyFilter{NamePrefix: "%"}, want: 0},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				got, _, err := e.svc.ListKeys(ctx, e.tenant, tc.filter, kms.Page{Size: 100})
				require.NoError(t, err)
				assert.Len(t, got, tc.want)
			})
		}
		var seen []uuid.UUID
		after := uuid.Nil
		for {
			got, next, err := e.svc.ListKeys(ctx, e.tenant, kms.KeyFilter{}, kms.Page{Size: 4, After: after})
			require.NoError(t, err)
			for _, k := range got {
				seen = append(seen, k.ID)
			}
			if next == uuid.Nil {
				break
			}
			after = next
		}
		require.Len(t, seen, 6)
		assert.Equal(t, pct.ID, seen[5], "creation order")
	})
}

func TestAudit(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := keys.WithActor(t.Context(), keys.Actor{Subject: "alice", Realm: "local", Method: "bearer", ClientID: "cli-1", RequestID: "req-1"})
		e := newEnv(t, b)
		k, err := e.svc.CreateKey(ctx, e.tenant, kms.NewKey{Name: factory.Name("k"), Algorithm: "A256GCM"})
		require.NoError(t, err)
		_, _, err = e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("top secret plaintext"), nil)
		require.NoError(t, err)
		_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, "garbage", nil)
		require.Error(t, err)

		events, next, err := e.svc.ListAudit(ctx, e.tenant, nil, kms.Page{Size: 2})
		require.NoError(t, err)
		require.Len(t, events, 2)
		more, next2, err := e.svc.ListAudit(ctx, e.tenant, &k.ID, kms.Page{Size: 10, After: next})
		require.NoError(t, err)
		assert.Equal(t, uuid.Nil, next2)
		events = append(events, more...)
		require.Len(t, events, 3)
		ops := []string{events[0].Operation, events[1].Operation, events[2].Operation}
		assert.Equal(t, []string{"create_key", "encrypt", "decrypt"}, ops)
		assert.Equal(t, "success", events[1].Outcome)
		assert.Equal(t, "failure", events[2].Outcome)
		assert.Equal(t, string(kms.MalformedCiphertext), events[2].ErrorCode)
		for _, ev := range events {
			assert.Equal(t, "alice", ev.Principal)
			assert.Equal(t, "req-1", ev.RequestID)
			assert.Equal(t, "bearer", ev.Method)
			assert.Equal(t, "cli-1", ev.ClientID, "the client the subject acted through is recorded")
			assert.Equal(t, k.ID.String(), ev.ElasticKeyID)
			assert.Equal(t, e.tenant, ev.TenantID)
		}
		assert.NotEmpty(t, events[1].MaterialKeyID)

		other := uuid.Must(uuid.NewV7())
		none, _, err := e.svc.ListAudit(ctx, e.tenant, &other, kms.Page{Size: 10})
		require.NoError(t, err)
		assert.Empty(t, none)
		_, _, err = e.svc.ListAudit(context.Background(), factory.TenantID(), nil, kms.Page{Size: 1})
		requireCode(t, err, kms.NotFound)
	})
}

func TestNewValidates(t *testing.T) {
	_, err := keys.New(t.Context(), keys.Options{})
	require.Error(t, err)
	assert.True(t, kms.StatusEnabled.Valid())
	assert.False(t, kms.Status("x").Valid())
}

func TestEnsureTenantAndRecordDenied(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		id := factory.TenantID()
		tn, err := e.svc.EnsureTenant(ctx, id, "fresh-"+id.String(), false)
		require.NoError(t, err)
		assert.Equal(t, id, tn.ID)
		require.NoError(t, e.svc.RecordDenied(ctx, id, "encrypt", "some-key", kms.Forbidden))
		events, _, err := e.svc.ListAudit(ctx, id, nil, kms.Page{Size: 10})
		require.NoError(t, err)
		require.Len(t, events, 1)
		assert.Equal(t, "failure", events[0].Outcome)
		assert.Equal(t, "forbidden", events[0].ErrorCode)
		assert.Equal(t, "system", events[0].Principal, "no actor in context")
		requireCode(t, e.svc.RecordDenied(ctx, factory.TenantID(), "encrypt", "", kms.Forbidden), kms.NotFound)
		require.NoError(t, e.svc.RecordAdminEvent(ctx, id, "delete_realm_user", "user-1", nil))
		require.NoError(t, e.svc.RecordAdminEvent(ctx, id, "update_realm_user", "user-2", kms.New(kms.NotFound, "x")))
		events, _, err = e.svc.ListAudit(ctx, id, nil, kms.Page{Size: 10})
		require.NoError(t, err)
		require.Len(t, events, 3)
		assert.Equal(t, "user-1", events[1].Target)
		assert.Equal(t, "success", events[1].Outcome)
		assert.Equal(t, "not_found", events[2].ErrorCode)
		requireCode(t, e.svc.RecordAdminEvent(ctx, factory.TenantID(), "x", "", nil), kms.NotFound)
	})
}

// TestMaterialIsBoundToItsVersion: wrapped material copied onto another
// version (a database-level swap) does not unwrap.
func TestMaterialIsBoundToItsVersion(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k1 := e.key(t, keycrypto.A256GCM, true)
		k2 := e.key(t, keycrypto.A256GCM, true)
		g, err := e.db.Tenant(ctx, e.tenant)
		require.NoError(t, err)
		var wrapped []byte
		require.NoError(t, g.Table("kms_material_keys").Select("wrapped").Where("elastic_key_id = ?", k2.ID.String()).Row().Scan(&wrapped))
		require.NotEmpty(t, wrapped)
		require.NoError(t, g.Table("kms_material_keys").Where("elastic_key_id = ?", k1.ID.String()).Update("wrapped", wrapped).Error)
		_, _, err = e.svc.Encrypt(ctx, e.tenant, k1.ID, []byte("x"), nil)
		requireCode(t, err, kms.Internal)

		// Destroyed material is really gone from the row.
		_, err = e.svc.DestroyKey(ctx, e.tenant, k2.ID)
		require.NoError(t, err)
		var after []byte
		require.NoError(t, g.Table("kms_material_keys").Select("wrapped").Where("elastic_key_id = ?", k2.ID.String()).Row().Scan(&after))
		assert.Empty(t, after)
	})
}

// TestConcurrentOperations: many goroutines on a tenant's first use (its
// database migrates once) and on one key at the same time.
func TestConcurrentOperations(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k := e.key(t, keycrypto.A256GCM, true)
		fresh, err := e.svc.CreateTenant(ctx, factory.TenantID(), factory.Name("t"), false)
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 20 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				jwe, _, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte{byte(i)}, nil)
				if err == nil {
					var pt []byte
					pt, err = e.svc.Decrypt(ctx, e.tenant, k.ID, jwe, nil)
					if err == nil && (len(pt) != 1 || pt[0] != byte(i)) {
						err = fmt.Errorf("round trip %d gave %v", i, pt)
					}
				}
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, _, err := e.svc.ListKeys(ctx, fresh.ID, kms.KeyFilter{}, kms.Page{Size: 10})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

// TestKidMustBeCanonical: a kid names a version only in the form the service
// issued it. The same id in upper case is unknown, not a lookup that then
// fails authentication.
func TestKidMustBeCanonical(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		e := newEnv(t, b)
		k := e.key(t, keycrypto.A256GCM, false)
		jwe, kid, err := e.svc.Encrypt(ctx, e.tenant, k.ID, []byte("x"), nil)
		require.NoError(t, err)
		header, rest, ok := strings.Cut(jwe, ".")
		require.True(t, ok)
		raw, err := base64.RawURLEncoding.DecodeString(header)
		require.NoError(t, err)
		upper := strings.Replace(string(raw), kid, strings.ToUpper(kid), 1)
		require.NotEqual(t, string(raw), upper, "the header carries the kid")
		_, err = e.svc.Decrypt(ctx, e.tenant, k.ID, base64.RawURLEncoding.EncodeToString([]byte(upper))+"."+rest, nil)
		requireCode(t, err, kms.UnknownKid)
	})
}
