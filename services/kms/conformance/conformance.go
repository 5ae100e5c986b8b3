// Package conformance is the contract test of kms.KeyStore: every storage
// adapter runs Run (and RunConcurrency) from a small _test.go of its own, so
// the behaviour the rules in keys rely on is proved once per backend.
package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// NewStore returns a fresh, empty store; it registers its own cleanup.
type NewStore func(t *testing.T) kms.KeyStore

type subtest struct {
	name string
	run  func(t *testing.T, s kms.KeyStore)
}

// Run runs the sequential contract of kms.KeyStore, each subtest on a store
// of its own.
func Run(t *testing.T, newStore NewStore) {
	tests := []subtest{
		{"Tenants", testTenants},
		{"DeleteTenant", testDeleteTenant},
		{"CreateAndGetKey", testCreateAndGetKey},
		{"CreateKeyNameTaken", testCreateKeyNameTaken},
		{"ListKeys", testListKeys},
		{"ListKeysPaging", testListKeysPaging},
		{"UpdateKey", testUpdateKey},
		{"UpdateKeyRefused", testUpdateKeyRefused},
		{"DestroyKeyErasesMaterial", testDestroyKey},
		{"AddVersion", testAddVersion},
		{"Versions", testVersions},
		{"UpdateVersion", testUpdateVersion},
		{"Audit", testAudit},
		{"AuditBatch", testAuditBatch},
		{"KeyGeneration", testKeyGeneration},
		{"TenantIsolation", testTenantIsolation},
		{"UnknownTenant", testUnknownTenant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

// requireCode fails unless err is a *kms.Error with code.
func requireCode(t *testing.T, err error, code kms.Code) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, kms.CodeOf(err), "error: %v", err)
}

// now is a fixed instant at the database's precision (microseconds), so
// stored times compare equal.
var now = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

func tenant(t *testing.T, s kms.KeyStore) uuid.UUID {
	t.Helper()
	tn := &kms.Tenant{ID: factory.TenantID(), Name: factory.Name("tenant"), CreatedAt: now}
	require.NoError(t, s.CreateTenant(t.Context(), tn))
	return tn.ID
}

func newKey(tenant uuid.UUID, alg keycrypto.Algorithm, name string) *kms.ElasticKey {
	return &kms.ElasticKey{
		ID: ids.NewEntity(), TenantID: tenant, Name: name, Description: "a key", Algorithm: alg,
		Purpose: alg.Purpose(), Status: kms.StatusEnabled, VersioningAllowed: true, PrimaryVersion: 1,
		CreatedAt: now, UpdatedAt: now,
	}
}

// newVersion is a version whose material is recognisable bytes: the store
// treats material as opaque.
func newVersion(keyID uuid.UUID) *kms.MaterialKey {
	id := ids.NewEntity()
	return &kms.MaterialKey{
		ID: id, ElasticKeyID: keyID, Version: 1, Status: kms.StatusEnabled,
		Wrapped: []byte("wrapped:" + id.String()), CreatedAt: now, UpdatedAt: now,
	}
}

// createKey stores a new key of tenant with its first version.
func createKey(t *testing.T, s kms.KeyStore, tenant uuid.UUID, alg keycrypto.Algorithm, name string) (*kms.ElasticKey, *kms.MaterialKey) {
	t.Helper()
	k := newKey(tenant, alg, name)
	v := newVersion(k.ID)
	require.NoError(t, s.CreateKey(t.Context(), tenant, k, v))
	return k, v
}

func addVersion(t *testing.T, s kms.KeyStore, tenant, keyID uuid.UUID) *kms.MaterialKey {
	t.Helper()
	v, err := s.AddVersion(t.Context(), tenant, keyID, func(*kms.ElasticKey) error { return nil }, newVersion(keyID))
	require.NoError(t, err)
	return v
}

func testTenants(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	b := &kms.Tenant{ID: factory.TenantID(), Name: "b-" + factory.Name("t"), Demo: true, CreatedAt: now}
	a := &kms.Tenant{ID: factory.TenantID(), Name: "a-" + factory.Name("t"), CreatedAt: now}
	require.NoError(t, s.CreateTenant(ctx, b))
	require.NoError(t, s.CreateTenant(ctx, a))

	got, err := s.Tenant(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, b, got)

	all, err := s.Tenants(ctx)
	require.NoError(t, err)
	assert.Equal(t, []*kms.Tenant{a, b}, all, "ordered by name")

	err = s.CreateTenant(ctx, &kms.Tenant{ID: factory.TenantID(), Name: a.Name, CreatedAt: now})
	requireCode(t, err, kms.NameTaken)
	err = s.CreateTenant(ctx, &kms.Tenant{ID: a.ID, Name: factory.Name("other"), CreatedAt: now})
	requireCode(t, err, kms.NameTaken)
	all, err = s.Tenants(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 2, "a refused registration stores nothing")

	_, err = s.Tenant(ctx, factory.TenantID())
	requireCode(t, err, kms.NotFound)
}

func testDeleteTenant(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, _ := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	require.NoError(t, s.DeleteTenant(ctx, tn))
	_, err := s.Tenant(ctx, tn)
	requireCode(t, err, kms.NotFound)
	_, err = s.Key(ctx, tn, k.ID)
	requireCode(t, err, kms.NotFound)
	require.NoError(t, s.DeleteTenant(ctx, tn), "deleting again is not an error")
	require.NoError(t, s.DeleteTenant(ctx, factory.TenantID()), "nor is deleting an unknown tenant")

	// The id can be registered afresh, and starts empty.
	require.NoError(t, s.CreateTenant(ctx, &kms.Tenant{ID: tn, Name: factory.Name("again"), CreatedAt: now}))
	keys, _, err := s.Keys(ctx, tn, kms.KeyFilter{}, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Empty(t, keys)
}

func testCreateAndGetKey(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, v := createKey(t, s, tn, keycrypto.ES256, factory.Name("key"))
	got, err := s.Key(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k, got, "every field round-trips; PrimaryVersion is the first version")

	gotV, err := s.Version(ctx, tn, k.ID, v.ID)
	require.NoError(t, err)
	v.Primary = true
	assert.Equal(t, v, gotV, "the version round-trips with its material")

	_, err = s.Key(ctx, tn, ids.NewEntity())
	requireCode(t, err, kms.NotFound)
	_, _, err = s.KeyWithPrimary(ctx, tn, ids.NewEntity())
	requireCode(t, err, kms.NotFound)
}

func testCreateKeyNameTaken(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	name := factory.Name("key")
	createKey(t, s, tn, keycrypto.A256GCM, name)
	dup := newKey(tn, keycrypto.HS256, name)
	err := s.CreateKey(ctx, tn, dup, newVersion(dup.ID))
	requireCode(t, err, kms.NameTaken)
	_, err = s.Key(ctx, tn, dup.ID)
	requireCode(t, err, kms.NotFound)
	keys, _, err := s.Keys(ctx, tn, kms.KeyFilter{}, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Len(t, keys, 1, "nothing of the refused key is stored")
}

func ids2(keys []*kms.ElasticKey) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func testListKeys(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	aes, _ := createKey(t, s, tn, keycrypto.A256GCM, "app_1-aes")
	sig, _ := createKey(t, s, tn, keycrypto.ES256, "app%1-sig")
	mac, _ := createKey(t, s, tn, keycrypto.HS256, "other-mac")
	_, err := s.UpdateKey(ctx, tn, mac.ID, func(k *kms.ElasticKey) error { k.Status = kms.StatusDisabled; return nil })
	require.NoError(t, err)

	tests := []struct {
		desc string
		f    kms.KeyFilter
		want []uuid.UUID
	}{
		{desc: "all, in id order", want: []uuid.UUID{aes.ID, sig.ID, mac.ID}},
		{desc: "algorithm", f: kms.KeyFilter{Algorithm: string(keycrypto.ES256)}, want: []uuid.UUID{sig.ID}},
		{desc: "purpose", f: kms.KeyFilter{Purpose: string(keycrypto.PurposeEncrypt)}, want: []uuid.UUID{aes.ID}},
		{desc: "status", f: kms.KeyFilter{Status: kms.StatusDisabled}, want: []uuid.UUID{mac.ID}},
		{desc: "prefix", f: kms.KeyFilter{NamePrefix: "app"}, want: []uuid.UUID{aes.ID, sig.ID}},
		{desc: "underscore is literal", f: kms.KeyFilter{NamePrefix: "app_"}, want: []uuid.UUID{aes.ID}},
		{desc: "percent is literal", f: kms.KeyFilter{NamePrefix: "app%"}, want: []uuid.UUID{sig.ID}},
		{desc: "no match", f: kms.KeyFilter{NamePrefix: "zzz"}, want: []uuid.UUID{}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, next, err := s.Keys(ctx, tn, tc.f, kms.Page{Size: 10})
			require.NoError(t, err)
			assert.Equal(t, tc.want, ids2(got))
			assert.Equal(t, uuid.Nil, next)
		})
	}
	got, _, err := s.Keys(ctx, tn, kms.KeyFilter{Status: kms.StatusDisabled}, kms.Page{Size: 10})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, 1, got[0].PrimaryVersion, "listed keys carry their primary version")
}

func testListKeysPaging(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	var want []uuid.UUID
	for range 5 {
		k, _ := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
		want = append(want, k.ID)
	}
	var got []uuid.UUID
	page := kms.Page{Size: 2}
	for pages := 1; ; pages++ {
		keys, next, err := s.Keys(ctx, tn, kms.KeyFilter{}, page)
		require.NoError(t, err)
		require.LessOrEqual(t, len(keys), 2)
		got = append(got, ids2(keys)...)
		if next == uuid.Nil {
			assert.Equal(t, 3, pages)
			break
		}
		assert.Equal(t, keys[len(keys)-1].ID, next, "the cursor is the last id of the page")
		page.After = next
	}
	assert.Equal(t, want, got, "every key once, in creation order")

	keys, next, err := s.Keys(ctx, tn, kms.KeyFilter{}, kms.Page{Size: 5})
	require.NoError(t, err)
	assert.Len(t, keys, 5)
	assert.Equal(t, uuid.Nil, next, "an exactly full last page has no next cursor")
}

func testUpdateKey(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, _ := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	later := now.Add(time.Hour)
	got, err := s.UpdateKey(ctx, tn, k.ID, func(k *kms.ElasticKey) error {
		k.Description, k.Status, k.UpdatedAt = "changed", kms.StatusDisabled, later
		k.Name = "ignored: names do not change"
		return nil
	})
	require.NoError(t, err)
	want := *k
	want.Description, want.Status, want.UpdatedAt = "changed", kms.StatusDisabled, later
	assert.Equal(t, &want, got)
	stored, err := s.Key(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, &want, stored)

	_, err = s.UpdateKey(ctx, tn, ids.NewEntity(), func(*kms.ElasticKey) error {
		t.Error("update called for a missing key")
		return nil
	})
	requireCode(t, err, kms.NotFound)
}

func testUpdateKeyRefused(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, _ := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	refusal := kms.New(kms.KeyDisabled, "no")
	_, err := s.UpdateKey(ctx, tn, k.ID, func(k *kms.ElasticKey) error {
		k.Description, k.Status = "half-made change", kms.StatusDestroyed
		return refusal
	})
	assert.Same(t, refusal, err, "the callback's error comes back unwrapped")
	stored, err := s.Key(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k, stored, "a refused update changes nothing")
}

func testDestroyKey(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, _ := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	addVersion(t, s, tn, k.ID)
	other, otherV := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	got, err := s.UpdateKey(ctx, tn, k.ID, func(k *kms.ElasticKey) error {
		k.Status = kms.StatusDestroyed
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, kms.StatusDestroyed, got.Status)
	assert.Zero(t, got.PrimaryVersion, "a destroyed key has no primary version")
	versions, _, err := s.Versions(ctx, tn, k.ID, kms.Page{Size: 10})
	require.NoError(t, err)
	require.Len(t, versions, 2)
	for _, v := range versions {
		assert.Equal(t, kms.StatusDestroyed, v.Status)
		assert.Nil(t, v.Wrapped, "material erased")
		assert.False(t, v.Primary)
	}
	_, p, err := s.KeyWithPrimary(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Nil(t, p, "no primary version")
	v, err := s.Version(ctx, tn, other.ID, otherV.ID)
	require.NoError(t, err)
	assert.Equal(t, otherV.Wrapped, v.Wrapped, "other keys keep their material")
}

func testAddVersion(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, _ := createKey(t, s, tn, keycrypto.HS256, factory.Name("key"))
	var seen *kms.ElasticKey
	nv := newVersion(k.ID)
	nv.Version = 42 // the store numbers versions, whatever the caller says
	v2, err := s.AddVersion(ctx, tn, k.ID, func(k *kms.ElasticKey) error { seen = k; return nil }, nv)
	require.NoError(t, err)
	assert.Equal(t, k.ID, seen.ID, "check sees the key")
	assert.Equal(t, 2, v2.Version)
	assert.True(t, v2.Primary)
	assert.Equal(t, nv.ID, v2.ID)
	assert.Equal(t, nv.Wrapped, v2.Wrapped)

	got, err := s.Key(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.PrimaryVersion)
	withPrimary, p, err := s.KeyWithPrimary(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, got, withPrimary, "the key is the one Key returns")
	assert.Equal(t, v2, p, "the primary version with its material")

	refusal := errors.New("not now")
	_, err = s.AddVersion(ctx, tn, k.ID, func(*kms.ElasticKey) error { return refusal }, newVersion(k.ID))
	assert.Same(t, refusal, err)
	versions, _, err := s.Versions(ctx, tn, k.ID, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Len(t, versions, 2, "a refused version is not stored")

	_, err = s.AddVersion(ctx, tn, ids.NewEntity(), func(*kms.ElasticKey) error { return nil }, newVersion(k.ID))
	requireCode(t, err, kms.NotFound)
}

func versionNumbers(vs []*kms.MaterialKey) []int {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Version)
	}
	return out
}

func testVersions(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, v1 := createKey(t, s, tn, keycrypto.ES256, factory.Name("key"))
	for range 4 {
		addVersion(t, s, tn, k.ID)
	}
	other, otherV := createKey(t, s, tn, keycrypto.ES256, factory.Name("key"))

	var got []int
	page := kms.Page{Size: 2}
	for {
		vs, next, err := s.Versions(ctx, tn, k.ID, page)
		require.NoError(t, err)
		got = append(got, versionNumbers(vs)...)
		if next == uuid.Nil {
			break
		}
		page.After = next
	}
	assert.Equal(t, []int{5, 4, 3, 2, 1}, got, "newest first, each once")

	_, _, err := s.Versions(ctx, tn, k.ID, kms.Page{Size: 2, After: otherV.ID})
	requireCode(t, err, kms.InvalidRequest)
	_, _, err = s.Versions(ctx, tn, k.ID, kms.Page{Size: 2, After: ids.NewEntity()})
	requireCode(t, err, kms.InvalidRequest)
	vs, _, err := s.Versions(ctx, tn, ids.NewEntity(), kms.Page{Size: 2})
	require.NoError(t, err)
	assert.Empty(t, vs)

	_, err = s.Version(ctx, tn, k.ID, otherV.ID)
	requireCode(t, err, kms.NotFound)
	_, err = s.Version(ctx, tn, other.ID, v1.ID)
	requireCode(t, err, kms.NotFound)

	// Disabling the newest moves the primary to the one before it.
	_, err = s.UpdateVersion(ctx, tn, k.ID, mustVersion(t, s, tn, k.ID, 5).ID, func(_ *kms.ElasticKey, v *kms.MaterialKey) error {
		v.Status = kms.StatusDisabled
		return nil
	})
	require.NoError(t, err)
	_, p, err := s.KeyWithPrimary(ctx, tn, k.ID)
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, 4, p.Version)
	assert.True(t, p.Primary)
	enabled, err := s.EnabledVersions(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, []int{4, 3, 2, 1}, versionNumbers(enabled))
	assert.True(t, enabled[0].Primary)
	assert.False(t, slices.ContainsFunc(enabled[1:], func(v *kms.MaterialKey) bool { return v.Primary }))
	enabled, err = s.EnabledVersions(ctx, tn, ids.NewEntity())
	require.NoError(t, err)
	assert.Empty(t, enabled)
}

func mustVersion(t *testing.T, s kms.KeyStore, tn, keyID uuid.UUID, n int) *kms.MaterialKey {
	t.Helper()
	vs, _, err := s.Versions(t.Context(), tn, keyID, kms.Page{Size: 100})
	require.NoError(t, err)
	for _, v := range vs {
		if v.Version == n {
			return v
		}
	}
	t.Fatalf("key %s has no version %d", keyID, n)
	return nil
}

func testUpdateVersion(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	k, v1 := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	v2 := addVersion(t, s, tn, k.ID)
	later := now.Add(time.Minute)

	got, err := s.UpdateVersion(ctx, tn, k.ID, v2.ID, func(key *kms.ElasticKey, v *kms.MaterialKey) error {
		assert.Equal(t, k.ID, key.ID)
		v.Status, v.UpdatedAt = kms.StatusDisabled, later
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, kms.StatusDisabled, got.Status)
	assert.Equal(t, later, got.UpdatedAt)
	assert.False(t, got.Primary)
	assert.Equal(t, v2.Wrapped, got.Wrapped, "disabling keeps the material")

	got, err = s.UpdateVersion(ctx, tn, k.ID, v1.ID, func(_ *kms.ElasticKey, v *kms.MaterialKey) error {
		v.Status = kms.StatusDestroyed
		return nil
	})
	require.NoError(t, err)
	assert.Nil(t, got.Wrapped, "destroying erases the material")
	stored, err := s.Version(ctx, tn, k.ID, v1.ID)
	require.NoError(t, err)
	assert.Equal(t, kms.StatusDestroyed, stored.Status)
	assert.Nil(t, stored.Wrapped)
	key, err := s.Key(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Zero(t, key.PrimaryVersion, "no enabled version left")

	refusal := kms.New(kms.VersionDestroyed, "no")
	_, err = s.UpdateVersion(ctx, tn, k.ID, v2.ID, func(_ *kms.ElasticKey, v *kms.MaterialKey) error {
		v.Status = kms.StatusDestroyed
		return refusal
	})
	assert.Same(t, refusal, err)
	stored, err = s.Version(ctx, tn, k.ID, v2.ID)
	require.NoError(t, err)
	assert.Equal(t, kms.StatusDisabled, stored.Status, "a refused update changes nothing")
	assert.Equal(t, v2.Wrapped, stored.Wrapped)

	_, err = s.UpdateVersion(ctx, tn, k.ID, ids.NewEntity(), func(*kms.ElasticKey, *kms.MaterialKey) error { return nil })
	requireCode(t, err, kms.NotFound)
}

func auditEvent(tn uuid.UUID, keyID string, op string) *kms.AuditEvent {
	return &kms.AuditEvent{
		ID: ids.NewEntity(), Time: now, Principal: "alice", Realm: "local", Method: "basic", TenantID: tn,
		ElasticKeyID: keyID, MaterialKeyID: "", Operation: op, Outcome: kms.OutcomeSuccess, RequestID: "req-1",
	}
}

func testAudit(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn := tenant(t, s)
	keyA, keyB := ids.NewEntity(), ids.NewEntity()
	var all, ofA []*kms.AuditEvent
	for i := range 5 {
		keyID := keyB
		if i%2 == 0 {
			keyID = keyA
		}
		e := auditEvent(tn, keyID.String(), "encrypt")
		if i == 3 {
			e.Outcome, e.ErrorCode, e.Target = kms.OutcomeFailure, string(kms.KeyDisabled), "user-1"
		}
		if i == 4 {
			e.Method, e.ClientID = "bearer", "client-1"
		}
		require.NoError(t, s.AppendAudit(ctx, tn, e))
		all = append(all, e)
		if keyID == keyA {
			ofA = append(ofA, e)
		}
	}
	got, next, err := s.AuditEvents(ctx, tn, nil, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Equal(t, all, got, "every field round-trips, oldest first")
	assert.Equal(t, uuid.Nil, next)

	got, _, err = s.AuditEvents(ctx, tn, &keyA, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Equal(t, ofA, got, "only the key's events")

	var paged []*kms.AuditEvent
	page := kms.Page{Size: 2}
	for {
		es, next, err := s.AuditEvents(ctx, tn, nil, page)
		require.NoError(t, err)
		paged = append(paged, es...)
		if next == uuid.Nil {
			break
		}
		page.After = next
	}
	assert.Equal(t, all, paged)
}

func testAuditBatch(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn, other := tenant(t, s), tenant(t, s)
	var batch []*kms.AuditEvent
	for range 3 {
		batch = append(batch, auditEvent(tn, "", "encrypt"))
	}
	require.NoError(t, s.AppendAudit(ctx, tn, batch...))
	require.NoError(t, s.AppendAudit(ctx, tn), "an empty batch writes nothing")
	got, _, err := s.AuditEvents(ctx, tn, nil, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Equal(t, batch, got, "one call stores every event")

	// More events than one statement takes are still all stored.
	var big []*kms.AuditEvent
	for range kms.MaxAuditBatch + 2 {
		big = append(big, auditEvent(other, "", "sign"))
	}
	require.NoError(t, s.AppendAudit(ctx, other, big...))
	got, _, err = s.AuditEvents(ctx, other, nil, kms.Page{Size: len(big) + 1})
	require.NoError(t, err)
	assert.Len(t, got, len(big))

	// An event of another tenant refuses the whole batch.
	mixed := []*kms.AuditEvent{auditEvent(tn, "", "decrypt"), auditEvent(other, "", "decrypt")}
	requireCode(t, s.AppendAudit(ctx, tn, mixed...), kms.InvalidRequest)
	got, _, err = s.AuditEvents(ctx, tn, nil, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Len(t, got, len(batch), "nothing of the refused batch is stored")
}

// testKeyGeneration: every committed key or version change increases the
// tenant's generation; reads, refused changes and other tenants' changes
// do not.
func testKeyGeneration(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn, other := tenant(t, s), tenant(t, s)
	gen := func() int64 {
		t.Helper()
		g, err := s.KeyGeneration(ctx, tn)
		require.NoError(t, err)
		return g
	}
	last := gen()
	changed := func(desc string) {
		t.Helper()
		g := gen()
		assert.Greater(t, g, last, desc)
		last = g
	}
	unchanged := func(desc string) {
		t.Helper()
		assert.Equal(t, last, gen(), desc)
	}

	k, v1 := createKey(t, s, tn, keycrypto.A256GCM, factory.Name("key"))
	changed("create key")
	_, _, err := s.KeyWithPrimary(ctx, tn, k.ID)
	require.NoError(t, err)
	unchanged("a read")
	createKey(t, s, other, keycrypto.A256GCM, factory.Name("key"))
	unchanged("another tenant's key")

	_, err = s.UpdateKey(ctx, tn, k.ID, func(k *kms.ElasticKey) error { k.Status = kms.StatusDisabled; return nil })
	require.NoError(t, err)
	changed("update key")
	refused := errors.New("refused")
	_, err = s.UpdateKey(ctx, tn, k.ID, func(*kms.ElasticKey) error { return refused })
	require.ErrorIs(t, err, refused)
	unchanged("a refused update")

	v2 := addVersion(t, s, tn, k.ID)
	changed("add version")
	_, err = s.UpdateVersion(ctx, tn, k.ID, v1.ID, func(_ *kms.ElasticKey, v *kms.MaterialKey) error {
		v.Status = kms.StatusDisabled
		return nil
	})
	require.NoError(t, err)
	changed("update version")
	_, err = s.UpdateVersion(ctx, tn, k.ID, v2.ID, func(*kms.ElasticKey, *kms.MaterialKey) error { return refused })
	require.ErrorIs(t, err, refused)
	unchanged("a refused version update")

	_, err = s.KeyGeneration(ctx, factory.TenantID())
	requireCode(t, err, kms.NotFound)
}

func testTenantIsolation(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	a, b := tenant(t, s), tenant(t, s)
	name := factory.Name("key")
	k, v := createKey(t, s, a, keycrypto.A256GCM, name)
	require.NoError(t, s.AppendAudit(ctx, a, auditEvent(a, k.ID.String(), "create_key")))

	_, err := s.Key(ctx, b, k.ID)
	requireCode(t, err, kms.NotFound)
	_, err = s.Version(ctx, b, k.ID, v.ID)
	requireCode(t, err, kms.NotFound)
	_, _, err = s.KeyWithPrimary(ctx, b, k.ID)
	requireCode(t, err, kms.NotFound)
	_, err = s.UpdateKey(ctx, b, k.ID, func(*kms.ElasticKey) error { return nil })
	requireCode(t, err, kms.NotFound)
	_, err = s.AddVersion(ctx, b, k.ID, func(*kms.ElasticKey) error { return nil }, newVersion(k.ID))
	requireCode(t, err, kms.NotFound)
	_, err = s.UpdateVersion(ctx, b, k.ID, v.ID, func(*kms.ElasticKey, *kms.MaterialKey) error { return nil })
	requireCode(t, err, kms.NotFound)
	keys, _, err := s.Keys(ctx, b, kms.KeyFilter{}, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Empty(t, keys)
	vs, _, err := s.Versions(ctx, b, k.ID, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Empty(t, vs)
	events, _, err := s.AuditEvents(ctx, b, nil, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Empty(t, events)

	// Names are unique per tenant, not across tenants.
	createKey(t, s, b, keycrypto.A256GCM, name)
	// Deleting one tenant leaves the other's keys alone.
	require.NoError(t, s.DeleteTenant(ctx, b))
	got, err := s.Key(ctx, a, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k.ID, got.ID)
}

func testUnknownTenant(t *testing.T, s kms.KeyStore) {
	ctx := t.Context()
	tn, id := factory.TenantID(), ids.NewEntity()
	k := newKey(tn, keycrypto.A256GCM, factory.Name("key"))
	requireCode(t, s.CreateKey(ctx, tn, k, newVersion(k.ID)), kms.NotFound)
	_, err := s.Key(ctx, tn, id)
	requireCode(t, err, kms.NotFound)
	_, _, err = s.Keys(ctx, tn, kms.KeyFilter{}, kms.Page{Size: 1})
	requireCode(t, err, kms.NotFound)
	requireCode(t, s.AppendAudit(ctx, tn, auditEvent(tn, "", "x")), kms.NotFound)
	_, _, err = s.AuditEvents(ctx, tn, nil, kms.Page{Size: 1})
	requireCode(t, err, kms.NotFound)
}
