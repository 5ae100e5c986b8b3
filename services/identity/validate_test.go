package identity_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		wantErr string
	}{
		{desc: "ascii name", in: "demo-aes256-gcm"},
		{desc: "unicode name", in: "clé-données-ключ"},
		{desc: "exactly 255 bytes", in: strings.Repeat("a", 255)},
		{desc: "empty", in: "", wantErr: "must not be empty"},
		{desc: "256 bytes", in: strings.Repeat("a", 256), wantErr: "at most 255"},
		{desc: "invalid utf-8", in: "a\xffb", wantErr: "not valid UTF-8"},
		{desc: "NUL byte", in: "a\x00b", wantErr: "control character"},
		{desc: "newline", in: "a\nb", wantErr: "control character"},
		{desc: "DEL", in: "a\x7fb", wantErr: "control character"},
		{desc: "C1 control", in: "a\u0085b", wantErr: "control character"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := identity.ValidateName(tc.in)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, identity.ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestValidateText(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		wantErr string
	}{
		{desc: "empty text is allowed", in: ""},
		{desc: "multi-line text with tabs", in: "line one\n\tline two\r\n"},
		{desc: "exactly 64 KiB", in: strings.Repeat("x", 64<<10)},
		{desc: "one byte over 64 KiB", in: strings.Repeat("x", 64<<10+1), wantErr: "at most 65536"},
		{desc: "invalid utf-8", in: "\xc3\x28", wantErr: "not valid UTF-8"},
		{desc: "NUL byte, which PostgreSQL refuses", in: "a\x00b", wantErr: "NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := identity.ValidateText(tc.in)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, identity.ErrInvalid)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
