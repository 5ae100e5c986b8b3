package scope

import (
	"strings"
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
		{desc: "admin implies write", granted: Admin, required: Write, want: true},
		{desc: "admin implies read through write", granted: Admin, required: Read, want: true},
		{desc: "admin implies fine audit scope", granted: Admin, required: AuditRead, want: true},
		{desc: "admin implies users admin", granted: Admin, required: UsersAdmin, want: true},
		{desc: "write implies encrypt", granted: Write, required: Encrypt, want: true},
		{desc: "write implies keys read through read", granted: Write, required: KeysRead, want: true},
		{desc: "write does not imply audit", granted: Write, required: AuditRead, want: false},
		{desc: "write does not imply admin", granted: Write, required: Admin, want: false},
		{desc: "read implies verify", granted: Read, required: Verify, want: true},
		{desc: "read does not imply decrypt", granted: Read, required: Decrypt, want: false},
		{desc: "read does not imply keys write", granted: Read, required: KeysWrite, want: false},
		{desc: "fine scope implies itself", granted: Sign, required: Sign, want: true},
		{desc: "fine scope implies nothing coarse", granted: Sign, required: Write, want: false},
		{desc: "unknown scope implies only itself", granted: "other:thing", required: Read, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, Implies(tc.granted, tc.required))
		})
	}
}

func TestExpandKeepsUnknownAndSorts(t *testing.T) {
	got := Expand([]string{"zzz:other", Read})
	assert.Equal(t, []string{KeysRead, Read, Verify, "zzz:other"}, got)
	assert.True(t, IsKnown(MAC))
	assert.False(t, IsKnown("kms:nope"))
	assert.Len(t, Known(), 13)
}

func TestParse(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		want    []string
		wantErr bool
	}{
		{desc: "empty is no scope", in: "", want: nil},
		{desc: "one kms scope", in: "kms:encrypt", want: []string{"kms:encrypt"}},
		{desc: "several, other services kept", in: "openid kms:read kms:keys:read", want: []string{"openid", "kms:read", "kms:keys:read"}},
		{desc: "double space", in: "kms:read  kms:write", wantErr: true},
		{desc: "leading space", in: " kms:read", wantErr: true},
		{desc: "tab separator", in: "kms:read\tkms:write", wantErr: true},
		{desc: "control character", in: "kms:read\x00", wantErr: true},
		{desc: "quote", in: `kms:"read"`, wantErr: true},
		{desc: "backslash", in: `other\scope`, wantErr: true},
		{desc: "non-ASCII", in: "kms:lécture", wantErr: true},
		{desc: "kms scope with empty segment", in: "kms::read", wantErr: true},
		{desc: "kms scope with trailing colon", in: "kms:read:", wantErr: true},
		{desc: "kms scope with three segments", in: "kms:a:b:c", wantErr: true},
		{desc: "kms scope upper case", in: "kms:Read", wantErr: true},
		{desc: "bare kms prefix", in: "kms:", wantErr: true},
		{desc: "too long", in: "x" + strings.Repeat("y", 128), wantErr: true},
		{desc: "too many", in: strings.TrimSpace(strings.Repeat("a ", MaxScopes+1)), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestConfiguredHierarchy(t *testing.T) {
	h, err := NewHierarchy(map[string][]string{
		Admin:          {Write, AuditRead, UsersAdmin},
		Write:          {Read, KeysWrite},
		Read:           {KeysRead},
		"kms:crypto":   {Encrypt, Decrypt},
		"kms:everyone": {"kms:crypto", Read},
	})
	require.NoError(t, err)
	assert.True(t, h.Implies("kms:everyone", Decrypt))
	assert.True(t, h.Implies("kms:everyone", KeysRead))
	assert.False(t, h.Implies(Write, Encrypt), "the configured table replaces the defaults")
	assert.Equal(t, []string{"kms:crypto", Decrypt, Encrypt, "other"}, h.Expand([]string{"kms:crypto", "other"}))
	assert.True(t, h.IsKnown("kms:crypto"))
	assert.True(t, h.IsKnown(Encrypt))
	assert.False(t, h.IsKnown("other"))
	assert.Contains(t, h.Known(), "kms:everyone")
	assert.Len(t, Default().Known(), len(Known()))

	bad := []struct {
		desc string
		impl map[string][]string
	}{
		{desc: "cycle", impl: map[string][]string{"kms:a": {"kms:b"}, "kms:b": {"kms:a"}}},
		{desc: "fine scope grants", impl: map[string][]string{Encrypt: {Decrypt}}},
		{desc: "unknown granted scope", impl: map[string][]string{Admin: {"kms:nothing"}}},
		{desc: "malformed name", impl: map[string][]string{"kms:Bad": {Read}}},
		{desc: "malformed granted", impl: map[string][]string{Admin: {"read"}}},
	}
	for _, tc := range bad {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewHierarchy(tc.impl)
			require.ErrorIs(t, err, ErrHierarchy)
		})
	}
}

func BenchmarkExpandOneCoarse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Expand([]string{Write})
	}
}

func BenchmarkExpandRole(b *testing.B) {
	writer := Expand([]string{Write}) // a role's scopes, already closed
	b.ReportAllocs()
	for b.Loop() {
		_ = Expand(writer)
	}
}
