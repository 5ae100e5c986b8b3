package replicas_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestKeyRotatedOnOneReplicaIsUsedByTheOtherAtOnce rotates a key on one
// KMS replica and encrypts on the other right after, although the other
// replica has the old version cached (it encrypted with it just before):
// the new version must encrypt as soon as the rotation's notification has
// reached the other replica. The replicas' periodic generation read is set
// to a minute here, so only the notification can make the deadline; the
// deadline (2 s) only absorbs the notification's asynchronous delivery on
// a loaded machine, usually well under a millisecond: most rounds see the
// new version on the very next request, and the test logs the stale
// answers it saw. Each round swaps the replicas' roles.
func TestKeyRotatedOnOneReplicaIsUsedByTheOtherAtOnce(t *testing.T) {
	onPostgres(t, func(t *testing.T) {
		c := startCluster(t, map[string]any{"keys": map[string]any{"generation_refresh": "1m"}})
		ctx := fixture.ITContext(t)
		admins := [2]*api.ClientWithResponses{kmsAdmin(t, c.kms[0]), kmsAdmin(t, c.kms[1])}
		versioning := true
		created, err := admins[0].CreateElasticKeyWithResponse(ctx, api.CreateElasticKeyRequest{
			Name: factory.Name("replica-key"), Algorithm: api.A256GCM, VersioningAllowed: &versioning,
		})
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, created.StatusCode(), "create key: %s", created.Body)
		id := created.JSON201.Id

		encrypt := func(k int, plaintext string) (jwe, kid string) {
			t.Helper()
			r, err := admins[k].EncryptWithResponse(ctx, id, api.EncryptRequest{Plaintext: []byte(plaintext)})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, r.StatusCode(), "encrypt on kms[%d]: %s", k, r.Body)
			require.Equal(t, r.JSON200.Kid, jweKid(t, r.JSON200.Ciphertext), "the response's kid is the JWE header's")
			return r.JSON200.Ciphertext, r.JSON200.Kid
		}
		const rounds, bound = 6, 2 * time.Second
		stale := 0
		for round := range rounds {
			rotator, other := round%2, (round+1)%2
			_, before := encrypt(other, "before") // the other replica now has the primary cached
			rotated, err := admins[rotator].RotateElasticKeyWithResponse(ctx, id)
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, rotated.StatusCode(), "rotate on kms[%d]: %s", rotator, rotated.Body)
			rotatedAt, newKid := time.Now(), rotated.JSON201.Kid
			require.NotEqual(t, before, newKid)

			jwe, kid := encrypt(other, "after")
			for kid != newKid {
				require.Equal(t, before, kid, "round %d: kms[%d] encrypted with a version that is neither the old nor the new", round, other)
				require.False(t, time.Since(rotatedAt) > bound, "round %d: kms[%d] still encrypts with %s %s after kms[%d] rotated to %s",
					round, other, kid, time.Since(rotatedAt).Round(time.Millisecond), rotator, newKid)
				stale++
				time.Sleep(5 * time.Millisecond) // polling a bound, not synchronising
				jwe, kid = encrypt(other, "after")
			}
			// And the rotating replica opens it: the version is found by kid.
			dec, err := admins[rotator].DecryptWithResponse(ctx, id, api.DecryptRequest{Ciphertext: jwe})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, dec.StatusCode(), "decrypt on kms[%d]: %s", rotator, dec.Body)
			require.Equal(t, "after", string(dec.JSON200.Plaintext))
		}
		t.Logf("%d stale answers over %d rotations before the notification arrived", stale, rounds)
	})
}

// TestRevokedTokenIsRefusedByEveryReplica revokes an access token at
// Identity replica 1. That replica refuses it at once. Replica 0 learns of
// it from the database's change generation, which it reads at most once
// per tokens.change_check_interval (default 1 s): it refuses the token
// within that interval. Both KMS replicas introspect at the issuer's
// address (replica 0 here, the load balancer in a deployment) on every
// decrypt (a sensitive operation), so they refuse it within the same
// bound. The test allows the interval plus a margin for a loaded machine.
func TestRevokedTokenIsRefusedByEveryReplica(t *testing.T) {
	onPostgres(t, func(t *testing.T) {
		c := startCluster(t, nil)
		ctx := fixture.ITContext(t)
		svc := client(t, c.idp[0], "demo-service")
		tok := clientToken(ctx, t, c.idp[0], svc)
		key, err := tenant(t, c.kms[0]).KeyByAlgorithm("A256GCM")
		require.NoError(t, err)
		keyID, err := uuid.Parse(key.ID)
		require.NoError(t, err)

		enc, err := kmsAs(t, c.kms[0], tok).EncryptWithResponse(ctx, keyID, api.EncryptRequest{Plaintext: []byte("secret")})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, enc.StatusCode(), "encrypt: %s", enc.Body)
		decrypt := func(k int) int {
			t.Helper()
			r, err := kmsAs(t, c.kms[k], tok).DecryptWithResponse(ctx, keyID, api.DecryptRequest{Ciphertext: enc.JSON200.Ciphertext})
			require.NoError(t, err)
			return r.StatusCode()
		}
		// Before: every replica accepts the token (and has it cached).
		for i := range 2 {
			require.True(t, active(ctx, t, c.idp[i], tok), "identity[%d] before revocation", i)
			require.Equal(t, http.StatusOK, decrypt(i), "kms[%d] before revocation", i)
		}

		status, body := form(ctx, t, c.idp[1], "/oauth2/v1/revoke", svc, url.Values{"token": {tok}, "token_type_hint": {"access_token"}})
		require.Equal(t, http.StatusOK, status, "revoke: %v", body)
		revokedAt := time.Now()
		require.False(t, active(ctx, t, c.idp[1], tok), "the revoking replica refuses the token at once")

		bound := 1 * time.Second // tokens.change_check_interval's default, which the fixture keeps
		deadline := revokedAt.Add(bound + 4*time.Second)
		refused := map[string]func() bool{
			"identity[0]": func() bool { return !active(ctx, t, c.idp[0], tok) },
			"kms[0]":      func() bool { return decrypt(0) == http.StatusUnauthorized },
			"kms[1]":      func() bool { return decrypt(1) == http.StatusUnauthorized },
		}
		for name, isRefused := range refused {
			for !isRefused() {
				require.False(t, time.Now().After(deadline), "%s still accepts the token %s after it was revoked on identity[1]; the bound is %s",
					name, time.Since(revokedAt).Round(time.Millisecond), bound)
				time.Sleep(50 * time.Millisecond) // polling a bound, not synchronising
			}
			t.Logf("%s refuses the revoked token %s after revocation", name, time.Since(revokedAt).Round(time.Millisecond))
		}
	})
}

// TestRefreshRaceAcrossReplicasHasOneWinner presents one refresh token to
// both Identity replicas at the same moment, many times: exactly one gets
// tokens, the other invalid_grant; and as the loser presented a used
// token, the whole family is revoked (OAuth 2.1 reuse detection), so the
// winner's new refresh token is refused too, by either replica.
func TestRefreshRaceAcrossReplicasHasOneWinner(t *testing.T) {
	onPostgres(t, func(t *testing.T) {
		idp := startIdentityPair(t, nil)
		ctx := fixture.ITContext(t)
		web := client(t, idp[0], "demo-web")
		lb := &roundRobin{replicas: idp[:]}
		const rounds = 20
		for round := range rounds {
			rt := codeFlow(ctx, t, lb).RefreshToken
			require.NotEmpty(t, rt, "the code flow returned no refresh token")
			var (
				start  = make(chan struct{})
				wg     sync.WaitGroup
				status [2]int
				bodies [2]map[string]any
			)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					status[i], bodies[i] = form(ctx, t, idp[i], "/oauth2/v1/token", web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				}()
			}
			close(start)
			wg.Wait()
			winners := 0
			for i := range 2 {
				switch status[i] {
				case http.StatusOK:
					winners++
				case http.StatusBadRequest:
					require.Equal(t, "invalid_grant", bodies[i]["error"], "round %d: identity[%d]: %v", round, i, bodies[i])
				default:
					t.Fatalf("round %d: identity[%d] answered %d: %v", round, i, status[i], bodies[i])
				}
			}
			require.Equal(t, 1, winners, "round %d: %d replicas redeemed the same refresh token (statuses %v)", round, winners, status)
			won := 0
			if status[1] == http.StatusOK {
				won = 1
			}
			next, _ := bodies[won]["refresh_token"].(string)
			require.NotEmpty(t, next, "round %d: the winner got no new refresh token", round)
			for i := range 2 {
				s, b := form(ctx, t, idp[i], "/oauth2/v1/token", web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}})
				require.Equal(t, http.StatusBadRequest, s, "round %d: identity[%d] redeemed a refresh token of a revoked family: %v", round, i, b)
				require.Equal(t, "invalid_grant", b["error"])
			}
		}
	})
}

// TestLoginStartedOnOneReplicaCompletesOnTheOther drives the authorization
// code flow with PKCE through a round-robin balancer, so every request of
// the browser (authorize, login page, login post, consent) and the code
// exchange lands on the other replica than the one before it; then the
// tokens work on both, and the refresh on either.
func TestLoginStartedOnOneReplicaCompletesOnTheOther(t *testing.T) {
	onPostgres(t, func(t *testing.T) {
		idp := startIdentityPair(t, nil)
		ctx := fixture.ITContext(t)
		lb := &roundRobin{replicas: idp[:]}
		tok := codeFlow(ctx, t, lb)
		t.Logf("requests served: %q", lb.served)
		// The balancer alternates, so each step was served by the other
		// replica than the step before: the login form one replica rendered
		// was posted to the other, and so was the consent, and the code one
		// replica issued was exchanged at the other.
		require.Equal(t, "0 GET /oauth2/v1/authorize", lb.served[0])
		var paths []string
		for i, s := range lb.served {
			replica, path, _ := strings.Cut(s, " ")
			require.Equal(t, strconv.Itoa(i%2), replica, "request %d", i)
			paths = append(paths, path)
		}
		require.Equal(t, []string{"GET /oauth2/v1/authorize", "GET /oidc/v1/login", "POST /oidc/v1/login", "GET /oidc/v1/consent", "POST /oidc/v1/consent", "POST /oauth2/v1/token"}, paths)

		require.NotEmpty(t, tok.RefreshToken)
		for i := range 2 {
			assert.True(t, active(ctx, t, idp[i], tok.AccessToken), "identity[%d] knows the access token", i)
		}
		web := client(t, idp[0], "demo-web")
		status, body := form(ctx, t, idp[1], "/oauth2/v1/token", web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		require.Equal(t, http.StatusOK, status, "refresh on identity[1]: %v", body)
	})
}

// TestSigningKeyRotationRaceLeavesOneJWKS has both Identity replicas rotate
// their signing keys every few seconds (tokens.key_rotation_period 3 s,
// key_pre_publication 1.5 s, where production keeps 30 days and a day) and
// asks both for their JWKS at the same moment, every 20 ms: when a
// successor falls due, the first pair of requests after that moment makes
// both replicas run the rotation at once. Afterwards both publish the same
// keys, with exactly one more; once the successor signs, both replicas
// sign with it, and every token verifies against either replica's JWKS.
// Three rotations.
func TestSigningKeyRotationRaceLeavesOneJWKS(t *testing.T) {
	onPostgres(t, func(t *testing.T) {
		const period, prePublish = 3 * time.Second, 1500 * time.Millisecond
		idp := startIdentityPair(t, map[string]any{"tokens": map[string]any{
			"key_rotation_period": period.String(), "key_pre_publication": prePublish.String(),
		}})
		ctx := fixture.ITContext(t)
		svc := client(t, idp[0], "demo-service")

		jwks := func(i int) *jose.JSONWebKeySet {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, idp[i].URL+"/oauth2/v1/jwks", nil)
			require.NoError(t, err)
			resp, err := idp[i].Client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			set := &jose.JSONWebKeySet{}
			require.NoError(t, decodeJSON(resp.Body, set))
			return set
		}
		kids := func(set *jose.JSONWebKeySet) []string {
			var out []string
			for _, k := range set.Keys {
				out = append(out, k.KeyID)
			}
			slices.Sort(out)
			return out
		}
		// both asks both replicas at the same moment.
		both := func() [2][]string {
			var (
				start = make(chan struct{})
				wg    sync.WaitGroup
				got   [2][]string
			)
			for i := range 2 {
				wg.Go(func() {
					<-start
					got[i] = kids(jwks(i))
				})
			}
			close(start)
			wg.Wait()
			return got
		}
		signer := func(i int) *jose.JSONWebSignature {
			t.Helper()
			jws, err := jose.ParseSignedCompact(clientToken(ctx, t, idp[i], svc), []jose.SignatureAlgorithm{jose.ES256})
			require.NoError(t, err)
			return jws
		}

		before := kids(jwks(0))
		require.Equal(t, before, kids(jwks(1)))
		for round := range 3 {
			deadline := time.Now().Add(period + 5*time.Second)
			for {
				got := both()
				if len(got[0]) > len(before) || len(got[1]) > len(before) {
					break
				}
				require.False(t, time.Now().After(deadline), "round %d: no successor key after %s", round, period+5*time.Second)
				time.Sleep(20 * time.Millisecond) // polling for a due time, not synchronising
			}
			// Both replicas have now run their maintenance past the due
			// time (the last pair's requests did): they publish the same
			// keys, the ones before and exactly one successor.
			after := kids(jwks(0))
			require.Equal(t, after, kids(jwks(1)), "round %d: the replicas publish different JWKS", round)
			var added []string
			for _, kid := range after {
				if !slices.Contains(before, kid) {
					added = append(added, kid)
				}
			}
			require.Len(t, added, 1, "round %d: JWKS %v after %v: want exactly one new key", round, after, before)

			// Once the successor signs, both replicas sign with it.
			deadline = time.Now().Add(prePublish + 5*time.Second)
			for signer(0).Signatures[0].Header.KeyID != added[0] {
				require.False(t, time.Now().After(deadline), "round %d: identity[0] does not sign with the new key %s", round, added[0])
				time.Sleep(20 * time.Millisecond) // polling for a due time, not synchronising
			}
			published := [2]*jose.JSONWebKeySet{jwks(0), jwks(1)}
			require.Equal(t, kids(published[0]), kids(published[1]), "round %d: the replicas publish different JWKS once the new key signs", round)
			for i := range 2 {
				jws := signer(i)
				kid := jws.Signatures[0].Header.KeyID
				require.Equal(t, added[0], kid, "round %d: identity[%d] signs with %s, not the new key", round, i, kid)
				for j, set := range published {
					keys := set.Key(kid)
					require.Len(t, keys, 1, "round %d: identity[%d]'s JWKS lacks %s", round, j, kid)
					_, err := jws.Verify(keys[0])
					require.NoError(t, err, "round %d: a token of identity[%d] does not verify with identity[%d]'s JWKS", round, i, j)
				}
			}
			before = kids(published[0])
		}
	})
}
