package credential

import "errors"

// ErrControlByte is returned by ValidateSecret.
var ErrControlByte = errors.New("a secret must not contain control characters")

// ValidateSecret refuses a secret holding a control byte (0x00-0x1F or 0x7F).
//
// PBKDF2-HMAC pads a key shorter than the hash block with zero bytes, so
// "pw" and "pw\x00" derive the same key: without this rule both would sign
// in. Verify refuses such secrets, and services refuse them when a password
// is set, so no one can set a password they could not present.
func ValidateSecret(s string) error {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return ErrControlByte
		}
	}
	return nil
}
