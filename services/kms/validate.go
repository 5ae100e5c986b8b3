package kms

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of names and descriptions, in bytes.
const (
	MaxName        = 255
	MaxDescription = 4096
)

// ValidateName checks the name of a tenant or key (what says which) before it
// is stored: non-empty, at most MaxName bytes, valid UTF-8, no control
// characters. Names are compared, indexed and printed in logs, so invisible
// characters and line breaks have no place in them. The answer is an
// invalid_request error whose cause says what is wrong.
func ValidateName(what, s string) error {
	if problem := CheckName(s); problem != nil {
		return Wrap(problem, InvalidRequest, "invalid %s name", what)
	}
	return nil
}

// CheckName applies ValidateName's rules and says what is wrong in a plain
// error (nil when nothing is), for callers that answer with their own error
// type, such as realm users.
func CheckName(s string) error {
	switch {
	case s == "":
		return errors.New("name must not be empty")
	case len(s) > MaxName:
		return fmt.Errorf("name is %d bytes, at most %d allowed", len(s), MaxName)
	case !utf8.ValidString(s):
		return errors.New("name is not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("name contains a control character")
	}
	return nil
}

// ValidText reports whether s is text every backend stores as given: valid
// UTF-8 without NUL (PostgreSQL refuses NUL in text columns while SQLite
// stores it). Callers check the length they allow themselves.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// ValidateDescription checks a key description: valid UTF-8 of at most
// MaxDescription bytes without NUL. PostgreSQL refuses NUL in text columns
// while SQLite stores it; refusing it on both keeps the backends accepting
// exactly the same data.
func ValidateDescription(d string) error {
	if len(d) > MaxDescription || !ValidText(d) {
		return New(InvalidRequest, "description must be valid UTF-8 of at most %d bytes", MaxDescription)
	}
	return nil
}
