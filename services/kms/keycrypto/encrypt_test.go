package keycrypto

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithmsOf(PurposeEncrypt) {
		key := newKey(t, alg)
		cases := []struct {
			desc      string
			plaintext []byte
			context   []byte
		}{
			{desc: "no context", plaintext: []byte("attack at dawn")},
			{desc: "with context", plaintext: []byte("attack at dawn"), context: []byte(`{"tenant":"a","purpose":"db"}`)},
			{desc: "empty plaintext", plaintext: []byte{}},
			{desc: "binary plaintext with binary context", plaintext: []byte{0, 1, 2, 255}, context: []byte{0, 0xff}},
		}
		for _, tc := range cases {
			t.Run(string(alg)+"/"+tc.desc, func(t *testing.T) {
				t.Parallel()
				compact, err := Encrypt(key, tc.plaintext, tc.context)
				require.NoError(t, err)
				require.Len(t, strings.Split(compact, "."), 5, "compact JWE")

				// The header is what the issue pins: kid, the key's alg, A256GCM, ctx when given.
				obj, err := jose.ParseEncryptedCompact(compact, ourKeyAlgorithms, []jose.ContentEncryption{jose.A256GCM})
				require.NoError(t, err)
				assert.Equal(t, key.Kid(), obj.Header.KeyID)
				assert.Equal(t, string(specs[alg].keyAlg), obj.Header.Algorithm)
				if tc.context == nil {
					assert.NotContains(t, obj.Header.ExtraHeaders, contextHeader)
				} else {
					assert.Equal(t, base64.RawURLEncoding.EncodeToString(tc.context), obj.Header.ExtraHeaders[contextHeader])
				}

				got, err := Decrypt(lookupOf(key), compact, tc.context)
				require.NoError(t, err)
				assert.Equal(t, tc.plaintext, got)
				if len(tc.plaintext) > 0 {
					assert.NotContains(t, compact, base64.RawURLEncoding.EncodeToString(tc.plaintext))
				}
			})
		}
	}
}

func TestEncryptIsRandomized(t *testing.T) {
	t.Parallel()
	key := newKey(t, A256GCM)
	a, err := Encrypt(key, []byte("same"), nil)
	require.NoError(t, err)
	b, err := Encrypt(key, []byte("same"), nil)
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "a fresh IV per encryption")
}

func TestEncryptWithPublicKeyDecryptsWithPrivate(t *testing.T) {
	t.Parallel()
	for _, alg := range []Algorithm{RSAOAEP256, ECDHESA256KW} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			kid := newKid(t)
			m, err := Generate(alg, kid)
			require.NoError(t, err)
			priv, err := Load(alg, kid, m.Private)
			require.NoError(t, err)
			pub, err := LoadPublic(alg, kid, m.Public)
			require.NoError(t, err)
			assert.False(t, pub.HasPrivate())

			compact, err := Encrypt(pub, []byte("for the key holder"), []byte("ctx"))
			require.NoError(t, err)
			got, err := Decrypt(lookupOf(priv), compact, []byte("ctx"))
			require.NoError(t, err)
			assert.Equal(t, []byte("for the key holder"), got)

			_, err = Decrypt(lookupOf(pub), compact, []byte("ctx"))
			assert.ErrorIs(t, err, ErrInvalidMaterial, "a public-only key cannot decrypt")
		})
	}
}

func TestGenerateDataKey(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithmsOf(PurposeEncrypt) {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := newKey(t, alg)
			plain, wrapped, err := GenerateDataKey(key, []byte("dk-ctx"))
			require.NoError(t, err)
			assert.Len(t, plain, 32)
			got, err := Decrypt(lookupOf(key), wrapped, []byte("dk-ctx"))
			require.NoError(t, err)
			assert.Equal(t, plain, got)

			other, _, err := GenerateDataKey(key, nil)
			require.NoError(t, err)
			assert.NotEqual(t, plain, other, "fresh randomness per data key")
		})
	}
	t.Run("wrong purpose", func(t *testing.T) {
		t.Parallel()
		_, _, err := GenerateDataKey(newKey(t, HS256), nil)
		assert.ErrorIs(t, err, ErrWrongPurpose)
	})
}

func TestEncryptErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc string
		key  *Key
		want error
	}{
		{desc: "signing key", key: newKey(t, ES256), want: ErrWrongPurpose},
		{desc: "mac key", key: newKey(t, HS256), want: ErrWrongPurpose},
		{desc: "nil key", key: nil, want: ErrInvalidMaterial},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			out, err := Encrypt(tc.key, []byte("x"), nil)
			assert.ErrorIs(t, err, tc.want)
			assert.Empty(t, out)
		})
	}
}

// joseEncrypt builds a JWE with go-jose directly, for inputs Encrypt would never produce.
func joseEncrypt(t *testing.T, alg jose.KeyAlgorithm, enc jose.ContentEncryption, key any, kid string, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := &jose.EncrypterOptions{ExtraHeaders: extra}
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: key, KeyID: kid}, opts)
	require.NoError(t, err)
	obj, err := e.Encrypt([]byte("crafted"))
	require.NoError(t, err)
	out, err := obj.CompactSerialize()
	require.NoError(t, err)
	return out
}

func TestDecryptErrors(t *testing.T) {
	t.Parallel()
	gcm := newKey(t, A256GCM)
	kw := newKey(t, A256KW)
	rsaKey := newKey(t, RSAOAEP256)
	ecdh := newKey(t, ECDHESA256KW)
	all := lookupOf(gcm, kw, rsaKey, ecdh)
	ctx := []byte("tenant-a/orders")

	encrypt := func(k *Key, context []byte) string {
		out, err := Encrypt(k, []byte("secret plaintext"), context)
		require.NoError(t, err)
		return out
	}

	// A second key under the same kid as gcm, for wrong-purpose and wrong-algorithm cases.
	sameKidSigner := newKeyWithKid(t, ES256, gcm.Kid())
	sameKidKW := newKeyWithKid(t, A256KW, gcm.Kid())
	sameKidOtherGCM := newKeyWithKid(t, A256GCM, gcm.Kid())
	publicOnly, err := LoadPublic(RSAOAEP256, rsaKey.Kid(), mustPublicJWK(t, rsaKey))
	require.NoError(t, err)
	storeFailure := errors.New("database is down")
	notFound := newError(CodeUnknownKid, "material key not in this tenant", nil)

	type tc struct {
		desc    string
		compact string
		context []byte
		lookup  Lookup
		want    error
	}
	var cases []tc
	for _, k := range []*Key{gcm, kw, rsaKey, ecdh} {
		name := string(k.Algorithm()) + ": "
		good := encrypt(k, ctx)
		parts := strings.Split(good, ".")
		cases = append(cases,
			tc{desc: name + "tampered ciphertext", compact: flipPart(t, good, 3), context: ctx, lookup: all, want: ErrDecrypt},
			tc{desc: name + "tampered tag", compact: flipPart(t, good, 4), context: ctx, lookup: all, want: ErrDecrypt},
			tc{desc: name + "tampered iv", compact: flipPart(t, good, 2), context: ctx, lookup: all, want: ErrDecrypt},
			tc{desc: name + "tag truncated to 12 bytes", compact: strings.Join(parts[:4], ".") + "." + parts[4][:16], context: ctx, lookup: all, want: ErrDecrypt},
			tc{desc: name + "ciphertext emptied", compact: strings.Join([]string{parts[0], parts[1], parts[2], "", parts[4]}, "."), context: ctx, lookup: all, want: ErrDecrypt},
			tc{desc: name + "last part dropped", compact: strings.Join(parts[:4], "."), context: ctx, lookup: all, want: ErrMalformed},
			tc{desc: name + "cut in half", compact: good[:len(good)/2], context: ctx, lookup: all, want: ErrMalformed},
			tc{desc: name + "wrong context", compact: good, context: []byte("tenant-b/orders"), lookup: all, want: ErrWrongContext},
			tc{desc: name + "context missing", compact: good, context: nil, lookup: all, want: ErrWrongContext},
			tc{desc: name + "context given, none bound", compact: encrypt(k, nil), context: ctx, lookup: all, want: ErrWrongContext},
			tc{desc: name + "unknown kid", compact: good, context: ctx, lookup: lookupOf(), want: ErrUnknownKid},
		)
		if k != gcm { // "dir" has an empty encrypted-key part
			cases = append(cases, tc{desc: name + "tampered encrypted key", compact: flipPart(t, good, 1), context: ctx, lookup: all, want: ErrDecrypt})
		}
	}
	gcmCompact := encrypt(gcm, nil)
	cases = append(cases,
		tc{desc: "empty input", compact: "", lookup: all, want: ErrMalformed},
		tc{desc: "not JOSE at all", compact: "hello world", lookup: all, want: ErrMalformed},
		tc{desc: "five parts of garbage", compact: "a.b.c.d.e", lookup: all, want: ErrMalformed},
		tc{desc: "a JWS, not a JWE", compact: mustSign(t, newKey(t, ES256)), lookup: all, want: ErrMalformed},
		tc{desc: "header tampered (context added)", compact: withHeaderField(t, gcmCompact, "ctx", "Zm9v"), context: []byte("foo"), lookup: all, want: ErrDecrypt},
		tc{desc: "lookup reports unknown kid itself", compact: gcmCompact, lookup: func(string) (*Key, error) { return nil, notFound }, want: ErrUnknownKid},
		tc{desc: "lookup failure passes through", compact: gcmCompact, lookup: func(string) (*Key, error) { return nil, storeFailure }, want: storeFailure},
		tc{desc: "lookup returns a key of another kid", compact: gcmCompact, lookup: func(string) (*Key, error) { return kw, nil }, want: ErrInvalidMaterial},
		tc{desc: "kid names a signing key", compact: gcmCompact, lookup: lookupOf(sameKidSigner), want: ErrWrongPurpose},
		tc{desc: "kid names a key of another algorithm", compact: gcmCompact, lookup: lookupOf(sameKidKW), want: ErrUnsupportedAlgorithm},
		tc{desc: "kid names other material of the same algorithm", compact: gcmCompact, lookup: lookupOf(sameKidOtherGCM), want: ErrDecrypt},
		tc{desc: "public-only key", compact: encrypt(rsaKey, nil), lookup: lookupOf(publicOnly), want: ErrInvalidMaterial},
		tc{desc: "no kid", compact: joseEncrypt(t, jose.DIRECT, jose.A256GCM, gcm.secret, "", nil), lookup: all, want: ErrMalformed},
		tc{desc: "RSA1_5 refused", compact: joseEncrypt(t, jose.RSA1_5, jose.A256GCM, rsaKey.public, rsaKey.Kid(), nil), lookup: all, want: ErrUnsupportedAlgorithm},
		tc{desc: "A128GCM content refused", compact: joseEncrypt(t, jose.DIRECT, jose.A128GCM, gcm.secret[:16], gcm.Kid(), nil), lookup: all, want: ErrUnsupportedAlgorithm},
		tc{desc: "A256CBC-HS512 content refused", compact: joseEncrypt(t, jose.A256KW, jose.A256CBC_HS512, kw.secret, kw.Kid(), nil), lookup: all, want: ErrUnsupportedAlgorithm},
		tc{desc: "ctx header not a string", compact: joseEncrypt(t, jose.DIRECT, jose.A256GCM, gcm.secret, gcm.Kid(), map[jose.HeaderKey]any{"ctx": 7}), lookup: all, want: ErrMalformed},
		tc{desc: "ctx header not base64url", compact: joseEncrypt(t, jose.DIRECT, jose.A256GCM, gcm.secret, gcm.Kid(), map[jose.HeaderKey]any{"ctx": "!!"}), context: []byte("x"), lookup: all, want: ErrMalformed},
	)
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			t.Parallel()
			got, err := Decrypt(c.lookup, c.compact, c.context)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.want)
			assert.Nil(t, got)
			var kerr *Error
			if errors.As(err, &kerr) {
				assert.NotContains(t, err.Error(), "secret plaintext")
			}
		})
	}
}

// withHeaderField re-encodes the protected header of a compact object with one field set, leaving the rest.
func withHeaderField(t *testing.T, compact, name, value string) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	var header map[string]any
	require.NoError(t, json.Unmarshal(raw, &header))
	header[name] = value
	raw, err = json.Marshal(header)
	require.NoError(t, err)
	parts[0] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func mustPublicJWK(t *testing.T, k *Key) []byte {
	t.Helper()
	set := PublicJWKS([]*Key{k})
	require.Len(t, set.Keys, 1)
	out, err := set.Keys[0].MarshalJSON()
	require.NoError(t, err)
	return out
}

func mustSign(t *testing.T, k *Key) string {
	t.Helper()
	out, err := Sign(k, []byte(`{"hello":"world"}`))
	require.NoError(t, err)
	return out
}

func TestDecryptRejectsRandomInput(t *testing.T) {
	t.Parallel()
	key := newKey(t, A256GCM)
	for i := range 64 {
		buf := make([]byte, i*3)
		_, err := rand.Read(buf)
		require.NoError(t, err)
		_, err = Decrypt(lookupOf(key), base64.RawURLEncoding.EncodeToString(buf), nil)
		assert.ErrorIs(t, err, ErrMalformed)
	}
}
