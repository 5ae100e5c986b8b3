package keycrypto

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// contextHeader is the protected JWE header that carries the encryption context (base64url, no padding).
// The protected header is the AAD of A256GCM, so the context is authenticated with the ciphertext.
const contextHeader jose.HeaderKey = "ctx"

// Lookup finds the key a JOSE object names by its kid. It returns (nil, nil) or an error matching
// ErrUnknownKid when there is no such key; any other error (a disabled version, a database failure) is
// returned wrapped, unchanged, so the caller can still match its own error types.
type Lookup func(kid string) (*Key, error)

// Encrypt encrypts plaintext under key as a compact JWE (alg = the key's algorithm, "dir" for A256GCM;
// enc = A256GCM) with kid in the protected header. A non-empty encryptionContext is bound into the
// protected header, and Decrypt then requires the same context; nil and empty mean "no context".
// Keys from LoadPublic can encrypt with RSA-OAEP-256 and ECDH-ES+A256KW.
func Encrypt(key *Key, plaintext, encryptionContext []byte) (string, error) {
	if err := checkPurpose(key, PurposeEncrypt, "encrypt"); err != nil {
		return "", err
	}
	recipient := jose.Recipient{Algorithm: specs[key.alg].keyAlg, KeyID: key.kid}
	switch key.alg {
	case A256GCM, A256KW:
		recipient.Key = key.secret
	default:
		recipient.Key = key.public
	}
	opts := &jose.EncrypterOptions{}
	if len(encryptionContext) > 0 {
		opts.WithHeader(contextHeader, base64.RawURLEncoding.EncodeToString(encryptionContext))
	}
	enc, err := jose.NewEncrypter(contentEncryption, recipient, opts)
	if err != nil {
		return "", fmt.Errorf("encrypt with %s key %q: %w", key.alg, key.kid, err)
	}
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", fmt.Errorf("encrypt with %s key %q: %w", key.alg, key.kid, err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("encrypt with %s key %q: serialize: %w", key.alg, key.kid, err)
	}
	return out, nil
}

// Decrypt opens a compact JWE made by Encrypt, and only in the one form Encrypt makes it (canonical.go):
// strict unpadded base64url, no header member Encrypt does not write, an encrypted key exactly when the
// algorithm has one; anything else is ErrMalformed. It parses with go-jose allowing only this package's key
// algorithms and A256GCM, finds the key by the header's kid through lookup, refuses a header whose alg is
// not that key's (ErrUnsupportedAlgorithm), decrypts (ErrDecrypt on any authentication failure), and
// finally requires the authenticated context to equal encryptionContext (ErrWrongContext).
// Malformed input is ErrMalformed; a kid nobody knows is ErrUnknownKid; a non-encryption key is
// ErrWrongPurpose; a public-only key is ErrInvalidMaterial.
func Decrypt(lookup Lookup, compact string, encryptionContext []byte) ([]byte, error) {
	var parts [5]string
	if err := compactParts("decrypt", compact, parts[:]); err != nil {
		return nil, err
	}
	obj, err := jose.ParseEncryptedCompact(compact, ourKeyAlgorithms, []jose.ContentEncryption{contentEncryption})
	if err != nil {
		return nil, classifyParseError("decrypt", err, func() error {
			_, err := jose.ParseEncryptedCompact(compact, allKeyAlgorithms, allContentEncryptions)
			return err
		})
	}
	key, err := findKey(lookup, obj.Header.KeyID, "decrypt")
	if err != nil {
		return nil, err
	}
	if err := checkPurpose(key, PurposeEncrypt, "decrypt"); err != nil {
		return nil, err
	}
	if got := obj.Header.Algorithm; got != string(specs[key.alg].keyAlg) {
		return nil, newError(CodeUnsupportedAlgorithm,
			fmt.Sprintf("decrypt: JWE alg %q is not the algorithm of key %q (%s)", got, key.kid, key.alg), nil)
	}
	if err := checkJWEForm("decrypt", &obj.Header, &parts, key); err != nil {
		return nil, err
	}
	var decryptionKey any
	switch {
	case key.secret != nil:
		decryptionKey = key.secret
	case key.private != nil:
		decryptionKey = key.private
	default:
		return nil, newError(CodeInvalidMaterial, fmt.Sprintf("decrypt: key %q is public-only", key.kid), nil)
	}
	plaintext, err := obj.Decrypt(decryptionKey)
	if err != nil {
		return nil, newError(CodeDecrypt, fmt.Sprintf("decrypt with key %q", key.kid), err)
	}
	// Compared only after decryption succeeded, so the header (and the context in it) is authenticated:
	// ErrWrongContext always means "genuine ciphertext, other context".
	bound, err := boundContext(obj.Header)
	if err == nil && !bytes.Equal(bound, encryptionContext) {
		err = newError(CodeWrongContext, "decrypt: the encryption context does not match the one the ciphertext is bound to", nil)
	}
	if err != nil {
		clear(plaintext)
		return nil, err
	}
	if plaintext == nil {
		plaintext = []byte{} // success is never nil, even for an empty plaintext
	}
	return plaintext, nil
}

// boundContext returns the decoded context of an authenticated header, nil when there is none.
func boundContext(h jose.Header) ([]byte, error) {
	raw, ok := h.ExtraHeaders[contextHeader]
	if !ok {
		return nil, nil
	}
	s, ok := raw.(string)
	if !ok {
		return nil, newError(CodeMalformed, `decrypt: header "ctx" is not a string`, nil)
	}
	ctx, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(ctx) == 0 {
		return nil, newError(CodeMalformed, `decrypt: header "ctx" is not non-empty base64url`, err)
	}
	return ctx, nil
}

// GenerateDataKey returns a fresh 32-byte data key in plaintext and the same key encrypted under key as a
// compact JWE (Decrypt with the same encryptionContext returns it).
func GenerateDataKey(key *Key, encryptionContext []byte) (plaintext []byte, wrapped string, err error) {
	if err := checkPurpose(key, PurposeEncrypt, "generate data key"); err != nil {
		return nil, "", err
	}
	plaintext = make([]byte, symmetricKeyBytes)
	if _, err := rand.Read(plaintext); err != nil {
		return nil, "", fmt.Errorf("generate data key: %w", err)
	}
	wrapped, err = Encrypt(key, plaintext, encryptionContext)
	if err != nil {
		clear(plaintext)
		return nil, "", fmt.Errorf("generate data key: %w", err)
	}
	return plaintext, wrapped, nil
}

// checkPurpose refuses a nil key or one whose purpose is not want.
func checkPurpose(key *Key, want Purpose, op string) error {
	if key == nil {
		return newError(CodeInvalidMaterial, op+": nil key", nil)
	}
	if got := key.Purpose(); got != want {
		return newError(CodeWrongPurpose, fmt.Sprintf("%s: key %q is a %s key (%s), not a %s key", op, key.kid, got, key.alg, want), nil)
	}
	return nil
}

// findKey resolves kid through lookup.
func findKey(lookup Lookup, kid, op string) (*Key, error) {
	if kid == "" {
		return nil, newError(CodeMalformed, op+`: protected header has no "kid"`, nil)
	}
	key, err := lookup(kid)
	if err != nil {
		return nil, fmt.Errorf("%s: look up kid %q: %w", op, kid, err)
	}
	if key == nil {
		return nil, newError(CodeUnknownKid, fmt.Sprintf("%s: no key with kid %q", op, kid), nil)
	}
	if key.kid != kid {
		// A lookup bug must not let one key's ciphertext be opened under another's name.
		return nil, newError(CodeInvalidMaterial, fmt.Sprintf("%s: lookup for kid %q returned key %q", op, kid, key.kid), nil)
	}
	return key, nil
}

// classifyParseError turns a go-jose parse failure into ErrUnsupportedAlgorithm when the object parses with
// every algorithm go-jose knows (so only our allow-list refused it), and into ErrMalformed otherwise.
func classifyParseError(op string, err error, parseAny func() error) error {
	if parseAny() == nil {
		return newError(CodeUnsupportedAlgorithm, op+": algorithm not allowed", err)
	}
	return newError(CodeMalformed, op+": not a compact JOSE object of this KMS", err)
}
