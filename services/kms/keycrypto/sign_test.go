package keycrypto

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithmsOf(PurposeSign) {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			kid := newKid(t)
			m, err := Generate(alg, kid)
			require.NoError(t, err)
			key, err := Load(alg, kid, m.Private)
			require.NoError(t, err)
			public, err := LoadPublic(alg, kid, m.Public)
			require.NoError(t, err)

			cases := []struct {
				desc    string
				payload []byte
			}{
				{desc: "json payload", payload: []byte(`{"sub":"alice"}`)},
				{desc: "binary payload", payload: []byte{0, 1, 2, 0xfe, 0xff}},
				{desc: "empty payload", payload: []byte{}},
			}
			for _, tc := range cases {
				compact, err := Sign(key, tc.payload)
				require.NoError(t, err, tc.desc)
				parts := strings.Split(compact, ".")
				require.Len(t, parts, 3, tc.desc)
				assert.Equal(t, base64.RawURLEncoding.EncodeToString(tc.payload), parts[1], "%s: payload embedded", tc.desc)

				jws, err := jose.ParseSignedCompact(compact, ourSignatureAlgorithms)
				require.NoError(t, err, tc.desc)
				assert.Equal(t, kid, jws.Signatures[0].Protected.KeyID, tc.desc)
				assert.Equal(t, string(alg), jws.Signatures[0].Protected.Algorithm, tc.desc)

				for _, verifier := range []*Key{key, public} {
					got, err := Verify(lookupOf(verifier), compact)
					require.NoError(t, err, tc.desc)
					assert.True(t, got.Valid, tc.desc)
					assert.Equal(t, kid, got.Kid, tc.desc)
					assert.Equal(t, tc.payload, []byte(got.Payload), tc.desc)
				}
			}
		})
	}
}

func TestMACRoundTrip(t *testing.T) {
	t.Parallel()
	key := newKey(t, HS256)
	cases := []struct {
		desc string
		data []byte
	}{
		{desc: "text", data: []byte("message")},
		{desc: "empty", data: []byte{}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			compact, err := MAC(key, tc.data)
			require.NoError(t, err)
			jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.HS256})
			require.NoError(t, err)
			assert.Equal(t, key.Kid(), jws.Signatures[0].Protected.KeyID)

			got, err := VerifyMAC(lookupOf(key), compact)
			require.NoError(t, err)
			assert.Equal(t, Verification{Valid: true, Kid: key.Kid(), Payload: tc.data}, got)

			again, err := MAC(key, tc.data)
			require.NoError(t, err)
			assert.Equal(t, compact, again, "HMAC is deterministic")
		})
	}
}

func TestSignAndMACErrors(t *testing.T) {
	t.Parallel()
	es := newKey(t, ES256)
	pub, err := LoadPublic(ES256, es.Kid(), mustPublicJWK(t, es))
	require.NoError(t, err)
	cases := []struct {
		desc string
		op   func() (string, error)
		want error
	}{
		{desc: "sign with an encryption key", op: func() (string, error) { return Sign(newKey(t, A256GCM), []byte("x")) }, want: ErrWrongPurpose},
		{desc: "sign with a MAC key", op: func() (string, error) { return Sign(newKey(t, HS256), []byte("x")) }, want: ErrWrongPurpose},
		{desc: "sign with a public-only key", op: func() (string, error) { return Sign(pub, []byte("x")) }, want: ErrInvalidMaterial},
		{desc: "sign with nil", op: func() (string, error) { return Sign(nil, []byte("x")) }, want: ErrInvalidMaterial},
		{desc: "mac with a signing key", op: func() (string, error) { return MAC(es, []byte("x")) }, want: ErrWrongPurpose},
		{desc: "mac with an encryption key", op: func() (string, error) { return MAC(newKey(t, A256KW), []byte("x")) }, want: ErrWrongPurpose},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			out, err := tc.op()
			assert.ErrorIs(t, err, tc.want)
			assert.Empty(t, out)
		})
	}
}

// joseSign signs with go-jose directly, for JWS that Sign would never produce.
func joseSign(t *testing.T, alg jose.SignatureAlgorithm, key any, opts *jose.SignerOptions) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	require.NoError(t, err)
	jws, err := s.Sign([]byte(`{"crafted":true}`))
	require.NoError(t, err)
	out, err := jws.CompactSerialize()
	require.NoError(t, err)
	return out
}

func withKid(kid string) *jose.SignerOptions {
	return (&jose.SignerOptions{}).WithHeader("kid", kid)
}

func TestVerifyOutcomes(t *testing.T) {
	t.Parallel()
	es := newKey(t, ES256)
	ps := newKey(t, PS256)
	hs := newKey(t, HS256)
	ed := newKey(t, EdDSA)
	all := lookupOf(es, ps, hs, ed)
	esSig := mustSign(t, es)
	storeFailure := errors.New("database is down")

	// PS256 with a 0-byte salt: a valid RSASSA-PSS signature, but not the one RFC 7518 allows. go-jose's own
	// verifier would accept it; ours must not, which also shows that Verify runs our verifier.
	headerB64 := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"PS256","kid":"` + ps.Kid() + `"}`))
	payloadB64 := base64.RawURLEncoding.EncodeToString([]byte(`{"salt":0}`))
	digest := sha256.Sum256([]byte(headerB64 + "." + payloadB64))
	zeroSalt, err := rsa.SignPSS(rand.Reader, ps.private.(*rsa.PrivateKey), crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: 0})
	require.NoError(t, err)
	zeroSaltJWS := headerB64 + "." + payloadB64 + "." + base64.RawURLEncoding.EncodeToString(zeroSalt)

	type tc struct {
		desc      string
		compact   string
		lookup    Lookup
		mac       bool
		wantValid bool
		wantErr   error
	}
	cases := []tc{
		{desc: "genuine", compact: esSig, lookup: all, wantValid: true},
		{desc: "signature tampered", compact: flipPart(t, esSig, 2), lookup: all},
		{desc: "payload tampered", compact: flipPart(t, esSig, 1), lookup: all},
		{desc: "signature of another key under the same kid", compact: mustSign(t, newKeyWithKid(t, ES256, es.Kid())), lookup: all},
		{desc: "signature truncated", compact: editPart(t, esSig, 2, func(b []byte) []byte { return b[:len(b)-6] }), lookup: all},
		{desc: "PS256 with a salt length other than 32", compact: zeroSaltJWS, lookup: all},
		{desc: "mac tampered", compact: flipPart(t, mustMAC(t, hs), 2), lookup: all, mac: true},
		{desc: "genuine mac", compact: mustMAC(t, hs), lookup: all, mac: true, wantValid: true},
		{desc: "empty input", compact: "", lookup: all, wantErr: ErrMalformed},
		{desc: "two parts", compact: strings.Join(strings.Split(esSig, ".")[:2], "."), lookup: all, wantErr: ErrMalformed},
		{desc: "garbage", compact: "x.y.z", lookup: all, wantErr: ErrMalformed},
		{desc: "a JWE, not a JWS", compact: mustEncrypt(t, newKey(t, A256GCM)), lookup: all, wantErr: ErrMalformed},
		{desc: "no kid", compact: joseSign(t, jose.ES256, es.private, nil), lookup: all, wantErr: ErrMalformed},
		{desc: "unknown critical header", compact: joseSign(t, jose.ES256, es.private, withKid(es.Kid()).WithHeader("x", 1).WithCritical("x")), lookup: all, wantErr: ErrMalformed},
		{desc: "unknown kid", compact: esSig, lookup: lookupOf(ps), wantErr: ErrUnknownKid},
		{desc: "lookup failure passes through", compact: esSig, lookup: func(string) (*Key, error) { return nil, storeFailure }, wantErr: storeFailure},
		{desc: "alg none", compact: noneJWS(es.Kid()), lookup: all, wantErr: ErrUnsupportedAlgorithm},
		{desc: "RS512 refused", compact: joseSign(t, jose.RS512, ps.private, withKid(ps.Kid())), lookup: all, wantErr: ErrUnsupportedAlgorithm},
		{desc: "RS256 header on a PS256 key", compact: joseSign(t, jose.RS256, ps.private, withKid(ps.Kid())), lookup: all, wantErr: ErrUnsupportedAlgorithm},
		{desc: "ES384 header on an ES256 key", compact: joseSign(t, jose.ES384, newKey(t, ES384).private, withKid(es.Kid())), lookup: all, wantErr: ErrUnsupportedAlgorithm},
		{desc: "HS256 confusion with an EdDSA key's public bytes", compact: joseSign(t, jose.HS256, []byte(ed.public.(ed25519.PublicKey)), withKid(ed.Kid())), lookup: all, wantErr: ErrUnsupportedAlgorithm},
		{desc: "verify a mac", compact: mustMAC(t, hs), lookup: all, wantErr: ErrWrongPurpose},
		{desc: "verify-mac a signature", compact: esSig, lookup: all, mac: true, wantErr: ErrWrongPurpose},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			t.Parallel()
			verify := Verify
			if c.mac {
				verify = VerifyMAC
			}
			got, err := verify(c.lookup, c.compact)
			if c.wantErr != nil {
				assert.ErrorIs(t, err, c.wantErr)
				assert.Equal(t, Verification{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.wantValid, got.Valid)
			assert.NotEmpty(t, got.Kid)
			if !c.wantValid {
				assert.Nil(t, got.Payload, "no payload from an invalid signature")
			}
		})
	}
}

func mustMAC(t *testing.T, k *Key) string {
	t.Helper()
	out, err := MAC(k, []byte("data"))
	require.NoError(t, err)
	return out
}

func mustEncrypt(t *testing.T, k *Key) string {
	t.Helper()
	out, err := Encrypt(k, []byte("data"), nil)
	require.NoError(t, err)
	return out
}

// noneJWS is an unsigned JWS ("alg":"none"), which go-jose will not produce.
func noneJWS(kid string) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + kid + `"}`))
	return h + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"admin":true}`)) + "."
}

func TestPublicVerifierRefusesMismatches(t *testing.T) {
	t.Parallel()
	es := newKey(t, ES256)
	ed := newKey(t, EdDSA)
	rs := newKey(t, RS256)
	msg := []byte("m")
	cases := []struct {
		desc string
		v    publicVerifier
		alg  jose.SignatureAlgorithm
		sig  []byte
	}{
		{desc: "alg other than the key's", v: publicVerifier{alg: ES256, public: es.public}, alg: jose.ES384, sig: make([]byte, 64)},
		{desc: "ES256 with an Ed25519 key", v: publicVerifier{alg: ES256, public: ed.public}, alg: jose.ES256, sig: make([]byte, 64)},
		{desc: "ES256 signature of 63 bytes", v: publicVerifier{alg: ES256, public: es.public}, alg: jose.ES256, sig: make([]byte, 63)},
		{desc: "ES256 zero signature", v: publicVerifier{alg: ES256, public: es.public}, alg: jose.ES256, sig: make([]byte, 64)},
		{desc: "EdDSA with an EC key", v: publicVerifier{alg: EdDSA, public: es.public}, alg: jose.EdDSA, sig: make([]byte, 64)},
		{desc: "EdDSA zero signature", v: publicVerifier{alg: EdDSA, public: ed.public}, alg: jose.EdDSA, sig: make([]byte, 64)},
		{desc: "RS256 with an EC key", v: publicVerifier{alg: RS256, public: es.public}, alg: jose.RS256, sig: make([]byte, 256)},
		{desc: "RS256 zero signature", v: publicVerifier{alg: RS256, public: rs.public}, alg: jose.RS256, sig: make([]byte, 256)},
		{desc: "HS256 is not a public-key algorithm", v: publicVerifier{alg: HS256}, alg: jose.HS256, sig: make([]byte, 32)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Error(t, tc.v.VerifyPayload(msg, tc.sig, tc.alg))
		})
	}
}
