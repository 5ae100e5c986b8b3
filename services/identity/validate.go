package identity

import (
	"fmt"

	"github.com/passthru-dev/passthru/services/infra/text"
)

// Limits of ValidateName and ValidateText, in bytes.
const (
	MaxNameBytes = 255
	MaxTextBytes = 64 << 10
)

// ValidateName checks a name (of a client, user...) before it is stored,
// with text.Name's rules and MaxNameBytes. The error wraps ErrInvalid and
// its text is shown to API clients.
func ValidateName(s string) error {
	if err := text.Name(s, MaxNameBytes); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// ValidateText checks free text (a display name, an email...) before it is
// stored, with text.Text's rules and MaxTextBytes.
func ValidateText(s string) error {
	if err := text.Text(s, MaxTextBytes); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
