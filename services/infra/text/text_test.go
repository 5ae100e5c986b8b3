package text_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/passthru-dev/passthru/services/infra/text"
)

func TestName(t *testing.T) {
	for _, tc := range []struct {
		desc, s, want string
	}{
		{desc: "ordinary", s: "key-1 é"},
		{desc: "empty", s: "", want: "name must not be empty"},
		{desc: "too long", s: "abcdefghijk", want: "name is 11 bytes, at most 10 allowed"},
		{desc: "not UTF-8", s: "a\xff", want: "name is not valid UTF-8"},
		{desc: "line break", s: "a\nb", want: "name contains a control character"},
		{desc: "NUL", s: "a\x00", want: "name contains a control character"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := text.Name(tc.s, 10)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		desc, s, want string
	}{
		{desc: "ordinary, line breaks allowed", s: "two\nlines"},
		{desc: "empty", s: ""},
		{desc: "too long", s: "abcdefghijk", want: "text is 11 bytes, at most 10 allowed"},
		{desc: "not UTF-8", s: "a\xff", want: "text is not valid UTF-8"},
		{desc: "NUL", s: "a\x00b", want: "text contains a NUL byte"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := text.Text(tc.s, 10)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}
