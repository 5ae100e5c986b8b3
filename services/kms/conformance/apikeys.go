package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// APIKeyStore is what the API key contract needs of a store: tenants to
// own the keys, the keys, and the shared secret their MAC key is kept in.
type APIKeyStore interface {
	kms.TenantStore
	kms.APIKeyStore
	kms.SecretStore
}

// NewAPIKeyStore returns a fresh, empty store; it registers its own cleanup.
type NewAPIKeyStore func(t *testing.T) APIKeyStore

// RunAPIKeys runs the contract of kms.APIKeyStore and kms.SecretStore,
// each subtest on a store of its own.
func RunAPIKeys(t *testing.T, newStore NewAPIKeyStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s APIKeyStore)
	}{
		{"CreateAndGet", testAPIKeyCreateAndGet},
		{"List", testAPIKeyList},
		{"Revoke", testAPIKeyRevoke},
		{"TenantIsolation", testAPIKeyTenantIsolation},
		{"DeleteTenant", testAPIKeyDeleteTenant},
		{"StoreSecretOnce", testStoreSecretOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

func apiKeyTenant(t *testing.T, s kms.TenantStore) uuid.UUID {
	t.Helper()
	tn := &kms.Tenant{ID: factory.TenantID(), Name: factory.Name("tenant"), CreatedAt: now}
	require.NoError(t, s.CreateTenant(t.Context(), tn))
	return tn.ID
}

func newAPIKey(tenant uuid.UUID) *kms.APIKey {
	exp := now.Add(time.Hour)
	return &kms.APIKey{
		ID: ids.NewEntity(), TenantID: tenant, Name: factory.Name("api key"), Scopes: []string{"kms:read", "kms:encrypt"},
		Hash: []byte("0123456789abcdef0123456789abcdef"), CreatedBy: "alice", CreatedAt: now, ExpiresAt: &exp,
	}
}

func testAPIKeyCreateAndGet(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn := apiKeyTenant(t, s)
	k := newAPIKey(tn)
	require.NoError(t, s.CreateAPIKey(ctx, k))
	got, err := s.APIKey(ctx, tn, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k, got, "every field round-trips")
	got, err = s.LookupAPIKey(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k, got, "found by id alone, with its tenant")

	never := newAPIKey(tn)
	never.ExpiresAt = nil
	require.NoError(t, s.CreateAPIKey(ctx, never))
	got, err = s.APIKey(ctx, tn, never.ID)
	require.NoError(t, err)
	assert.Nil(t, got.ExpiresAt)
	assert.Nil(t, got.RevokedAt)

	_, err = s.APIKey(ctx, tn, ids.NewEntity())
	requireCode(t, err, kms.NotFound)
	_, err = s.LookupAPIKey(ctx, ids.NewEntity())
	requireCode(t, err, kms.NotFound)
	requireCode(t, s.CreateAPIKey(ctx, newAPIKey(factory.TenantID())), kms.NotFound)
}

func testAPIKeyList(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn := apiKeyTenant(t, s)
	var all []*kms.APIKey
	for range 5 {
		k := newAPIKey(tn)
		require.NoError(t, s.CreateAPIKey(ctx, k))
		all = append(all, k)
	}
	var paged []*kms.APIKey
	page := kms.Page{Size: 2}
	for {
		ks, next, err := s.APIKeys(ctx, tn, page)
		require.NoError(t, err)
		paged = append(paged, ks...)
		if next == uuid.Nil {
			break
		}
		page.After = next
	}
	assert.Equal(t, all, paged, "creation order, every key once")
}

func testAPIKeyRevoke(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn := apiKeyTenant(t, s)
	k := newAPIKey(tn)
	require.NoError(t, s.CreateAPIKey(ctx, k))
	first := now.Add(time.Minute)
	got, err := s.RevokeAPIKey(ctx, tn, k.ID, first)
	require.NoError(t, err)
	require.NotNil(t, got.RevokedAt)
	assert.True(t, first.Equal(*got.RevokedAt))
	got, err = s.RevokeAPIKey(ctx, tn, k.ID, first.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, first.Equal(*got.RevokedAt), "the first revocation time stays")
	listed, _, err := s.APIKeys(ctx, tn, kms.Page{Size: 10})
	require.NoError(t, err)
	require.Len(t, listed, 1, "a revoked key stays listed")
	assert.NotNil(t, listed[0].RevokedAt)
	_, err = s.RevokeAPIKey(ctx, tn, ids.NewEntity(), first)
	requireCode(t, err, kms.NotFound)
}

func testAPIKeyTenantIsolation(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	a, b := apiKeyTenant(t, s), apiKeyTenant(t, s)
	k := newAPIKey(a)
	require.NoError(t, s.CreateAPIKey(ctx, k))
	_, err := s.APIKey(ctx, b, k.ID)
	requireCode(t, err, kms.NotFound)
	_, err = s.APIKey(ctx, uuid.Nil, k.ID)
	requireCode(t, err, kms.NotFound)
	_, err = s.RevokeAPIKey(ctx, b, k.ID, now)
	requireCode(t, err, kms.NotFound)
	_, err = s.RevokeAPIKey(ctx, uuid.Nil, k.ID, now)
	requireCode(t, err, kms.NotFound)
	listed, _, err := s.APIKeys(ctx, b, kms.Page{Size: 10})
	require.NoError(t, err)
	assert.Empty(t, listed)
	got, err := s.APIKey(ctx, a, k.ID)
	require.NoError(t, err)
	assert.Nil(t, got.RevokedAt, "another tenant's revocation changed nothing")
}

func testAPIKeyDeleteTenant(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	a, b := apiKeyTenant(t, s), apiKeyTenant(t, s)
	ka, kb := newAPIKey(a), newAPIKey(b)
	require.NoError(t, s.CreateAPIKey(ctx, ka))
	require.NoError(t, s.CreateAPIKey(ctx, kb))
	require.NoError(t, s.DeleteTenant(ctx, a))
	_, err := s.LookupAPIKey(ctx, ka.ID)
	requireCode(t, err, kms.NotFound)
	_, err = s.LookupAPIKey(ctx, kb.ID)
	require.NoError(t, err, "the other tenant's keys stay")
}

func testStoreSecretOnce(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	name := factory.Name("secret")
	// Every concurrent caller gets the bytes of the one insert that won.
	var wg sync.WaitGroup
	got := make([][]byte, 4)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() {
			got[i], errs[i] = s.StoreSecretOnce(ctx, name, []byte{byte('a' + i)})
		})
	}
	wg.Wait()
	for i := range got {
		require.NoError(t, errs[i])
		assert.Equal(t, got[0], got[i])
	}
	again, err := s.StoreSecretOnce(ctx, name, []byte("late"))
	require.NoError(t, err)
	assert.Equal(t, got[0], again)
	other, err := s.StoreSecretOnce(ctx, name+"-2", []byte("other"))
	require.NoError(t, err)
	assert.Equal(t, []byte("other"), other)
}
