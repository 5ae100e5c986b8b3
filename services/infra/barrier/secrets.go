package barrier

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// HKDF info strings: one per derived value, so a fingerprint can never be
// used as (or reveal anything about) an unseal key.
const (
	infoFingerprint = "passthru/barrier/secret-fingerprint/v1"
	infoUnseal      = "passthru/barrier/unseal/v1"
	subsetDomain    = "passthru/barrier/subset/v1"
	keySize         = 32
)

// ReadSecretFiles reads unseal secret files. Each file's content, without
// trailing line breaks, is one secret (GenerateSecretFile writes the base64
// form of 32 random bytes; the text itself is the secret). Errors name the
// file, never its content; a missing or unreadable file wraps ErrSealed and
// the underlying os error (so errors.Is(err, fs.ErrNotExist) works).
func ReadSecretFiles(paths []string) ([][]byte, error) {
	if len(paths) == 0 {
		return nil, sealedf(nil, "no unseal secret files configured")
	}
	secrets := make([][]byte, 0, len(paths))
	for i, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, sealedf(err, "read unseal secret file #%d", i+1)
		}
		s := bytes.TrimRight(raw, "\r\n")
		if len(s) < MinSecretSize {
			return nil, sealedf(nil, "unseal secret file %q holds %d bytes, at least %d required", p, len(s), MinSecretSize)
		}
		for j, prev := range secrets {
			if bytes.Equal(prev, s) {
				return nil, fmt.Errorf("barrier: unseal secret files %q and %q have the same content", paths[j], p)
			}
		}
		secrets = append(secrets, s)
	}
	return secrets, nil
}

// GenerateSecretFile writes a new unseal secret (32 random bytes, base64) to
// path with mode 0600, creating the parent directory (0700) if needed. It
// refuses to overwrite an existing file (the error wraps fs.ErrExist):
// replacing a secret would make the database impossible to unseal.
func GenerateSecretFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("barrier: generate secret file: %w", err)
	}
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("barrier: generate secret file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("barrier: generate secret file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A half-written secret must not be mistaken for a real one later.
		return errors.Join(fmt.Errorf("barrier: generate secret file %q: %w", path, werr), os.Remove(path))
	}
	return nil
}

// secret is an unseal secret with its per-barrier fingerprint.
type secret struct {
	value       []byte
	fingerprint string // hex; derived with the barrier's salt, reveals nothing about value
}

func fingerprintSecrets(values [][]byte, salt []byte) ([]secret, error) {
	out := make([]secret, len(values))
	for i, v := range values {
		fp, err := hkdf.Key(sha256.New, v, salt, infoFingerprint, 16)
		if err != nil {
			return nil, fmt.Errorf("barrier: fingerprint secret: %w", err)
		}
		// A copy: the Barrier keeps the values for RotateRoot, and a caller
		// that wipes its secret buffers after Open (good hygiene) must not
		// make a later rotation wrap the root under keys derived from zeros,
		// which would leave the database impossible to unseal.
		out[i] = secret{value: bytes.Clone(v), fingerprint: hex.EncodeToString(fp)}
	}
	return out, nil
}

// sortedSubset returns a copy of the subset ordered by fingerprint, so the
// order of the configured files never changes the derived key.
func sortedSubset(subset []secret) []secret {
	s := slices.Clone(subset)
	slices.SortFunc(s, func(a, b secret) int { return bytes.Compare([]byte(a.fingerprint), []byte(b.fingerprint)) })
	return s
}

// subsetID identifies a subset of secrets by their fingerprints.
func subsetID(subset []secret) string {
	h := sha256.New()
	h.Write([]byte(subsetDomain))
	for _, s := range sortedSubset(subset) {
		h.Write([]byte{0})
		h.Write([]byte(s.fingerprint))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// unsealKey derives the key that wraps the root key for one subset. The
// secrets are length-prefixed so that no two different subsets concatenate
// to the same input.
func unsealKey(subset []secret, salt []byte) ([]byte, error) {
	var ikm []byte
	for _, s := range sortedSubset(subset) {
		ikm = binary.BigEndian.AppendUint32(ikm, uint32(len(s.value)))
		ikm = append(ikm, s.value...)
	}
	k, err := hkdf.Key(sha256.New, ikm, salt, infoUnseal, keySize)
	if err != nil {
		return nil, fmt.Errorf("barrier: derive unseal key: %w", err)
	}
	return k, nil
}

// combinations returns every m-element subset of items, in a stable order.
func combinations[T any](items []T, m int) [][]T {
	var out [][]T
	idx := make([]int, m)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == m {
			c := make([]T, m)
			for i, j := range idx {
				c[i] = items[j]
			}
			out = append(out, c)
			return
		}
		for i := start; i <= len(items)-(m-depth); i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
	return out
}

func randomKey() ([]byte, error) {
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("barrier: random key: %w", err)
	}
	return k, nil
}

// newAEAD returns AES-256-GCM that draws a random 96-bit nonce per Seal and
// prepends it to the output (nonce || ciphertext || tag).
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("barrier: cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("barrier: cipher: %w", err)
	}
	return aead, nil
}
