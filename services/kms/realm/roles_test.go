package realm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/scope"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		desc    string
		roles   []Role
		wantErr string
	}{
		{desc: "defaults are valid", roles: DefaultRoles()},
		{desc: "missing name", roles: []Role{{Scopes: []string{scope.Read}}}, wantErr: "has no name"},
		{desc: "duplicate name", roles: []Role{{Name: "a"}, {Name: "a"}}, wantErr: "declared twice"},
		{desc: "unknown parent", roles: []Role{{Name: "a", Inherits: []string{"b"}}}, wantErr: "unknown role"},
		{desc: "self cycle", roles: []Role{{Name: "a", Inherits: []string{"a"}}}, wantErr: "cycle"},
		{desc: "long cycle", roles: []Role{{Name: "a", Inherits: []string{"b"}}, {Name: "b", Inherits: []string{"c"}}, {Name: "c", Inherits: []string{"a"}}}, wantErr: "cycle"},
		{desc: "diamond is fine", roles: []Role{{Name: "top", Inherits: []string{"l", "r"}}, {Name: "l", Inherits: []string{"base"}}, {Name: "r", Inherits: []string{"base"}}, {Name: "base", Scopes: []string{scope.Read}}}},
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
	assert.Contains(t, r.Scopes([]string{"admin"}), scope.Verify, "admin inherits reader's scopes")
	assert.NotContains(t, r.Scopes([]string{"reader"}), scope.Encrypt)
	assert.Empty(t, r.Scopes([]string{"ghost"}))
	require.NoError(t, r.Check([]string{"reader", "writer"}))
	require.ErrorIs(t, r.Check([]string{"ghost"}), ErrInvalidUser)
}

func TestRolesFollowTheConfiguredHierarchy(t *testing.T) {
	h, err := scope.NewHierarchy(map[string][]string{scope.Write: {scope.Encrypt}})
	require.NoError(t, err)
	r, err := NewRolesIn(h, []Role{{Name: "enc", Scopes: []string{scope.Write}}})
	require.NoError(t, err)
	assert.Equal(t, []string{scope.Encrypt, scope.Write}, r.Scopes([]string{"enc"}))
	assert.Same(t, h, r.Hierarchy())
}
