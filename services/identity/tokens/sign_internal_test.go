package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSignWithWritesAStandardJWS checks the hand-assembled compact JWS with
// another library (go-jose): the signature verifies, the protected header
// holds alg, kid and typ, the payload is the claims, and a key loaded by
// Keys (headers made once) signs with the same header as a bare Key.
func TestSignWithWritesAStandardJWS(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now().Truncate(time.Second)
	claims := &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://iss.test", Subject: "s", Audience: jwt.ClaimStrings{"kms"},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "j"},
		ClientID: "c<&>\"é", Scope: "a b", TenantID: "t",
	}
	want, err := json.Marshal(claims)
	require.NoError(t, err)
	bare := &Key{KID: "k1", Algorithm: ES256, Public: priv.Public(), Private: priv}
	loaded := *bare
	loaded.accessHeader, loaded.idHeader = encodeHeader(ES256, "k1", typAccess), encodeHeader(ES256, "k1", typID)

	for _, typ := range []string{typAccess, typID} {
		var headers []string
		for _, key := range []*Key{bare, &loaded} {
			raw, err := (&Issuer{}).signWith(key, typ, claims)
			require.NoError(t, err)
			jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
			require.NoError(t, err)
			payload, err := jws.Verify(priv.Public())
			require.NoError(t, err, "the signature verifies")
			assert.JSONEq(t, string(want), string(payload))
			h := jws.Signatures[0].Protected
			assert.Equal(t, "k1", h.KeyID)
			assert.Equal(t, "ES256", h.Algorithm)
			assert.Equal(t, typ, h.ExtraHeaders["typ"])
			headers = append(headers, strings.Split(raw, ".")[0])
		}
		assert.Equal(t, headers[0], headers[1], "a loaded key's header is the one made on the fly")
	}
}
