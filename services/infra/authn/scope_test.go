package authn

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImplies(t *testing.T) {
	tests := []struct {
		desc     string
		granted  string
		required string
		want     bool
	}{
		{desc: "admin implies write", granted: ScopeAdmin, required: ScopeWrite, want: true},
		{desc: "admin implies read through write", granted: ScopeAdmin, required: ScopeRead, want: true},
		{desc: "admin implies fine audit scope", granted: ScopeAdmin, required: ScopeAuditRead, want: true},
		{desc: "admin implies users admin", granted: ScopeAdmin, required: ScopeUsersAdmin, want: true},
		{desc: "write implies encrypt", granted: ScopeWrite, required: ScopeEncrypt, want: true},
		{desc: "write implies keys read through read", granted: ScopeWrite, required: ScopeKeysRead, want: true},
		{desc: "write does not imply audit", granted: ScopeWrite, required: ScopeAuditRead, want: false},
		{desc: "write does not imply admin", granted: ScopeWrite, required: ScopeAdmin, want: false},
		{desc: "read implies verify", granted: ScopeRead, required: ScopeVerify, want: true},
		{desc: "read does not imply decrypt", granted: ScopeRead, required: ScopeDecrypt, want: false},
		{desc: "read does not imply keys write", granted: ScopeRead, required: ScopeKeysWrite, want: false},
		{desc: "fine scope implies itself", granted: ScopeSign, required: ScopeSign, want: true},
		{desc: "fine scope implies nothing coarse", granted: ScopeSign, required: ScopeWrite, want: false},
		{desc: "unknown scope implies only itself", granted: "other:thing", required: ScopeRead, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, Implies(tc.granted, tc.required))
		})
	}
}

func TestExpandKeepsUnknownAndSorts(t *testing.T) {
	got := Expand([]string{"zzz:other", ScopeRead})
	assert.Equal(t, []string{ScopeKeysRead, ScopeRead, ScopeVerify, "zzz:other"}, got)
	assert.True(t, IsKnownScope(ScopeMAC))
	assert.False(t, IsKnownScope("kms:nope"))
	assert.Len(t, KnownScopes(), 13)
}

func TestCheckScope(t *testing.T) {
	ctx := context.Background()
	require.ErrorIs(t, CheckScope(ctx, ScopeRead), ErrNoCredentials)
	p := &Principal{Subject: "u", Scopes: Expand([]string{ScopeRead})}
	ctx = WithPrincipal(ctx, p)
	require.NoError(t, CheckScope(ctx, ScopeKeysRead))
	err := CheckScope(ctx, ScopeEncrypt)
	require.ErrorIs(t, err, ErrForbidden)
	assert.Contains(t, err.Error(), ScopeEncrypt)
	got, ok := PrincipalFrom(ctx)
	require.True(t, ok)
	assert.Same(t, p, got)
	var nilP *Principal
	assert.False(t, nilP.HasScope(ScopeRead))
}

func TestRoles(t *testing.T) {
	tests := []struct {
		desc    string
		roles   []Role
		wantErr string
	}{
		{desc: "defaults are valid", roles: DefaultRoles()},
		{desc: "missing name", roles: []Role{{Scopes: []string{ScopeRead}}}, wantErr: "has no name"},
		{desc: "duplicate name", roles: []Role{{Name: "a"}, {Name: "a"}}, wantErr: "declared twice"},
		{desc: "unknown parent", roles: []Role{{Name: "a", Inherits: []string{"b"}}}, wantErr: "unknown role"},
		{desc: "self cycle", roles: []Role{{Name: "a", Inherits: []string{"a"}}}, wantErr: "cycle"},
		{desc: "long cycle", roles: []Role{{Name: "a", Inherits: []string{"b"}}, {Name: "b", Inherits: []string{"c"}}, {Name: "c", Inherits: []string{"a"}}}, wantErr: "cycle"},
		{desc: "diamond is fine", roles: []Role{{Name: "top", Inherits: []string{"l", "r"}}, {Name: "l", Inherits: []string{"base"}}, {Name: "r", Inherits: []string{"base"}}, {Name: "base", Scopes: []string{ScopeRead}}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewRoles(tc.roles)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidRealm)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	r, err := NewRoles(DefaultRoles())
	require.NoError(t, err)
	assert.Equal(t, []string{"admin", "reader", "writer"}, r.Names())
	assert.Contains(t, r.Scopes([]string{"admin"}), ScopeVerify, "admin inherits reader's scopes")
	assert.NotContains(t, r.Scopes([]string{"reader"}), ScopeEncrypt)
	assert.Empty(t, r.Scopes([]string{"ghost"}))
	require.NoError(t, r.Check([]string{"reader", "writer"}))
	require.ErrorIs(t, r.Check([]string{"ghost"}), ErrInvalidUser)
}
