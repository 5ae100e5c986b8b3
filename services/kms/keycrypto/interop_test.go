package keycrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// independentJWKS parses a published JWKS with encoding/json and crypto/* only, so the check below does not
// rely on go-jose in any way.
func independentJWKS(t *testing.T, raw []byte) map[string]crypto.PublicKey {
	t.Helper()
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Use, Crv, X, Y, N, E string
		} `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(raw, &set))
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		switch k.Kty {
		case "EC":
			curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}[k.Crv]
			require.NotNil(t, curve, "curve %q", k.Crv)
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, dec(k.X)...), dec(k.Y)...))
			require.NoError(t, err)
			keys[k.Kid] = pub
		case "OKP":
			require.Equal(t, "Ed25519", k.Crv)
			keys[k.Kid] = ed25519.PublicKey(dec(k.X))
		case "RSA":
			keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k.N)), E: int(new(big.Int).SetBytes(dec(k.E)).Int64())}
		default:
			t.Fatalf("unexpected kty %q", k.Kty)
		}
	}
	return keys
}

func TestSignaturesVerifyWithGolangJWTFromJWKS(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var keys []*Key
	for _, alg := range algorithmsOf(PurposeSign) {
		keys = append(keys, newKey(t, alg))
	}
	// Only what a client would see: the JWKS JSON.
	raw, err := json.Marshal(PublicJWKS(keys))
	require.NoError(t, err)
	published := independentJWKS(t, raw)
	require.Len(t, published, len(keys))

	keyfunc := func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		pub, ok := published[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q not in the JWKS", kid)
		}
		return pub, nil
	}
	for _, key := range keys {
		t.Run(string(key.Algorithm()), func(t *testing.T) {
			t.Parallel()
			claims, err := json.Marshal(map[string]any{
				"iss": "https://kms.passthru.test", "sub": "alice", "aud": "orders",
				"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			})
			require.NoError(t, err)
			compact, err := Sign(key, claims)
			require.NoError(t, err)

			cases := []struct {
				desc  string
				token string
				valid bool
			}{
				{desc: "as signed", token: compact, valid: true},
				{desc: "signature tampered", token: flipPart(t, compact, 2)},
				{desc: "claims tampered", token: flipPartJSON(t, compact)},
			}
			for _, tc := range cases {
				tok, err := jwt.Parse(tc.token, keyfunc,
					jwt.WithValidMethods([]string{string(key.Algorithm())}),
					jwt.WithAudience("orders"), jwt.WithIssuer("https://kms.passthru.test"),
					jwt.WithTimeFunc(func() time.Time { return now }))
				if !tc.valid {
					assert.Error(t, err, tc.desc)
					continue
				}
				require.NoError(t, err, tc.desc)
				assert.True(t, tok.Valid, tc.desc)
				sub, err := tok.Claims.GetSubject()
				require.NoError(t, err)
				assert.Equal(t, "alice", sub, tc.desc)
				assert.Equal(t, key.Kid(), tok.Header["kid"], tc.desc)
			}
		})
	}
}

// flipPartJSON replaces the claims with other, well-formed claims under the original signature.
func flipPartJSON(t *testing.T, compact string) string {
	t.Helper()
	parts := strings.Split(compact, ".")
	require.Len(t, parts, 3)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://kms.passthru.test","sub":"mallory","aud":"orders"}`))
	return strings.Join(parts, ".")
}
