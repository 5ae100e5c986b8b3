package keycrypto

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// editPart decodes part i of a compact object, lets edit change the bytes, and re-encodes it canonically.
func editPart(t testing.TB, compact string, i int, edit func([]byte) []byte) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	require.Greater(t, len(parts), i)
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	parts[i] = base64.RawURLEncoding.EncodeToString(edit(raw))
	return strings.Join(parts, ".")
}

// setHeader replaces the protected header of a compact object with the given JSON text.
func setHeader(t testing.TB, compact, header string) string {
	t.Helper()
	return editPart(t, compact, 0, func([]byte) []byte { return []byte(header) })
}

// rawPart replaces part i of a compact object with s as is.
func rawPart(compact string, i int, s string) string {
	parts := strings.Split(compact, ".")
	parts[i] = s
	return strings.Join(parts, ".")
}

// nonCanonicalTail sets unused low bits in the last character of part i: the bytes decode the same with a
// lenient decoder, so it is a second spelling of the same object. The part's length must leave spare bits.
func nonCanonicalTail(t testing.TB, compact string, i int) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	p := parts[i]
	require.NotZero(t, len(p)%4, "part %d has no spare bits", i)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, p[len(p)-1])
	parts[i] = p[:len(p)-1] + string(alphabet[last|1])
	return strings.Join(parts, ".")
}

// withPadding appends the base64 padding part i would have in padded form.
func withPadding(t testing.TB, compact string, i int) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	require.NotZero(t, len(parts[i])%4, "part %d needs no padding", i)
	parts[i] += strings.Repeat("=", 4-len(parts[i])%4)
	return strings.Join(parts, ".")
}

// joseEncryptWith encrypts with go-jose directly, as Encrypt would, but with extra options: a genuine JWE that
// Encrypt itself never produces.
func joseEncryptWith(t testing.TB, key *Key, opts *jose.EncrypterOptions) string {
	t.Helper()
	recipient := jose.Recipient{Algorithm: specs[key.alg].keyAlg, KeyID: key.kid, Key: key.public}
	if key.secret != nil {
		recipient.Key = key.secret
	}
	enc, err := jose.NewEncrypter(contentEncryption, recipient, opts.WithHeader("kid", key.kid))
	require.NoError(t, err)
	obj, err := enc.Encrypt([]byte("data"))
	require.NoError(t, err)
	out, err := obj.CompactSerialize()
	require.NoError(t, err)
	return out
}

func TestDecryptRefusesNonCanonicalJWE(t *testing.T) {
	t.Parallel()
	dir := newKey(t, A256GCM)
	kw := newKey(t, A256KW)
	oaep := newKey(t, RSAOAEP256)
	ecdh := newKey(t, ECDHESA256KW)
	all := lookupOf(dir, kw, oaep, ecdh)
	dirJWE, kwJWE, oaepJWE, ecdhJWE := mustEncrypt(t, dir), mustEncrypt(t, kw), mustEncrypt(t, oaep), mustEncrypt(t, ecdh)
	randomKey := func([]byte) []byte {
		b := make([]byte, 40)
		_, err := rand.Read(b)
		require.NoError(t, err)
		return b
	}
	empty := func([]byte) []byte { return nil }
	dirHeader := `{"alg":"dir","enc":"A256GCM","kid":"` + dir.Kid() + `"}`

	// Every case is refused whatever its authentication tag says; the dir cases below keep the genuine
	// tag and ciphertext, so go-jose alone would decrypt most of them.
	cases := []struct {
		desc    string
		compact string
		wantErr error
	}{
		{desc: "dir with a non-empty encrypted key (RFC 7516 §5.2 step 10)", compact: editPart(t, dirJWE, 1, randomKey), wantErr: ErrMalformed},
		{desc: "A256KW with an empty encrypted key", compact: editPart(t, kwJWE, 1, empty), wantErr: ErrMalformed},
		{desc: "RSA-OAEP-256 with an empty encrypted key", compact: editPart(t, oaepJWE, 1, empty), wantErr: ErrMalformed},
		{desc: "ECDH-ES+A256KW with an empty encrypted key", compact: editPart(t, ecdhJWE, 1, empty), wantErr: ErrMalformed},
		{desc: "four parts", compact: dirJWE[:strings.LastIndexByte(dirJWE, '.')], wantErr: ErrMalformed},
		{desc: "six parts", compact: dirJWE + ".", wantErr: ErrMalformed},
		{desc: "zip header (a genuine DEFLATE JWE)", compact: joseEncryptWith(t, dir, &jose.EncrypterOptions{Compression: jose.DEFLATE}), wantErr: ErrMalformed},
		{desc: "jku header", compact: joseEncryptWith(t, dir, (&jose.EncrypterOptions{}).WithHeader("jku", "https://evil.test/jwks")), wantErr: ErrMalformed},
		{desc: "x5u header", compact: joseEncryptWith(t, dir, (&jose.EncrypterOptions{}).WithHeader("x5u", "https://evil.test/cert")), wantErr: ErrMalformed},
		{desc: "jwk header", compact: joseEncryptWith(t, dir, (&jose.EncrypterOptions{}).WithHeader("jwk", map[string]string{"kty": "oct", "k": "AA"})), wantErr: ErrMalformed},
		{desc: "typ header", compact: joseEncryptWith(t, dir, (&jose.EncrypterOptions{}).WithType("JWT")), wantErr: ErrMalformed},
		{desc: "crit header", compact: joseEncryptWith(t, dir, (&jose.EncrypterOptions{}).WithHeader("crit", []string{"ctx"}).WithHeader("ctx", "AA")), wantErr: ErrMalformed},
		{desc: "apu header on ECDH-ES", compact: joseEncryptWith(t, ecdh, (&jose.EncrypterOptions{}).WithHeader("apu", "QWxpY2U")), wantErr: ErrMalformed},
		{desc: "epk header on dir", compact: joseEncryptWith(t, dir, (&jose.EncrypterOptions{}).WithHeader("epk", map[string]string{"kty": "EC"})), wantErr: ErrMalformed},
		{desc: "duplicate alg member", compact: setHeader(t, dirJWE, `{"alg":"A256KW","alg":"dir","enc":"A256GCM","kid":"`+dir.Kid()+`"}`), wantErr: ErrMalformed},
		{desc: "header not an object", compact: setHeader(t, dirJWE, `["dir"]`), wantErr: ErrMalformed},
		{desc: "header with trailing data", compact: setHeader(t, dirJWE, dirHeader+`{}`), wantErr: ErrMalformed},
		{desc: "alg not a string", compact: setHeader(t, dirJWE, `{"alg":1,"enc":"A256GCM","kid":"`+dir.Kid()+`"}`), wantErr: ErrMalformed},
		{desc: "no enc", compact: setHeader(t, dirJWE, `{"alg":"dir","kid":"`+dir.Kid()+`"}`), wantErr: ErrMalformed},
		{desc: "padded encrypted key", compact: withPadding(t, kwJWE, 1), wantErr: ErrMalformed},
		{desc: "padded tag", compact: withPadding(t, dirJWE, 4), wantErr: ErrMalformed},
		{desc: "padded ciphertext", compact: withPadding(t, dirJWE, 3), wantErr: ErrMalformed},
		{desc: "non-canonical base64 in the tag", compact: nonCanonicalTail(t, dirJWE, 4), wantErr: ErrMalformed},
		{desc: "non-canonical base64 in the ciphertext", compact: nonCanonicalTail(t, dirJWE, 3), wantErr: ErrMalformed},
		{desc: "non-canonical base64 in the encrypted key", compact: nonCanonicalTail(t, kwJWE, 1), wantErr: ErrMalformed},
		{desc: "standard base64 alphabet", compact: rawPart(dirJWE, 3, strings.NewReplacer("-", "+", "_", "/").Replace(strings.Split(dirJWE, ".")[3])+"+"), wantErr: ErrMalformed},
		{desc: "empty IV", compact: editPart(t, dirJWE, 2, empty), wantErr: ErrMalformed},
		{desc: "empty tag", compact: editPart(t, dirJWE, 4, empty), wantErr: ErrMalformed},
		{desc: "A256KW header on a dir key", compact: setHeader(t, dirJWE, `{"alg":"A256KW","enc":"A256GCM","kid":"`+dir.Kid()+`"}`), wantErr: ErrUnsupportedAlgorithm},
		{desc: "A128GCM content encryption", compact: setHeader(t, dirJWE, `{"alg":"dir","enc":"A128GCM","kid":"`+dir.Kid()+`"}`), wantErr: ErrUnsupportedAlgorithm},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			t.Parallel()
			got, err := Decrypt(all, c.compact, nil)
			assert.ErrorIs(t, err, c.wantErr)
			assert.Nil(t, got)
		})
	}

	// The untampered originals still open: the checks refuse only what is not canonical.
	for _, compact := range []string{dirJWE, kwJWE, oaepJWE, ecdhJWE} {
		got, err := Decrypt(all, compact, nil)
		require.NoError(t, err)
		assert.Equal(t, []byte("data"), got)
	}
}

func TestVerifyRefusesNonCanonicalJWS(t *testing.T) {
	t.Parallel()
	es := newKey(t, ES256)
	hs := newKey(t, HS256)
	all := lookupOf(es, hs)
	esSig := mustSign(t, es)
	esPriv := es.private
	esHeader := `{"alg":"ES256","kid":"` + es.Kid() + `"}`

	cases := []struct {
		desc    string
		compact string
		mac     bool
		wantErr error
	}{
		{desc: "four parts", compact: esSig + ".", wantErr: ErrMalformed},
		{desc: "embedded jwk", compact: joseSign(t, jose.ES256, esPriv, withKid(es.Kid()).WithHeader("jwk", map[string]string{"kty": "EC"})), wantErr: ErrMalformed},
		{desc: "jku header", compact: joseSign(t, jose.ES256, esPriv, withKid(es.Kid()).WithHeader("jku", "https://evil.test/jwks")), wantErr: ErrMalformed},
		{desc: "x5u header", compact: joseSign(t, jose.ES256, esPriv, withKid(es.Kid()).WithHeader("x5u", "https://evil.test/cert")), wantErr: ErrMalformed},
		{desc: "typ header", compact: joseSign(t, jose.ES256, esPriv, withKid(es.Kid()).WithType("JWT")), wantErr: ErrMalformed},
		{desc: "b64 false (unencoded payload)", compact: joseSign(t, jose.ES256, esPriv, withKid(es.Kid()).WithBase64(false)), wantErr: ErrMalformed},
		{desc: "crit naming a header go-jose knows", compact: joseSign(t, jose.ES256, esPriv, withKid(es.Kid()).WithHeader("b64", true).WithCritical("b64")), wantErr: ErrMalformed},
		{desc: "duplicate kid member", compact: setHeader(t, esSig, `{"alg":"ES256","kid":"other","kid":"`+es.Kid()+`"}`), wantErr: ErrMalformed},
		{desc: "header with trailing data", compact: setHeader(t, esSig, esHeader+` {}`), wantErr: ErrMalformed},
		{desc: "padded signature", compact: withPadding(t, esSig, 2), wantErr: ErrMalformed},
		{desc: "non-canonical base64 in the signature", compact: nonCanonicalTail(t, esSig, 2), wantErr: ErrMalformed},
		{desc: "non-canonical base64 in the mac", compact: nonCanonicalTail(t, mustMAC(t, hs), 2), mac: true, wantErr: ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			t.Parallel()
			verify := Verify
			if c.mac {
				verify = VerifyMAC
			}
			got, err := verify(all, c.compact)
			assert.ErrorIs(t, err, c.wantErr)
			assert.Equal(t, Verification{}, got)
		})
	}
}
