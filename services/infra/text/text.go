// Package text holds the rules every stored name and free text follows,
// whatever it names: the services' domain validators (a key name, a client
// id, a username) and the migration bookkeeping apply them with their own
// limits and their own error types.
package text

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name says what is wrong with a name (nil when nothing is): it must be
// non-empty, at most max bytes, valid UTF-8 and free of control characters.
// Names are compared, indexed and printed in logs, so invisible characters
// and line breaks have no place in them. The message is fit for API clients.
func Name(s string, max int) error {
	switch {
	case s == "":
		return errors.New("name must not be empty")
	case len(s) > max:
		return fmt.Errorf("name is %d bytes, at most %d allowed", len(s), max)
	case !utf8.ValidString(s):
		return errors.New("name is not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("name contains a control character")
	}
	return nil
}

// Text says what is wrong with free text (nil when nothing is): at most max
// bytes, valid UTF-8, no NUL byte. PostgreSQL refuses NUL in text columns
// while SQLite stores it; refusing it everywhere keeps both backends
// accepting exactly the same data.
func Text(s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("text is %d bytes, at most %d allowed", len(s), max)
	case !utf8.ValidString(s):
		return errors.New("text is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("text contains a NUL byte")
	}
	return nil
}
