package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// m2Kid is the kid in a token's JOSE header (read without verifying: the
// test only wants to know which Identity key signed it).
func m2Kid(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	require.NoError(t, err)
	kid, _ := parsed.Header["kid"].(string)
	require.NotEmpty(t, kid, "token has a kid")
	return kid
}

// m2Forger signs access tokens that claim an issuer with a key that issuer
// never published, each under a fresh random kid.
type m2Forger struct {
	key *ecdsa.PrivateKey
}

func m2NewForger(t *testing.T) *m2Forger {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return &m2Forger{key: key}
}

func (f *m2Forger) token(t *testing.T, issuer, tenantID string, now time.Time) string {
	t.Helper()
	kid := make([]byte, 8)
	_, err := rand.Read(kid)
	require.NoError(t, err)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": issuer, "aud": kmsserver.DefaultAudience, "sub": "forger", "client_id": "forger",
		"tenant_id": tenantID, "scope": "kms:admin kms:write kms:read", "jti": uuid.NewString(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = hex.EncodeToString(kid)
	raw, err := tok.SignedString(f.key)
	require.NoError(t, err)
	return raw
}

// TestBearerKeyRotation: Identity rotates its signing key (its clock moves
// past the rotation schedule); the KMS, which cached the old key set for a
// day, accepts a token signed by the new key without a restart, fetching
// the key set exactly once more. A flood of forged tokens under unknown
// kids then costs at most one fetch per 10 s of the KMS clock, and the
// genuine token keeps working throughout.
func TestBearerKeyRotation(t *testing.T) {
	const (
		rotation   = time.Hour
		prePublish = 10 * time.Minute
		flood      = 16
	)
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		pki := filepath.Join(t.TempDir(), "tls")
		// One clock for both services: token times stay within the leeway
		// however far the test moves it.
		clk := fixture.NewIdentityClock(time.Now())
		idp := fixture.StartIdentity(t, b, fixture.WithIdentityPKIDir(pki), fixture.WithIdentityClock(clk.Now),
			fixture.WithIdentityConfig(func(c *identityserver.Config) {
				c.Tokens.KeyRotationPeriod = rotation
				c.Tokens.KeyPrePublication = prePublish
			}))
		is := m2Issuer(t, idp, kmsserver.RevocationNone, 0)
		is.JWKSCacheTTL = 24 * time.Hour // only an unknown kid can make the KMS fetch again
		k := m2StartKMS(t, b, pki, idp, clk, nil, is)
		fetches := func() uint64 { return k.Tokens.Stats().JWKSFetches }
		list := func(tok string) m2Answer {
			return m2Send(t, k, "", m2List, m2Bearer(tok))
		}

		old := m2Token(t, idp, 0, m2ServicePrefix)
		oldKid := m2Kid(t, old)
		a := list(old)
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		require.Equal(t, uint64(1), fetches(), "the key set is fetched once (at start or by the first token)")

		// Past the rotation time: Identity publishes a successor, which
		// signs only after the pre-publication period.
		clk.Advance(2 * rotation)
		pre := m2Token(t, idp, 0, m2ServicePrefix)
		assert.Equal(t, oldKid, m2Kid(t, pre), "the old key signs during pre-publication")
		a = list(pre)
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		assert.Equal(t, uint64(1), fetches(), "a known kid needs no fetch")

		clk.Advance(prePublish + time.Second)
		rotated := m2Token(t, idp, 0, m2ServicePrefix)
		newKid := m2Kid(t, rotated)
		require.NotEqual(t, oldKid, newKid, "Identity signs with its new key")
		a = list(rotated)
		require.Equal(t, http.StatusOK, a.Status, "the KMS accepts the new key without a restart: %s", a.Body)
		assert.Equal(t, uint64(2), fetches(), "the unknown kid made exactly one fetch")
		a = list(rotated)
		require.Equal(t, http.StatusOK, a.Status, a.Body)
		assert.Equal(t, uint64(2), fetches(), "the new key is now known")

		forger := m2NewForger(t)
		tenantID := idp.Tenant(t, 0).ID
		steps := []struct {
			desc    string
			advance time.Duration
			fetches uint64 // JWK set fetches the flood may cause
		}{
			{"right after the last fetch: none", 0, 0},
			{"9 s later: still none", 9 * time.Second, 0},
			{"10 s after the last fetch: one for the whole flood", time.Second, 1},
			{"5 s later: none", 5 * time.Second, 0},
			{"10 s after the previous flood's fetch: one again", 5 * time.Second, 1},
			{"a minute later: one", time.Minute, 1},
		}
		for _, s := range steps {
			clk.Advance(s.advance)
			before := fetches()
			statuses := make([]int, flood)
			var wg sync.WaitGroup
			for i := range flood {
				forged := forger.token(t, idp.Demo.Issuer, tenantID, clk.Now())
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Not m2Call: require must not run outside the test goroutine.
					req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, k.URL+"/api/v1/elastic-keys", nil)
					if err != nil {
						return
					}
					req.Header.Set("Authorization", "Bearer "+forged)
					resp, err := k.Client.Do(req)
					if err != nil {
						return
					}
					statuses[i] = resp.StatusCode
					_ = resp.Body.Close()
				}()
			}
			wg.Wait()
			for i, st := range statuses {
				assert.Equal(t, http.StatusUnauthorized, st, "%s: forged token %d", s.desc, i)
			}
			assert.Equal(t, s.fetches, fetches()-before, "%s: JWK set fetches for %d forged tokens", s.desc, flood)
			a := list(rotated)
			assert.Equal(t, http.StatusOK, a.Status, "%s: the genuine token still works: %s", s.desc, a.Body)
		}
	})
}
