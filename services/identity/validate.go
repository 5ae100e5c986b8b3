package identity

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of ValidateName and ValidateText, in bytes.
const (
	MaxNameBytes = 255
	MaxTextBytes = 64 << 10
)

// ValidateName checks a name (of a client, user...) before it is stored:
// non-empty, at most MaxNameBytes bytes, valid UTF-8, no control characters.
// Names are compared, indexed and printed in logs, so invisible characters
// and line breaks have no place in them. The error wraps ErrInvalid and its
// text is shown to API clients.
func ValidateName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: name must not be empty", ErrInvalid)
	case len(s) > MaxNameBytes:
		return fmt.Errorf("%w: name is %d bytes, at most %d allowed", ErrInvalid, len(s), MaxNameBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: name is not valid UTF-8", ErrInvalid)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: name contains a control character", ErrInvalid)
	}
	return nil
}

// ValidateText checks free text (a display name, an email...) before it is
// stored: valid UTF-8, no NUL byte, at most MaxTextBytes bytes. PostgreSQL
// refuses NUL in text columns while SQLite stores it; refusing it everywhere
// keeps both backends accepting exactly the same data.
func ValidateText(s string) error {
	switch {
	case len(s) > MaxTextBytes:
		return fmt.Errorf("%w: text is %d bytes, at most %d allowed", ErrInvalid, len(s), MaxTextBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: text contains a NUL byte", ErrInvalid)
	}
	return nil
}
