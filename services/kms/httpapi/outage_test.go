package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestDatabaseOutageIs503: while the KMS's PostgreSQL database refuses
// connections and has ended the open ones, every request that needs it,
// the credential check of a caller not yet verified included, is answered
// 503 unavailable with Retry-After, never 500 or 401; /readyz names the
// database; and once the database is back the same requests succeed with
// no restart. (scenarios/outage stops a whole server under load, and
// fills and freezes SQLite's disk.)
func TestDatabaseOutageIs503(t *testing.T) {
	k := fixture.StartKMS(t, postgresOnly(t))
	w := demoCaller(t, k, 0, "writer")
	key := createKey(t, k, w, "A256GCM")
	encrypt := func() response {
		return do(t, k, w, http.MethodPost, keyPath(key, "/encrypt"), map[string]any{"plaintext": b64("during the outage")})
	}
	require.Equal(t, http.StatusOK, encrypt().status, "before the outage")
	// A caller of another tenant, never verified: its credentials are
	// looked up in the database the outage takes away.
	fresh := demoCaller(t, k, 1, "reader")

	restore := dbtest.CutPostgres(t, k.Options().DB.DSN)

	for _, tc := range []struct {
		desc string
		call func() response
	}{
		{desc: "encrypt (its audit event cannot be written)", call: encrypt},
		{desc: "create a key", call: func() response {
			return do(t, k, w, http.MethodPost, "/api/v1/elastic-keys", map[string]any{"name": "outage", "algorithm": "A256GCM"})
		}},
		{desc: "credentials not cached", call: func() response {
			return do(t, k, fresh, http.MethodGet, "/api/v1/elastic-keys", nil)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := tc.call()
			require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
			assert.Equal(t, "unavailable", r.str(t, "code"))
			assert.Contains(t, r.str(t, "detail"), "retry later")
			after, err := strconv.Atoi(r.header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", r.header.Get("Retry-After"))
			assert.Positive(t, after)
			assert.Empty(t, r.header.Get("WWW-Authenticate"), "not a challenge: the credentials may be right")
		})
	}
	ready := do(t, k, nobody, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, ready.status, "%s", ready.body)
	assert.Equal(t, map[string]any{"database": "unavailable", "barrier": "ok"}, ready.json(t)["checks"])

	restore()
	// A pooled connection the server ended is found out when next used
	// (pgx pings one idle for over a second before reusing it): a request
	// or two may still meet one, but within 5 s every request succeeds.
	list := func() response { return do(t, k, fresh, http.MethodGet, "/api/v1/elastic-keys", nil) }
	readyz := func() response { return do(t, k, nobody, http.MethodGet, "/readyz", nil) }
	var failed []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		failed = failed[:0]
		for name, call := range map[string]func() response{"encrypt": encrypt, "list keys": list, "readyz": readyz} {
			if r := call(); r.status != http.StatusOK {
				failed = append(failed, fmt.Sprintf("%s: %d %s", name, r.status, r.body))
			}
		}
		if len(failed) == 0 {
			break
		}
	}
	require.Empty(t, failed, "every request succeeds within 5 s of the database's return")
}

// postgresOnly returns the PostgreSQL backend when this run tests it, and
// skips the test otherwise, saying why.
func postgresOnly(t *testing.T) dbtest.Backend {
	t.Helper()
	for _, b := range dbtest.Backends(t) {
		if b == dbtest.Postgres {
			return b
		}
	}
	t.Skip("cutting a database's connections needs PostgreSQL; this run tests SQLite only (" + dbtest.PostgresSkippedNote() + ")")
	return ""
}
