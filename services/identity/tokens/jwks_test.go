package tokens_test

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestJWKSECKeyIsItsUncompressedPoint pins the JWKS bytes of an ES256 key to the encoding derived from
// ecdsa.PublicKey.Bytes (the SEC 1 point 0x04||x||y), not from the deprecated X/Y big.Int fields: x and y
// are each exactly 32 bytes, leading zeros kept (RFC 7518 §6.2.1.2), and the members keep the order
// relying parties have always been served.
func TestJWKSECKeyIsItsUncompressedPoint(t *testing.T) {
	d := newDeps(t, dbtest.SQLite)
	k, err := tokens.NewKeys(t.Context(), d.st, d.bar, opts(tokens.ES256, clock.New(time.Now())))
	require.NoError(t, err)
	s, err := k.Signer(t.Context())
	require.NoError(t, err)
	pub, ok := s.Public.(*ecdsa.PublicKey)
	require.True(t, ok, "an ES256 key is ECDSA")
	point, err := pub.Bytes()
	require.NoError(t, err)
	require.Len(t, point, 65, "uncompressed P-256 point")
	b64 := base64.RawURLEncoding.EncodeToString
	want := `{"keys":[{"use":"sig","kty":"EC","kid":"` + s.KID + `","crv":"P-256","alg":"ES256",` +
		`"x":"` + b64(point[1:33]) + `","y":"` + b64(point[33:]) + `"}]}`

	set, err := k.JWKS(t.Context())
	require.NoError(t, err)
	got, err := json.Marshal(set)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))

	// The same key, served twice, is the same bytes.
	again, err := k.JWKS(t.Context())
	require.NoError(t, err)
	gotAgain, err := json.Marshal(again)
	require.NoError(t, err)
	assert.Equal(t, got, gotAgain)
}
