package keycrypto

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// newKid returns a fresh material key id, as the KMS would (UUIDv7).
func newKid(t testing.TB) string {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return id.String()
}

// newKey generates and loads a key of alg under a fresh kid.
func newKey(t testing.TB, alg Algorithm) *Key {
	t.Helper()
	return newKeyWithKid(t, alg, newKid(t))
}

func newKeyWithKid(t testing.TB, alg Algorithm, kid string) *Key {
	t.Helper()
	m, err := Generate(alg, kid)
	require.NoError(t, err)
	k, err := Load(alg, kid, m.Private)
	require.NoError(t, err)
	return k
}

// lookupOf resolves kids among keys; unknown kids yield (nil, nil).
func lookupOf(keys ...*Key) Lookup {
	return func(kid string) (*Key, error) {
		for _, k := range keys {
			if k.Kid() == kid {
				return k, nil
			}
		}
		return nil, nil
	}
}

// algorithmsOf returns the supported algorithms of one purpose.
func algorithmsOf(p Purpose) []Algorithm {
	var out []Algorithm
	for _, a := range Algorithms() {
		if a.Purpose() == p {
			out = append(out, a)
		}
	}
	return out
}

// flipPart changes one character in the middle of part i of a compact JOSE object, keeping it valid base64url.
func flipPart(t testing.TB, compact string, i int) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	require.Greater(t, len(parts), i)
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	require.NotEmpty(t, raw, "part %d is empty", i)
	raw[len(raw)/2] ^= 0x01
	parts[i] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}
