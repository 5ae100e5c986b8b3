package kms

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		ok   bool
	}{
		{desc: "plain", in: "payments-key", ok: true},
		{desc: "unicode", in: "clé-été", ok: true},
		{desc: "longest", in: strings.Repeat("a", MaxName), ok: true},
		{desc: "empty", in: ""},
		{desc: "too long", in: strings.Repeat("a", MaxName+1)},
		{desc: "invalid utf-8", in: "a\xffb"},
		{desc: "newline", in: "a\nb"},
		{desc: "NUL", in: "a\x00b"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := ValidateName("key", tc.in)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, InvalidRequest, CodeOf(err))
			var e *Error
			assert.ErrorAs(t, err, &e)
			assert.Equal(t, "invalid key name", e.Message, "the safe message names the field, not the input")
		})
	}
}

func TestValidateDescription(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		ok   bool
	}{
		{desc: "empty", in: "", ok: true},
		{desc: "newlines allowed", in: "line one\nline two", ok: true},
		{desc: "longest", in: strings.Repeat("d", MaxDescription), ok: true},
		{desc: "too long", in: strings.Repeat("d", MaxDescription+1)},
		{desc: "NUL", in: "a\x00b"},
		{desc: "invalid utf-8", in: "\xc3"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := ValidateDescription(tc.in)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, InvalidRequest, CodeOf(err))
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		desc    string
		in      string
		wantErr string
	}{
		{desc: "plain", in: "payments-key"},
		{desc: "empty", in: "", wantErr: "name must not be empty"},
		{desc: "too long", in: strings.Repeat("a", MaxName+1), wantErr: "name is 256 characters, at most 255 allowed"},
		{desc: "longest in multibyte characters", in: strings.Repeat("😀", MaxName)},
		{desc: "too long in multibyte characters", in: strings.Repeat("é", MaxName+1), wantErr: "name is 256 characters, at most 255 allowed"},
		{desc: "invalid utf-8", in: "a\xffb", wantErr: "name is not valid UTF-8"},
		{desc: "C1 control", in: "a\u0085b", wantErr: "name contains a control character"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := CheckName(tc.in)
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.wantErr)
			assert.Equal(t, tc.wantErr, errors.Unwrap(ValidateName("key", tc.in)).Error(), "ValidateName's cause is CheckName's answer")
		})
	}
}

func TestValidText(t *testing.T) {
	tests := []struct {
		desc string
		in   string
		want bool
	}{
		{desc: "empty", in: "", want: true},
		{desc: "lines and tabs", in: "one\n\ttwo", want: true},
		{desc: "NUL", in: "a\x00b"},
		{desc: "invalid utf-8", in: "\xc3\x28"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, ValidText(tc.in))
		})
	}
}
