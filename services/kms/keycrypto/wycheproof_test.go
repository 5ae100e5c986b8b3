package keycrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/c2sp/wycheproof"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Wycheproof (github.com/c2sp/wycheproof, pinned in go.mod) checks the primitives behind the JOSE objects.
//
// How results are treated: "valid" vectors must be accepted and "invalid" ones rejected. "acceptable" vectors
// (legal but dubious inputs, where either answer is compliant) must be rejected too: a KMS accepts only what
// is unambiguously valid. The pinned files hold no acceptable vectors for these four primitives; the counts
// below are asserted so that an update of the module that changes the vectors is noticed.

// readVectors decodes one vector file from the module's embedded test vectors.
func readVectors(t *testing.T, name string, into any) {
	t.Helper()
	data, err := fs.ReadFile(wycheproof.TestVectors, name)
	require.NoError(t, err, "read Wycheproof vectors %s", name)
	require.NoError(t, json.Unmarshal(data, into))
}

// hexBytes decodes the hex strings of the vector files.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	out, err := hex.DecodeString(s)
	*h = out
	return err
}

type vectorResult struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"` // valid | invalid | acceptable
}

// mustAccept applies the policy above.
func (v vectorResult) mustAccept() bool { return v.Result == "valid" }

type tally struct{ valid, invalid, acceptable int }

func (c *tally) add(result string) {
	switch result {
	case "valid":
		c.valid++
	case "invalid":
		c.invalid++
	default:
		c.acceptable++
	}
}

// contentAEAD is the JWE content cipher, A256GCM, built exactly as go-jose builds it for "enc":"A256GCM"
// (aes.NewCipher + cipher.NewGCM: 96-bit nonce, 128-bit tag). TestContentAEADIsTheJWECipher proves that it
// is the cipher of Encrypt/Decrypt's JWEs, in both directions, so the vectors below test that layer.
func contentAEAD(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return aead
}

func TestContentAEADIsTheJWECipher(t *testing.T) {
	t.Parallel()
	key := newKey(t, A256GCM)
	cases := []struct {
		desc      string
		plaintext []byte
		context   []byte
	}{
		{desc: "with context", plaintext: []byte("payload"), context: []byte("ctx")},
		{desc: "without context", plaintext: []byte("another payload")},
	}
	for _, tc := range cases {
		t.Run(tc.desc+"/Encrypt opened by the AEAD", func(t *testing.T) {
			t.Parallel()
			compact, err := Encrypt(key, tc.plaintext, tc.context)
			require.NoError(t, err)
			parts := strings.Split(compact, ".")
			require.Len(t, parts, 5)
			require.Empty(t, parts[1], "direct mode has no encrypted key")
			iv, ct, tag := b64(t, parts[2]), b64(t, parts[3]), b64(t, parts[4])
			require.Len(t, iv, 12)
			require.Len(t, tag, 16)
			// RFC 7516 §5.2: the AAD is the ASCII of the encoded protected header.
			got, err := contentAEAD(t, key.secret).Open(nil, iv, append(ct, tag...), []byte(parts[0]))
			require.NoError(t, err)
			assert.Equal(t, tc.plaintext, got)
		})
		t.Run(tc.desc+"/AEAD output opened by Decrypt", func(t *testing.T) {
			t.Parallel()
			header := map[string]string{"alg": "dir", "enc": "A256GCM", "kid": key.Kid()}
			if tc.context != nil {
				header["ctx"] = base64.RawURLEncoding.EncodeToString(tc.context)
			}
			rawHeader, err := json.Marshal(header)
			require.NoError(t, err)
			protected := base64.RawURLEncoding.EncodeToString(rawHeader)
			iv := bytes.Repeat([]byte{7}, 12)
			sealed := contentAEAD(t, key.secret).Seal(nil, iv, tc.plaintext, []byte(protected))
			ct, tag := sealed[:len(sealed)-16], sealed[len(sealed)-16:]
			compact := strings.Join([]string{protected, "", enc(iv), enc(ct), enc(tag)}, ".")
			got, err := Decrypt(lookupOf(key), compact, tc.context)
			require.NoError(t, err)
			assert.Equal(t, tc.plaintext, got)
		})
	}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	out, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return out
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestWycheproofAESGCM(t *testing.T) {
	t.Parallel()
	var file struct {
		TestGroups []struct {
			KeySize, IvSize, TagSize int
			Tests                    []struct {
				vectorResult
				Key, Iv, Aad, Msg, Ct, Tag hexBytes
			}
		}
	}
	readVectors(t, "aes_gcm_test.json", &file)
	var count tally
	for _, g := range file.TestGroups {
		// The JWE layer uses A256GCM only: 256-bit keys, 96-bit IVs, 128-bit tags.
		if g.KeySize != 256 || g.IvSize != 96 || g.TagSize != 128 {
			continue
		}
		for _, v := range g.Tests {
			count.add(v.Result)
			aead := contentAEAD(t, v.Key)
			opened, err := aead.Open(nil, v.Iv, append(append([]byte{}, v.Ct...), v.Tag...), v.Aad)
			if v.mustAccept() {
				if assert.NoError(t, err, "tcId %d (%s) must decrypt", v.TcID, v.Comment) {
					assert.Equal(t, []byte(v.Msg), nonNil(opened), "tcId %d plaintext", v.TcID)
				}
				sealed := aead.Seal(nil, v.Iv, v.Msg, v.Aad)
				assert.Equal(t, append(append([]byte{}, v.Ct...), v.Tag...), sealed, "tcId %d encryption", v.TcID)
			} else {
				assert.Error(t, err, "tcId %d (%s, %v) must be refused", v.TcID, v.Comment, v.Flags)
			}
		}
	}
	t.Logf("AES-256-GCM vectors: %+v", count)
	assert.Equal(t, tally{valid: 39, invalid: 27}, count)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// signatureVectors is the shape shared by the ECDSA P1363, EdDSA and RSA-PSS verify files.
type signatureVectors struct {
	TestGroups []struct {
		PublicKeyJwk json.RawMessage `json:"publicKeyJwk"`
		PublicKey    struct {
			Curve string   `json:"curve"`
			Wx    hexBytes `json:"wx"`
			Wy    hexBytes `json:"wy"`
		} `json:"publicKey"`
		Tests []struct {
			vectorResult
			Msg hexBytes `json:"msg"`
			Sig hexBytes `json:"sig"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// runSignatureVectors loads each group's public JWK with LoadPublic and verifies each vector with the very
// verifier that Verify hands to go-jose (the JWS signing input is replaced by the vector's message).
func runSignatureVectors(t *testing.T, file string, alg Algorithm, want tally) {
	t.Helper()
	var vectors signatureVectors
	readVectors(t, file, &vectors)
	require.NotEmpty(t, vectors.TestGroups)
	var count tally
	for gi, g := range vectors.TestGroups {
		jwk := g.PublicKeyJwk
		if jwk == nil {
			// A few ECDSA groups (edge-case r and x values) ship only the point; state it as a JWK.
			require.Equal(t, "secp256r1", g.PublicKey.Curve, "group %d has neither a JWK nor a P-256 point", gi)
			jwk = ecJWK(t, g.PublicKey.Wx, g.PublicKey.Wy)
		}
		var kid struct {
			Kid string `json:"kid"`
		}
		require.NoError(t, json.Unmarshal(jwk, &kid))
		if kid.Kid == "" {
			kid.Kid = "wycheproof"
		}
		key, err := LoadPublic(alg, kid.Kid, jwk)
		require.NoError(t, err, "group %d public key", gi)
		verifier := publicVerifier{alg: key.alg, public: key.public}
		for _, v := range g.Tests {
			count.add(v.Result)
			err := verifier.VerifyPayload(v.Msg, v.Sig, specs[alg].sigAlg)
			if v.mustAccept() {
				assert.NoError(t, err, "%s tcId %d (%s, %v) must verify", file, v.TcID, v.Comment, v.Flags)
			} else {
				assert.Error(t, err, "%s tcId %d (%s, %v) must be refused", file, v.TcID, v.Comment, v.Flags)
			}
		}
	}
	t.Logf("%s: %+v", file, count)
	assert.Equal(t, want, count)
}

// ecJWK writes a P-256 public JWK from Wycheproof's big-endian coordinates (which may carry a sign byte).
func ecJWK(t *testing.T, x, y []byte) json.RawMessage {
	t.Helper()
	coord := func(b []byte) string {
		b = bytes.TrimLeft(b, "\x00")
		require.LessOrEqual(t, len(b), 32)
		return enc(append(make([]byte, 32-len(b)), b...))
	}
	out, err := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": coord(x), "y": coord(y)})
	require.NoError(t, err)
	return out
}

func TestWycheproofECDSAP256P1363(t *testing.T) {
	t.Parallel()
	runSignatureVectors(t, "ecdsa_secp256r1_sha256_p1363_test.json", ES256, tally{valid: 173, invalid: 89})
}

func TestWycheproofEd25519(t *testing.T) {
	t.Parallel()
	runSignatureVectors(t, "ed25519_test.json", EdDSA, tally{valid: 88, invalid: 63})
}

func TestWycheproofRSAPSS2048SHA256(t *testing.T) {
	t.Parallel()
	runSignatureVectors(t, "rsa_pss_2048_sha256_mgf1_32_test.json", PS256, tally{valid: 63, invalid: 45})
}

// A JWS signature covers "header.payload", never an arbitrary message, so the vectors cannot be framed as
// compact JWS. They run through publicVerifier instead, and this test pins that publicVerifier is what checks
// a real JWS from Sign (TestVerifyOutcomes also shows Verify refusing a PSS salt go-jose's verifier accepts).
func TestVerifyUsesThePublicVerifier(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithmsOf(PurposeSign) {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := newKey(t, alg)
			compact := mustSign(t, key)
			parts := strings.Split(compact, ".")
			verifier := publicVerifier{alg: alg, public: key.public}
			assert.NoError(t, verifier.VerifyPayload([]byte(parts[0]+"."+parts[1]), b64(t, parts[2]), jose.SignatureAlgorithm(alg)))
		})
	}
}
