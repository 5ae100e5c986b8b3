package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

const keysPath = "/api/v1/elastic-keys"

// checks returns the PBKDF2 checks the server spent on fn.
func checks(k *fixture.KMS, fn func()) int64 {
	before := k.Basic.PasswordChecks()
	fn()
	return k.Basic.PasswordChecks() - before
}

// requireProblem checks a refusal's status, problem code and Retry-After.
func requireProblem(t *testing.T, r response, status int, code, retryAfter string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, httpx.ProblemContentType, r.header.Get("Content-Type"))
	assert.Equal(t, code, r.str(t, "code"))
	assert.Equal(t, retryAfter, r.header.Get("Retry-After"))
}

// TestBasicLockout: after five wrong passwords in a row a user is locked:
// 429 with Retry-After, and the right password is refused too, without a
// PBKDF2 check. Before the verifier, sixty wrong passwords and then the
// right one were all answered, the last with 200.
func TestBasicLockout(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		victim := demoCaller(t, k, 0, "writer")
		wrong := caller{name: "guesser", username: victim.username, password: "not-the-password"}
		for i := range credential.DefaultLockoutThreshold {
			r := do(t, k, wrong, http.MethodGet, keysPath, nil)
			requireProblem(t, r, http.StatusUnauthorized, "unauthenticated", "")
			require.NotEmpty(t, r.header.Values("WWW-Authenticate"), "failure %d", i)
		}
		var r response
		assert.Zero(t, checks(k, func() { r = do(t, k, victim, http.MethodGet, keysPath, nil) }), "a locked account is refused without hashing")
		requireProblem(t, r, http.StatusTooManyRequests, "too_many_attempts", "60")
		assert.Empty(t, r.header.Values("WWW-Authenticate"), "no challenge: other credentials would not help")

		for range 60 {
			requireProblem(t, do(t, k, wrong, http.MethodGet, keysPath, nil), http.StatusTooManyRequests, "too_many_attempts", "60")
		}
		requireProblem(t, do(t, k, victim, http.MethodGet, keysPath, nil), http.StatusTooManyRequests, "too_many_attempts", "60")

		other := demoCaller(t, k, 0, "reader")
		assert.Equal(t, http.StatusOK, do(t, k, other, http.MethodGet, keysPath, nil).status, "other users are not affected")
	})
}

// TestBasicConcurrentFirstRequests: a hundred requests at once with one
// credential nobody presented before pay one PBKDF2 between them. The cost
// is raised so that the requests overlap the first check, as they do at
// production cost (at the fixture's cost one check ends before the next
// request arrives, and each request would pay its own unnoticed).
func TestBasicConcurrentFirstRequests(t *testing.T) {
	const n = 100
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b, func(o *kmsserver.Options) { o.PBKDF2Iterations = 200_000 })
		who := demoCaller(t, k, 0, "writer")
		statuses := make([]int, n)
		spent := checks(k, func() {
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, k.URL+keysPath, nil)
					if err != nil {
						return
					}
					req.SetBasicAuth(who.username, who.password)
					resp, err := k.Client.Do(req)
					if err != nil {
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			close(start)
			wg.Wait()
		})
		for i, s := range statuses {
			require.Equal(t, http.StatusOK, s, "request %d", i)
		}
		assert.EqualValues(t, 1, spent, "PBKDF2 checks for %d concurrent first requests", n)
	})
}

// TestBasicFloodLeavesCachedCredentialsServed: with the pool of uncached
// checks full (as a flood of unknown or wrong credentials fills it), every
// uncached request is refused with 503 and Retry-After, without hashing,
// while a credential verified earlier is still answered: it never enters
// the pool.
func TestBasicFloodLeavesCachedCredentialsServed(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	cached := demoCaller(t, k, 0, "reader")
	require.Equal(t, http.StatusOK, do(t, k, cached, http.MethodGet, keysPath, nil).status)

	pool := k.Basic.Verifier().Pool()
	var held []*credential.Ticket
	for {
		tk, err := pool.Reserve()
		if err != nil {
			break
		}
		held = append(held, tk)
	}
	require.NotEmpty(t, held)
	released := false
	release := func() {
		if !released {
			for _, tk := range held {
				tk.Release()
			}
			released = true
		}
	}
	t.Cleanup(release)

	uncached := demoCaller(t, k, 0, "writer")
	spent := checks(k, func() {
		for i := range 20 {
			flood := caller{name: "flood", username: fmt.Sprintf("flood-%d", i), password: "whatever-pass"}
			requireProblem(t, do(t, k, flood, http.MethodGet, keysPath, nil), http.StatusServiceUnavailable, "busy", "1")
			assert.Equal(t, http.StatusOK, do(t, k, cached, http.MethodGet, keysPath, nil).status, "cached request %d", i)
		}
		requireProblem(t, do(t, k, uncached, http.MethodGet, keysPath, nil), http.StatusServiceUnavailable, "busy", "1")
	})
	assert.Zero(t, spent, "nothing was hashed while the pool was full")

	release()
	assert.Equal(t, http.StatusOK, do(t, k, uncached, http.MethodGet, keysPath, nil).status, "served once the pool has room")
}

// TestBasicRefusesControlBytesInPasswords: PBKDF2 pads short keys with
// zeros, so the right password with a NUL appended used to sign in. It is
// now refused like a wrong password, at the cost of one PBKDF2.
func TestBasicRefusesControlBytesInPasswords(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	who := demoCaller(t, k, 0, "writer")
	wrong := do(t, k, caller{username: who.username, password: "not-the-password"}, http.MethodGet, keysPath, nil)
	requireProblem(t, wrong, http.StatusUnauthorized, "unauthenticated", "")
	for _, suffix := range []string{"\x00", "\x00\x00", "\n"} {
		var r response
		spent := checks(k, func() {
			r = do(t, k, caller{username: who.username, password: who.password + suffix}, http.MethodGet, keysPath, nil)
		})
		requireProblem(t, r, http.StatusUnauthorized, "unauthenticated", "")
		assert.JSONEq(t, string(wrong.body), string(r.body), "the same answer as a wrong password")
		assert.EqualValues(t, 1, spent, "the same cost as a wrong password")
	}
	assert.Equal(t, http.StatusOK, do(t, k, who, http.MethodGet, keysPath, nil).status)
}
