package keycrypto

// Code classifies an Error. The KMS maps each code to one documented problem type at its HTTP boundary.
type Code string

// The error codes.
const (
	// CodeMalformed: the input is not a well-formed compact JWE/JWS of this package (wrong number of parts,
	// bad base64 or JSON, missing kid, missing required header), or one not in the single canonical form this
	// package produces (padded or non-canonical base64url, an unexpected header member such as zip, crit, jku,
	// jwk or x5u, an encrypted key where the algorithm has none or none where it needs one).
	CodeMalformed Code = "malformed"
	// CodeUnknownKid: the kid in the header names no key (the lookup returned nil or ErrUnknownKid).
	CodeUnknownKid Code = "unknown_kid"
	// CodeWrongContext: the ciphertext is authentic but was bound to a different encryption context.
	CodeWrongContext Code = "wrong_context"
	// CodeDecrypt: authentication failed: tampered, truncated within a part, or made with another key.
	CodeDecrypt Code = "decrypt_failed"
	// CodeWrongPurpose: the key's purpose does not allow the operation (e.g. Sign with an encryption key).
	CodeWrongPurpose Code = "wrong_purpose"
	// CodeUnsupportedAlgorithm: an algorithm name this package does not support, or a JOSE header whose
	// alg/enc is not the one of the key named by its kid.
	CodeUnsupportedAlgorithm Code = "unsupported_algorithm"
	// CodeInvalidMaterial: key material that cannot be used: unparseable, of the wrong type or size for the
	// algorithm, for another kid or algorithm, or public-only where the private key is needed.
	// It means stored state or caller wiring is wrong, never bad client input.
	CodeInvalidMaterial Code = "invalid_material"
)

// Error is the one error type of this package. Match it with errors.Is against the sentinels below (which
// compares codes only) or with errors.As to read the Code. Detail is safe to show: it never holds key
// material or plaintext. Err is the underlying cause, for logs.
type Error struct {
	Code   Code
	Detail string
	Err    error
}

// Sentinels, one per code, for errors.Is. They are never returned themselves; returned errors carry detail.
var (
	ErrMalformed            = &Error{Code: CodeMalformed}
	ErrUnknownKid           = &Error{Code: CodeUnknownKid}
	ErrWrongContext         = &Error{Code: CodeWrongContext}
	ErrDecrypt              = &Error{Code: CodeDecrypt}
	ErrWrongPurpose         = &Error{Code: CodeWrongPurpose}
	ErrUnsupportedAlgorithm = &Error{Code: CodeUnsupportedAlgorithm}
	ErrInvalidMaterial      = &Error{Code: CodeInvalidMaterial}
)

func newError(code Code, detail string, cause error) *Error {
	return &Error{Code: code, Detail: detail, Err: cause}
}

func (e *Error) Error() string {
	msg := "keycrypto: " + string(e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so errors.Is(err, ErrDecrypt) works on any
// returned error of that code, however it was wrapped.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}
