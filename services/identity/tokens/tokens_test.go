package tokens_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/testkit/clock"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

type deps struct {
	st  *store.Store
	bar *barrier.Barrier
}

func newDeps(t *testing.T, b dbtest.Backend) deps {
	t.Helper()
	d := dbtest.Open(t, b)
	st, err := store.New(t.Context(), d)
	require.NoError(t, err)
	bar, err := barrier.Open(t.Context(), d.Gorm(), barrier.Options{Secrets: [][]byte{[]byte("an unseal secret of 32 bytes!!!!")}})
	require.NoError(t, err)
	return deps{st, bar}
}

func opts(alg string, c *clock.Fake) tokens.KeyOptions {
	return tokens.KeyOptions{Algorithm: alg, RotationPeriod: time.Hour, PrePublish: 10 * time.Minute, MaxTokenTTL: 5 * time.Minute, Now: c.Now}
}

func kids(t *testing.T, k *tokens.Keys) []string {
	t.Helper()
	set, err := k.JWKS(t.Context())
	require.NoError(t, err)
	var out []string
	for _, j := range set.Keys {
		out = append(out, j.KeyID)
	}
	return out
}

func TestKeysRotateWithOverlap(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := newDeps(t, b)
		c := clock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		k, err := tokens.NewKeys(t.Context(), d.st, d.bar, opts("", c))
		require.NoError(t, err)
		assert.Equal(t, tokens.ES256, k.Algorithm())
		s1, err := k.Signer(t.Context())
		require.NoError(t, err)
		require.Equal(t, []string{s1.KID}, kids(t, k))

		for _, step := range []struct {
			desc       string
			advance    time.Duration
			wantKids   int
			wantSigner string // "old" or "new"
		}{
			{desc: "before pre-publication", advance: 49 * time.Minute, wantKids: 1, wantSigner: "old"},
			{desc: "successor published, old key signs", advance: 2 * time.Minute, wantKids: 2, wantSigner: "old"},
			{desc: "successor signs, retired key still published", advance: 10 * time.Minute, wantKids: 2, wantSigner: "new"},
			{desc: "retired key gone after max token lifetime", advance: 5 * time.Minute, wantKids: 1, wantSigner: "new"},
		} {
			t.Run(step.desc, func(t *testing.T) {
				c.Advance(step.advance)
				assert.Len(t, kids(t, k), step.wantKids)
				s, err := k.Signer(t.Context())
				require.NoError(t, err)
				if step.wantSigner == "old" {
					assert.Equal(t, s1.KID, s.KID)
				} else {
					assert.NotEqual(t, s1.KID, s.KID)
				}
			})
		}
		_, err = k.Verifier(t.Context(), s1.KID)
		assert.ErrorIs(t, err, tokens.ErrUnknownKey, "a retired key past its overlap verifies nothing")

		// A second Keys over the same store (a restart) sees the same set.
		k2, err := tokens.NewKeys(t.Context(), d.st, d.bar, opts(tokens.ES256, c))
		require.NoError(t, err)
		assert.Equal(t, kids(t, k), kids(t, k2))

		// A long downtime: the successor is still pre-published before it signs.
		c.Advance(3 * time.Hour)
		k3, err := tokens.NewKeys(t.Context(), d.st, d.bar, opts(tokens.ES256, c))
		require.NoError(t, err)
		cur, _ := k3.Signer(t.Context())
		assert.Len(t, kids(t, k3), 2)
		c.Advance(10 * time.Minute)
		next, _ := k3.Signer(t.Context())
		assert.NotEqual(t, cur.KID, next.KID)
	})
}

func TestAlgorithmsSignAndVerify(t *testing.T) {
	d := newDeps(t, dbtest.SQLite)
	c := clock.New(time.Now())
	var prev string
	for _, tc := range []struct {
		desc string
		alg  string
		kty  string
	}{
		{desc: "ES256", alg: tokens.ES256, kty: "EC"},
		{desc: "RS256", alg: tokens.RS256, kty: "RSA"},
		{desc: "EdDSA", alg: tokens.EdDSA, kty: "OKP"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			k, err := tokens.NewKeys(t.Context(), d.st, d.bar, opts(tc.alg, c))
			require.NoError(t, err)
			if prev != "" {
				// Changing the algorithm rotates: the new key is pre-published first.
				s, _ := k.Signer(t.Context())
				assert.Equal(t, prev, s.Algorithm)
				c.Advance(11 * time.Minute)
			}
			s, err := k.Signer(t.Context())
			require.NoError(t, err)
			require.Equal(t, tc.alg, s.Algorithm)
			prev = tc.alg
			set, err := k.JWKS(t.Context())
			require.NoError(t, err)
			var found bool
			for _, j := range set.Keys {
				if j.KeyID == s.KID {
					found = true
					raw, err := j.MarshalJSON()
					require.NoError(t, err)
					assert.Contains(t, string(raw), `"kty":"`+tc.kty+`"`)
					assert.Equal(t, "sig", j.Use)
					assert.True(t, j.Valid(), "a well-formed public key")
				}
			}
			assert.True(t, found)

			iss := &tokens.Issuer{Keys: k, Issuer: "https://iss.test", Now: c.Now}
			now := c.Now()
			ac := &tokens.AccessClaims{
				RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://iss.test", Subject: "s", Audience: jwt.ClaimStrings{"kms"},
					ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "j"},
				ClientID: "c", Scope: "a b", TenantID: "t",
			}
			raw, err := iss.SignAccess(t.Context(), ac)
			require.NoError(t, err)
			got, err := iss.ParseAccess(t.Context(), raw, "kms")
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "b"}, got.Scopes())
			_, err = iss.ParseAccess(t.Context(), raw, "other")
			assert.ErrorIs(t, err, tokens.ErrInvalidToken)
			_, err = iss.ParseID(t.Context(), raw)
			assert.ErrorIs(t, err, tokens.ErrInvalidToken, "an access token is no ID token")

			idc := &tokens.IDClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://iss.test", Subject: "s", Audience: jwt.ClaimStrings{"c"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}}
			idRaw, err := iss.SignID(t.Context(), idc, raw)
			require.NoError(t, err)
			parsed, err := iss.ParseID(t.Context(), idRaw)
			require.NoError(t, err)
			assert.Equal(t, tokens.AtHash(tc.alg, raw), parsed.AtHash)
			_, err = iss.ParseAccess(t.Context(), idRaw, "")
			assert.ErrorIs(t, err, tokens.ErrInvalidToken, "an ID token is no access token")
			wrongIss := &tokens.Issuer{Keys: k, Issuer: "https://other.test", Now: c.Now}
			_, err = wrongIss.ParseID(t.Context(), idRaw)
			assert.ErrorIs(t, err, tokens.ErrInvalidToken)
		})
	}
}

func TestAtHash(t *testing.T) {
	s256 := sha256.Sum256([]byte("tok"))
	s512 := sha512.Sum512([]byte("tok"))
	for _, tc := range []struct {
		desc, alg, want string
	}{
		{desc: "ES256 uses SHA-256", alg: tokens.ES256, want: base64.RawURLEncoding.EncodeToString(s256[:16])},
		{desc: "RS256 uses SHA-256", alg: tokens.RS256, want: base64.RawURLEncoding.EncodeToString(s256[:16])},
		{desc: "EdDSA uses SHA-512", alg: tokens.EdDSA, want: base64.RawURLEncoding.EncodeToString(s512[:32])},
	} {
		t.Run(tc.desc, func(t *testing.T) { assert.Equal(t, tc.want, tokens.AtHash(tc.alg, "tok")) })
	}
}

func TestKeyOptionsValidated(t *testing.T) {
	d := newDeps(t, dbtest.SQLite)
	for _, tc := range []struct {
		desc string
		o    tokens.KeyOptions
	}{
		{desc: "unknown algorithm", o: tokens.KeyOptions{Algorithm: "HS256", RotationPeriod: time.Hour, MaxTokenTTL: time.Minute}},
		{desc: "no rotation period", o: tokens.KeyOptions{MaxTokenTTL: time.Minute}},
		{desc: "pre-publication not shorter than rotation", o: tokens.KeyOptions{RotationPeriod: time.Hour, PrePublish: time.Hour, MaxTokenTTL: time.Minute}},
		{desc: "no max token lifetime", o: tokens.KeyOptions{RotationPeriod: time.Hour}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := tokens.NewKeys(t.Context(), d.st, d.bar, tc.o)
			assert.Error(t, err)
		})
	}
}

// TestTimeClaimsWithSmallLeeway pins exp, nbf and iat checking: a few
// seconds of clock skew between instances is tolerated, more is not.
func TestTimeClaimsWithSmallLeeway(t *testing.T) {
	d := newDeps(t, dbtest.SQLite)
	c := clock.New(time.Now().Truncate(time.Second))
	k, err := tokens.NewKeys(t.Context(), d.st, d.bar, opts(tokens.ES256, c))
	require.NoError(t, err)
	iss := &tokens.Issuer{Keys: k, Issuer: "https://iss.test", Now: c.Now}
	now := c.Now()
	within, beyond := tokens.ClockSkew/2, tokens.ClockSkew+5*time.Second
	for _, tc := range []struct {
		desc  string
		edit  func(rc *jwt.RegisteredClaims)
		valid bool
	}{
		{desc: "current", edit: func(*jwt.RegisteredClaims) {}, valid: true},
		{desc: "expired within the leeway", edit: func(rc *jwt.RegisteredClaims) { rc.ExpiresAt = jwt.NewNumericDate(now.Add(-within)) }, valid: true},
		{desc: "expired beyond the leeway", edit: func(rc *jwt.RegisteredClaims) { rc.ExpiresAt = jwt.NewNumericDate(now.Add(-beyond)) }},
		{desc: "no exp", edit: func(rc *jwt.RegisteredClaims) { rc.ExpiresAt = nil }},
		{desc: "issued slightly in the future (skewed instance)", edit: func(rc *jwt.RegisteredClaims) { rc.IssuedAt = jwt.NewNumericDate(now.Add(within)) }, valid: true},
		{desc: "issued far in the future", edit: func(rc *jwt.RegisteredClaims) { rc.IssuedAt = jwt.NewNumericDate(now.Add(beyond)) }},
		{desc: "not yet valid beyond the leeway", edit: func(rc *jwt.RegisteredClaims) { rc.NotBefore = jwt.NewNumericDate(now.Add(beyond)) }},
		{desc: "not before within the leeway", edit: func(rc *jwt.RegisteredClaims) { rc.NotBefore = jwt.NewNumericDate(now.Add(within)) }, valid: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ac := &tokens.AccessClaims{
				RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://iss.test", Subject: "s", Audience: jwt.ClaimStrings{"kms"},
					ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ID: "j"},
				ClientID: "c", TenantID: "t",
			}
			tc.edit(&ac.RegisteredClaims)
			raw, err := iss.SignAccess(t.Context(), ac)
			require.NoError(t, err)
			_, err = iss.ParseAccess(t.Context(), raw, "kms")
			if tc.valid {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tokens.ErrInvalidToken)
			}
		})
	}
}
