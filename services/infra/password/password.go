// Package password hashes and verifies secrets (user passwords, client
// secrets, API keys) with PBKDF2-HMAC-SHA256.
//
// A stored hash carries its own parameters:
//
//	$pbkdf2-sha256$i=600000$<salt>$<key>
//
// where salt and key are standard base64 without padding and the key is 32
// bytes. Because the iteration count travels with the hash, raising the
// default later does not invalidate existing hashes.
//
// PBKDF2 is deliberately slow: never call Hash or Verify on a per-request hot
// path that could be served from a cache, and turn Hasher.Iterations down in
// tests instead of mocking the crypto.
package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// DefaultIterations follows the OWASP recommendation for PBKDF2-HMAC-SHA256.
	DefaultIterations = 600_000
	// DefaultSaltLen is the salt length in bytes.
	DefaultSaltLen = 32
	// KeyLen is the derived key length: one SHA-256 block, so PBKDF2 runs its
	// iteration loop exactly once (a longer key would cost the defender more
	// than the attacker).
	KeyLen = 32

	// MinIterations and MaxIterations bound the iteration count accepted both
	// when hashing and when parsing a stored hash. The lower bound refuses
	// hashes too cheap to be worth storing; the upper bound stops a crafted
	// or corrupted hash from turning a login into a denial of service.
	MinIterations = 1_000
	MaxIterations = 10_000_000
	// MinSaltLen and MaxSaltLen bound the salt length in bytes.
	MinSaltLen = 16
	MaxSaltLen = 1024
)

const scheme = "pbkdf2-sha256"

var (
	// ErrMismatch means the plaintext does not match the hash.
	ErrMismatch = errors.New("password mismatch")
	// ErrMalformed is wrapped by every error about an unusable encoded hash
	// or invalid hashing parameters.
	ErrMalformed = errors.New("malformed password hash")
)

// Hasher hashes secrets. The zero value uses DefaultIterations and
// DefaultSaltLen; tests set Iterations low (e.g. MinIterations).
type Hasher struct {
	Iterations int
	SaltLen    int
}

func (h Hasher) params() (iterations, saltLen int, err error) {
	iterations, saltLen = h.Iterations, h.SaltLen
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if saltLen == 0 {
		saltLen = DefaultSaltLen
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return 0, 0, fmt.Errorf("%w: iterations %d outside [%d, %d]", ErrMalformed, iterations, MinIterations, MaxIterations)
	}
	if saltLen < MinSaltLen || saltLen > MaxSaltLen {
		return 0, 0, fmt.Errorf("%w: salt length %d outside [%d, %d]", ErrMalformed, saltLen, MinSaltLen, MaxSaltLen)
	}
	return iterations, saltLen, nil
}

// Hash derives a new hash of plain with a fresh random salt and returns its
// encoded form. Invalid Hasher parameters yield an error wrapping ErrMalformed.
func (h Hasher) Hash(plain string) (string, error) {
	iterations, saltLen, err := h.params()
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, saltLen)
	// crypto/rand.Read never returns an error (it crashes the program
	// instead), so there is nothing to handle here.
	_, _ = rand.Read(salt)
	dk, err := derive(plain, salt, iterations, KeyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return encode(iterations, salt, dk), nil
}

// Verify checks plain against an encoded hash. It returns nil on a match,
// ErrMismatch on a mismatch and an error wrapping ErrMalformed when the
// encoding is unusable. The key comparison is constant-time.
func Verify(encoded, plain string) error {
	iterations, salt, want, err := parse(encoded)
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	got, err := derive(plain, salt, iterations, KeyLen)
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// VerifyDummy spends the same work as Verify of a hash made by h, and always
// fails. Call it when the user (or client) does not exist, so that response
// time does not reveal which names exist.
//
// It runs Verify itself on a hash with h's parameters, so parsing, decoding,
// key derivation and comparison are the very same code path. The dummy key is
// a constant rather than a real PBKDF2 output: nobody knows a plaintext for it
// either way, and a constant needs no precomputation and no shared state.
func (h Hasher) VerifyDummy(plain string) {
	iterations, saltLen, err := h.params()
	if err != nil {
		// A Hasher with invalid parameters cannot hash either, so the
		// caller's real Verify path runs with default parameters.
		iterations, saltLen = DefaultIterations, DefaultSaltLen
	}
	_ = Verify(dummyHash(iterations, saltLen), plain)
}

// dummyHash builds a well-formed hash that no known plaintext matches.
func dummyHash(iterations, saltLen int) string {
	salt := make([]byte, saltLen)
	for i := range salt {
		salt[i] = byte(i*7 + 1)
	}
	return encode(iterations, salt, make([]byte, KeyLen))
}

// derive is the single place PBKDF2 runs; keyLen is a parameter only so the
// published test vectors (various lengths) exercise this exact function.
func derive(plain string, salt []byte, iterations, keyLen int) ([]byte, error) {
	dk, err := pbkdf2.Key(sha256.New, plain, salt, iterations, keyLen)
	if err != nil {
		return nil, fmt.Errorf("pbkdf2: %w", err)
	}
	return dk, nil
}

var b64 = base64.RawStdEncoding.Strict()

func encode(iterations int, salt, dk []byte) string {
	return "$" + scheme + "$i=" + strconv.Itoa(iterations) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(dk)
}

// parse decodes an encoded hash strictly: one spelling per hash, so that
// stored values compare and audit cleanly, and bounded parameters, so that a
// hostile row cannot make a verification arbitrarily expensive.
func parse(encoded string) (iterations int, salt, dk []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "" before the first '$', scheme, i=N, salt, key.
	if len(parts) != 5 || parts[0] != "" {
		return 0, nil, nil, fmt.Errorf("%w: want $%s$i=<n>$<salt>$<key>", ErrMalformed, scheme)
	}
	if parts[1] != scheme {
		return 0, nil, nil, fmt.Errorf("%w: unsupported scheme %q", ErrMalformed, truncate(parts[1]))
	}
	num, ok := strings.CutPrefix(parts[2], "i=")
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: missing iteration count", ErrMalformed)
	}
	iterations, err = parseCount(num)
	if err != nil {
		return 0, nil, nil, err
	}
	if len(parts[3]) > b64.EncodedLen(MaxSaltLen) {
		return 0, nil, nil, fmt.Errorf("%w: salt longer than %d bytes", ErrMalformed, MaxSaltLen)
	}
	salt, err = b64.DecodeString(parts[3])
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: salt: %v", ErrMalformed, err)
	}
	if len(salt) < MinSaltLen {
		return 0, nil, nil, fmt.Errorf("%w: salt of %d bytes, want at least %d", ErrMalformed, len(salt), MinSaltLen)
	}
	if len(parts[4]) != b64.EncodedLen(KeyLen) {
		return 0, nil, nil, fmt.Errorf("%w: key must be %d bytes", ErrMalformed, KeyLen)
	}
	dk, err = b64.DecodeString(parts[4])
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: key: %v", ErrMalformed, err)
	}
	return iterations, salt, dk, nil
}

// parseCount accepts only canonical decimal (no sign, no leading zero) within
// [MinIterations, MaxIterations].
func parseCount(s string) (int, error) {
	if s == "" || len(s) > 8 || s[0] == '0' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: iteration count %q is not a canonical number", ErrMalformed, truncate(s))
	}
	n, _ := strconv.Atoi(s) // at most 8 plain digits: cannot fail
	if n < MinIterations || n > MaxIterations {
		return 0, fmt.Errorf("%w: iteration count %d outside [%d, %d]", ErrMalformed, n, MinIterations, MaxIterations)
	}
	return n, nil
}

// truncate keeps error messages short when a hash column holds garbage.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
