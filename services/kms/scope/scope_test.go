package scope

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
