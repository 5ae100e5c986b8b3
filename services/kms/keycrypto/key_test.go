package keycrypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAlgorithm(t *testing.T) {
	t.Parallel()
	for _, alg := range Algorithms() {
		got, err := ParseAlgorithm(string(alg))
		require.NoError(t, err)
		assert.Equal(t, alg, got)
		assert.True(t, got.Valid())
	}
	cases := []struct{ desc, in string }{
		{desc: "empty", in: ""},
		{desc: "lower case", in: "a256gcm"},
		{desc: "surrounding space", in: " ES256"},
		{desc: "alg none", in: "none"},
		{desc: "JOSE but unsupported", in: "RS512"},
		{desc: "the JOSE name of direct mode", in: "dir"},
		{desc: "content encryption only", in: "A128GCM"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAlgorithm(tc.in)
			assert.ErrorIs(t, err, ErrUnsupportedAlgorithm)
			assert.Empty(t, got)
			assert.False(t, Algorithm(tc.in).Valid())
			assert.Empty(t, Algorithm(tc.in).Purpose())
		})
	}
}

func TestAlgorithmProperties(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc       string
		alg        Algorithm
		purpose    Purpose
		asymmetric bool
	}{
		{desc: "direct AES-GCM", alg: A256GCM, purpose: PurposeEncrypt},
		{desc: "AES key wrap", alg: A256KW, purpose: PurposeEncrypt},
		{desc: "RSA-OAEP", alg: RSAOAEP256, purpose: PurposeEncrypt, asymmetric: true},
		{desc: "ECDH-ES", alg: ECDHESA256KW, purpose: PurposeEncrypt, asymmetric: true},
		{desc: "ECDSA P-256", alg: ES256, purpose: PurposeSign, asymmetric: true},
		{desc: "ECDSA P-384", alg: ES384, purpose: PurposeSign, asymmetric: true},
		{desc: "Ed25519", alg: EdDSA, purpose: PurposeSign, asymmetric: true},
		{desc: "RSA PKCS#1 v1.5", alg: RS256, purpose: PurposeSign, asymmetric: true},
		{desc: "RSA-PSS", alg: PS256, purpose: PurposeSign, asymmetric: true},
		{desc: "HMAC", alg: HS256, purpose: PurposeMAC},
	}
	require.Len(t, cases, len(Algorithms()))
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.purpose, tc.alg.Purpose())
			assert.Equal(t, tc.asymmetric, tc.alg.Asymmetric())
			key := newKey(t, tc.alg)
			assert.Equal(t, tc.alg, key.Algorithm())
			assert.Equal(t, tc.purpose, key.Purpose())
			assert.True(t, key.HasPrivate())
		})
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	for _, alg := range Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			kid := newKid(t)
			m, err := Generate(alg, kid)
			require.NoError(t, err)

			var private map[string]any
			require.NoError(t, json.Unmarshal(m.Private, &private))
			assert.Equal(t, kid, private["kid"])
			assert.Equal(t, string(alg), private["alg"])

			if !alg.Asymmetric() {
				assert.Nil(t, m.Public)
				assert.Equal(t, "oct", private["kty"])
				return
			}
			var public map[string]any
			require.NoError(t, json.Unmarshal(m.Public, &public))
			assert.Equal(t, kid, public["kid"])
			assert.Equal(t, string(alg), public["alg"])
			assert.Equal(t, alg.use(), public["use"])
			for _, secretParam := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				assert.NotContains(t, public, secretParam)
			}
			assert.Contains(t, private, "d")

			if alg == RS256 || alg == PS256 || alg == RSAOAEP256 {
				k, err := Load(alg, kid, m.Private)
				require.NoError(t, err)
				assert.Equal(t, 2048, k.public.(*rsa.PublicKey).N.BitLen())
			}
		})
	}
	t.Run("two generations differ", func(t *testing.T) {
		t.Parallel()
		a, err := Generate(A256GCM, "k")
		require.NoError(t, err)
		b, err := Generate(A256GCM, "k")
		require.NoError(t, err)
		assert.NotEqual(t, a.Private, b.Private)
	})
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc string
		alg  Algorithm
		kid  string
		want error
	}{
		{desc: "unsupported algorithm", alg: "RS512", kid: "k", want: ErrUnsupportedAlgorithm},
		{desc: "empty algorithm", alg: "", kid: "k", want: ErrUnsupportedAlgorithm},
		{desc: "empty kid", alg: ES256, kid: "", want: ErrInvalidMaterial},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			m, err := Generate(tc.alg, tc.kid)
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, m.Private)
		})
	}
}

// jwkJSON marshals a JWK built in the test.
func jwkJSON(t *testing.T, jwk jose.JSONWebKey) []byte {
	t.Helper()
	out, err := jwk.MarshalJSON()
	require.NoError(t, err)
	return out
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	kid := newKid(t)
	es256, err := Generate(ES256, kid)
	require.NoError(t, err)
	es384, err := Generate(ES384, kid)
	require.NoError(t, err)
	gcm, err := Generate(A256GCM, kid)
	require.NoError(t, err)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)

	cases := []struct {
		desc   string
		public bool
		alg    Algorithm
		kid    string
		data   []byte
		want   error
	}{
		{desc: "not JSON", alg: ES256, kid: kid, data: []byte("not json"), want: ErrInvalidMaterial},
		{desc: "empty", alg: ES256, kid: kid, data: nil, want: ErrInvalidMaterial},
		{desc: "unsupported algorithm", alg: "HS512", kid: kid, data: gcm.Private, want: ErrUnsupportedAlgorithm},
		{desc: "empty kid", alg: ES256, kid: "", data: es256.Private, want: ErrInvalidMaterial},
		{desc: "material of another kid", alg: ES256, kid: "other", data: es256.Private, want: ErrInvalidMaterial},
		{desc: "material of another algorithm", alg: ES384, kid: kid, data: es256.Private, want: ErrInvalidMaterial},
		{desc: "P-384 key for ES256 (unlabelled)", alg: ES256, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: mustECPrivate(t, es384.Private)}), want: ErrInvalidMaterial},
		{desc: "symmetric key for a signing algorithm", alg: ES256, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: make([]byte, 32)}), want: ErrInvalidMaterial},
		{desc: "EC key for a symmetric algorithm", alg: A256GCM, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: p256}), want: ErrInvalidMaterial},
		{desc: "16-byte key for A256GCM", alg: A256GCM, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: make([]byte, 16)}), want: ErrInvalidMaterial},
		{desc: "EC key for EdDSA", alg: EdDSA, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: p256}), want: ErrInvalidMaterial},
		{desc: "EC key for RS256", alg: RS256, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: p256}), want: ErrInvalidMaterial},
		{desc: "RSA 1024 for RS256", alg: RS256, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: rsa1024}), want: ErrInvalidMaterial},
		{desc: "public JWK where private material is needed", alg: ES256, kid: kid, data: es256.Public, want: ErrInvalidMaterial},
		{desc: "public: private JWK refused", public: true, alg: ES256, kid: kid, data: es256.Private, want: ErrInvalidMaterial},
		{desc: "public: symmetric algorithm", public: true, alg: A256GCM, kid: kid, data: gcm.Private, want: ErrInvalidMaterial},
		{desc: "public: another kid", public: true, alg: ES256, kid: "other", data: es256.Public, want: ErrInvalidMaterial},
		{desc: "public: curve mismatch", public: true, alg: ES384, kid: kid, data: jwkJSON(t, jose.JSONWebKey{Key: &p256.PublicKey}), want: ErrInvalidMaterial},
		{desc: "public: not JSON", public: true, alg: ES256, kid: kid, data: []byte("{"), want: ErrInvalidMaterial},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			load := Load
			if tc.public {
				load = LoadPublic
			}
			k, err := load(tc.alg, tc.kid, tc.data)
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, k)
			if err != nil && len(tc.data) > 0 {
				assert.NotContains(t, err.Error(), string(tc.data), "the material never appears in an error")
			}
		})
	}
}

func mustECPrivate(t *testing.T, private []byte) *ecdsa.PrivateKey {
	t.Helper()
	var jwk jose.JSONWebKey
	require.NoError(t, jwk.UnmarshalJSON(private))
	return jwk.Key.(*ecdsa.PrivateKey)
}

func TestLoadAcceptsUnlabelledMaterial(t *testing.T) {
	t.Parallel()
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k, err := Load(ES256, "given-kid", jwkJSON(t, jose.JSONWebKey{Key: p256}))
	require.NoError(t, err)
	assert.Equal(t, "given-kid", k.Kid())
	sig, err := Sign(k, []byte("p"))
	require.NoError(t, err)
	v, err := Verify(lookupOf(k), sig)
	require.NoError(t, err)
	assert.True(t, v.Valid)
}

func TestKeyNeverLeaksSecrets(t *testing.T) {
	t.Parallel()
	for _, alg := range Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			kid := newKid(t)
			m, err := Generate(alg, kid)
			require.NoError(t, err)
			key, err := Load(alg, kid, m.Private)
			require.NoError(t, err)

			var jwk map[string]any
			require.NoError(t, json.Unmarshal(m.Private, &jwk))
			secretParam := "d"
			if !alg.Asymmetric() {
				secretParam = "k"
			}
			secretB64 := jwk[secretParam].(string)
			var secretHex string
			if key.secret != nil {
				secretHex = hex.EncodeToString(key.secret)
			}

			var logs bytes.Buffer
			slog.New(slog.NewJSONHandler(&logs, nil)).Info("loaded", "key", key, "material", m, "value", *key)
			keyJSON, err := json.Marshal(key)
			require.NoError(t, err)
			valueJSON, err := json.Marshal(*key)
			require.NoError(t, err)
			materialJSON, err := json.Marshal(m)
			require.NoError(t, err)

			outputs := map[string]string{"slog": logs.String(), "json key": string(keyJSON), "json value": string(valueJSON), "json material": string(materialJSON)}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
				outputs["key "+verb] = fmt.Sprintf(verb, key)
				outputs["value "+verb] = fmt.Sprintf(verb, *key)
				outputs["material "+verb] = fmt.Sprintf(verb, m)
				outputs["material pointer "+verb] = fmt.Sprintf(verb, &m)
			}
			for name, out := range outputs {
				assert.NotContains(t, out, secretB64, name)
				if secretHex != "" {
					assert.NotContains(t, out, secretHex, name)
				}
				assert.NotContains(t, out, string(m.Private), name)
			}
			assert.Contains(t, outputs["key %v"], kid)
			assert.JSONEq(t, fmt.Sprintf(`{"kid":%q,"alg":%q,"purpose":%q}`, kid, alg, alg.Purpose()), string(keyJSON))
			assert.Contains(t, logs.String(), kid)
		})
	}
}

func TestPublicJWKS(t *testing.T) {
	t.Parallel()
	var keys []*Key
	for _, alg := range Algorithms() {
		keys = append(keys, newKey(t, alg))
	}
	keys = append(keys, nil)
	set := PublicJWKS(keys)

	var want []string
	for _, k := range keys {
		if k != nil && k.Algorithm().Asymmetric() {
			want = append(want, k.Kid())
		}
	}
	require.Len(t, set.Keys, len(want), "one JWK per asymmetric key, none for symmetric ones")
	for i, jwk := range set.Keys {
		assert.Equal(t, want[i], jwk.KeyID)
		assert.True(t, jwk.IsPublic())
		assert.True(t, jwk.Valid())
		alg := Algorithm(jwk.Algorithm)
		assert.True(t, alg.Asymmetric())
		assert.Equal(t, alg.use(), jwk.Use)
	}
	raw, err := json.Marshal(set)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), `"d"`)
	assert.NotContains(t, string(raw), `"k"`)

	empty, err := json.Marshal(PublicJWKS(nil))
	require.NoError(t, err)
	assert.JSONEq(t, `{"keys":[]}`, string(empty), "an empty set is [] not null")
}

func TestErrorMatching(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("root cause")
	err := fmt.Errorf("handler: %w", newError(CodeDecrypt, "decrypt with key \"k\"", cause))
	cases := []struct {
		desc   string
		target error
		want   bool
	}{
		{desc: "same code", target: ErrDecrypt, want: true},
		{desc: "other code", target: ErrMalformed, want: false},
		{desc: "the cause", target: cause, want: true},
		{desc: "unrelated error", target: fmt.Errorf("root cause"), want: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errors.Is(err, tc.target))
		})
	}
	var kerr *Error
	require.ErrorAs(t, err, &kerr)
	assert.Equal(t, CodeDecrypt, kerr.Code)
	assert.Equal(t, `handler: keycrypto: decrypt_failed: decrypt with key "k": root cause`, err.Error())
	assert.Equal(t, "keycrypto: malformed", ErrMalformed.Error())
}
