package kms

// The one error type of the KMS: a stable code, a message safe to show to the
// caller, and the cause kept for logs. The HTTP layer maps codes to statuses
// in exactly one place (httpapi), never by message text.

import (
	"errors"
	"fmt"
)

// Code is a stable, documented error code; it is the `code` of the problem+json body.
type Code string

// The codes. Each is documented in openapi.yaml (schema Problem).
const (
	InvalidRequest       Code = "invalid_request"
	MalformedJSON        Code = "malformed_json"
	UnsupportedMediaType Code = "unsupported_media_type"
	PayloadTooLarge      Code = "payload_too_large"
	Unauthenticated      Code = "unauthenticated"
	TooManyAttempts      Code = "too_many_attempts"
	Forbidden            Code = "forbidden"
	NotFound             Code = "not_found"
	MethodNotAllowed     Code = "method_not_allowed"
	NameTaken            Code = "name_taken"
	UserExists           Code = "user_exists"
	KeyDisabled          Code = "key_disabled"
	VersionDisabled      Code = "version_disabled"
	NoEnabledVersion     Code = "no_enabled_version"
	KeyDestroyed         Code = "key_destroyed"
	VersionDestroyed     Code = "version_destroyed"
	WrongPurpose         Code = "wrong_purpose"
	VersioningNotAllowed Code = "versioning_not_allowed"
	MalformedCiphertext  Code = "malformed_ciphertext"
	DecryptionFailed     Code = "decryption_failed"
	ContextMismatch      Code = "context_mismatch"
	UnknownKid           Code = "unknown_kid"
	MalformedSignature   Code = "malformed_signature"
	AlgorithmMismatch    Code = "algorithm_mismatch"
	Internal             Code = "internal"
	NotReady             Code = "not_ready"
	Busy                 Code = "busy"
	// Unavailable: the credentials could not be checked because something
	// the check depends on (an issuer's keys, say) is unreachable.
	Unavailable Code = "unavailable"
)

// Error is a KMS error. Message is safe for clients; Err is for logs only.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code and a client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with code, a client-safe message and a cause.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
