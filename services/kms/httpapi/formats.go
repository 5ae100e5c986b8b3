package httpapi

import (
	"errors"

	"github.com/getkin/kin-openapi/openapi3"
)

// formatValidators are this API's checks of string formats, used instead of
// the validator library's regular expressions. They are exactly what the
// handlers accept, so a value that passes validation also binds.
func formatValidators() map[string]openapi3.StringFormatValidator {
	return map[string]openapi3.StringFormatValidator{
		"byte": openapi3.NewCallbackValidator(validStdBase64),
	}
}

var errNotStdBase64 = errors.New("not standard base64 with padding (RFC 4648 §4)")

// validStdBase64 accepts what encoding/base64.StdEncoding decodes, the
// encoding the request types bind with: the standard alphabet, padded to a
// multiple of four. Base64url or unpadded input is refused here, naming the
// field, rather than failing later as a body that does not bind. A single
// pass over the bytes, no allocation.
func validStdBase64(s string) error {
	if len(s)%4 != 0 {
		return errNotStdBase64
	}
	n := len(s)
	// Up to two '=' pad the last quantum.
	for pad := 0; pad < 2 && n > 0 && s[n-1] == '='; pad++ {
		n--
	}
	for i := range n {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		default:
			return errNotStdBase64
		}
	}
	return nil
}
