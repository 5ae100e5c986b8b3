package httpapi

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidStdBase64(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "aGk=", "aGVsbG8=", "aGVsbG8gd29ybGQ=", "+/+/", "YQ==", base64.StdEncoding.EncodeToString(make([]byte, 1024))} {
		assert.NoError(t, validStdBase64(s), "%q", s)
		_, err := base64.StdEncoding.DecodeString(s)
		assert.NoError(t, err, "the handlers' decoder must accept %q too", s)
	}
	for _, s := range []string{
		"aGk",        // unpadded
		"-_-_",       // base64url alphabet
		"YQ",         // unpadded short
		"Y===",       // three pad characters
		"=YQ=",       // padding not at the end
		"aGVs\nbG8=", // line breaks
		"aGVsbG8 ",   // space
		"aGVsbG8\x00",
	} {
		assert.ErrorIs(t, validStdBase64(s), errNotStdBase64, "%q", s)
	}
}

func BenchmarkValidStdBase64(b *testing.B) {
	s := base64.StdEncoding.EncodeToString(make([]byte, 1024))
	b.ReportAllocs()
	for b.Loop() {
		if err := validStdBase64(s); err != nil {
			b.Fatal(err)
		}
	}
}
