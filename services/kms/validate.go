package kms

import (
	"fmt"
	"unicode/utf8"

	"github.com/passthru-dev/passthru/services/infra/text"
)

// Limits of names and descriptions. MaxName counts characters (Unicode code
// points), as the API's maxLength does and PostgreSQL's varchar(255) does;
// MaxNameBytes, four bytes for each, follows from it. MaxDescription counts
// bytes.
const (
	MaxName        = 255
	MaxNameBytes   = 4 * MaxName
	MaxDescription = 4096
)

// ValidateName checks the name of a tenant or key (what says which) before it
// is stored: non-empty, at most MaxName characters, valid UTF-8, no control
// characters. Names are compared, indexed and printed in logs, so invisible
// characters and line breaks have no place in them. The answer is an
// invalid_request error whose cause says what is wrong.
func ValidateName(what, s string) error {
	if problem := CheckName(s); problem != nil {
		return Wrap(problem, InvalidRequest, "invalid %s name", what)
	}
	return nil
}

// CheckName applies ValidateName's rules (text.Name with MaxNameBytes, then
// at most MaxName characters) and says what is wrong in a plain error (nil
// when nothing is), for callers that answer with their own error type, such
// as realm users.
func CheckName(s string) error {
	if err := text.Name(s, MaxNameBytes); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(s); n > MaxName {
		return fmt.Errorf("name is %d characters, at most %d allowed", n, MaxName)
	}
	return nil
}

// ValidText reports whether s is text every backend stores as given (see
// text.Text). Callers check the length they allow themselves.
func ValidText(s string) bool { return text.Text(s, len(s)) == nil }

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
