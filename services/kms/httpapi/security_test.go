package httpapi_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/factory"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestOperationsScopedToAddressedKey: a ciphertext, signature or MAC made
// by one key of a tenant is not accepted through another key of the same
// tenant and algorithm; the kid names no version of the addressed key.
func TestOperationsScopedToAddressedKey(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		w := demoCaller(t, k, 0, "writer")
		tests := []struct {
			desc     string
			alg      string
			make     string
			field    string
			in       map[string]any
			check    string
			checkKey string
		}{
			{desc: "decrypt A256GCM", alg: "A256GCM", make: "/encrypt", field: "ciphertext", in: map[string]any{"plaintext": b64("a only")}, check: "/decrypt", checkKey: "ciphertext"},
			{desc: "decrypt RSA-OAEP-256", alg: "RSA-OAEP-256", make: "/encrypt", field: "ciphertext", in: map[string]any{"plaintext": b64("a only")}, check: "/decrypt", checkKey: "ciphertext"},
			{desc: "verify ES256", alg: "ES256", make: "/sign", field: "signature", in: map[string]any{"payload": b64("a only")}, check: "/verify", checkKey: "signature"},
			{desc: "verify-mac HS256", alg: "HS256", make: "/mac", field: "signature", in: map[string]any{"payload": b64("a only")}, check: "/verify-mac", checkKey: "signature"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				keyA := createKey(t, k, w, tc.alg)
				keyB := createKey(t, k, w, tc.alg)
				made := do(t, k, w, "POST", keyPath(keyA, tc.make), tc.in)
				require.Equal(t, http.StatusOK, made.status, "%s", made.body)
				out := made.str(t, tc.field)
				r := do(t, k, w, "POST", keyPath(keyB, tc.check), map[string]any{tc.checkKey: out})
				require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
				assert.Equal(t, "unknown_kid", r.str(t, "code"))
				assert.NotContains(t, string(r.body), "a only")
				r = do(t, k, w, "POST", keyPath(keyA, tc.check), map[string]any{tc.checkKey: out})
				require.Equal(t, http.StatusOK, r.status, "the right key still accepts it: %s", r.body)
			})
		}
	})
}

// TestOperationErrorsAreDistinct: every refusal of a key operation has its own
// documented code and status, and leaves the key as it was.
func TestOperationErrorsAreDistinct(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		w := demoCaller(t, k, 0, "writer")
		enc := createKey(t, k, w, "A256GCM")
		ctxA := b64("context-a")
		ct := do(t, k, w, "POST", keyPath(enc, "/encrypt"), map[string]any{"plaintext": b64("pt"), "context": ctxA}).str(t, "ciphertext")
		parts := strings.Split(ct, ".")
		require.Len(t, parts, 5)
		tampered := append([]string(nil), parts...)
		tampered[3] = flipFirst(tampered[3])
		foreignKid := append([]string(nil), parts...)
		foreignKid[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","kid":"0193c0de-0000-7000-8000-000000000000"}`))

		disabledKey := createKey(t, k, w, "A256GCM")
		ctDisabled := do(t, k, w, "POST", keyPath(disabledKey, "/encrypt"), map[string]any{"plaintext": b64("pt")}).str(t, "ciphertext")
		require.Equal(t, 200, do(t, k, w, "PATCH", keyPath(disabledKey, ""), map[string]any{"status": "disabled"}).status)

		versioned := createKey(t, k, w, "A256GCM")
		old := do(t, k, w, "POST", keyPath(versioned, "/encrypt"), map[string]any{"plaintext": b64("pt")})
		require.Equal(t, 201, do(t, k, w, "POST", keyPath(versioned, "/material-keys"), nil).status)
		require.Equal(t, 200, do(t, k, w, "PATCH", keyPath(versioned, "/material-keys/"+old.str(t, "kid")), map[string]any{"status": "disabled"}).status)
		destroyedV := createKey(t, k, w, "A256GCM")
		oldD := do(t, k, w, "POST", keyPath(destroyedV, "/encrypt"), map[string]any{"plaintext": b64("pt")})
		require.Equal(t, 201, do(t, k, w, "POST", keyPath(destroyedV, "/material-keys"), nil).status)
		require.Equal(t, 200, do(t, k, w, "PATCH", keyPath(destroyedV, "/material-keys/"+oldD.str(t, "kid")), map[string]any{"status": "destroyed"}).status)

		destroyedKey := createKey(t, k, w, "A256GCM")
		ctDestroyed := do(t, k, w, "POST", keyPath(destroyedKey, "/encrypt"), map[string]any{"plaintext": b64("pt")}).str(t, "ciphertext")
		require.Equal(t, 200, do(t, k, w, "DELETE", keyPath(destroyedKey, ""), nil).status)

		tests := []struct {
			desc   string
			key    string
			op     string
			body   map[string]any
			status int
			code   string
		}{
			{desc: "wrong purpose", key: enc, op: "/sign", body: map[string]any{"payload": b64("x")}, status: 400, code: "wrong_purpose"},
			{desc: "disabled key", key: disabledKey, op: "/decrypt", body: map[string]any{"ciphertext": ctDisabled}, status: 409, code: "key_disabled"},
			{desc: "disabled version", key: versioned, op: "/decrypt", body: map[string]any{"ciphertext": old.str(t, "ciphertext")}, status: 409, code: "version_disabled"},
			{desc: "destroyed key", key: destroyedKey, op: "/decrypt", body: map[string]any{"ciphertext": ctDestroyed}, status: 410, code: "key_destroyed"},
			{desc: "destroyed version", key: destroyedV, op: "/decrypt", body: map[string]any{"ciphertext": oldD.str(t, "ciphertext")}, status: 410, code: "version_destroyed"},
			{desc: "tampered ciphertext", key: enc, op: "/decrypt", body: map[string]any{"ciphertext": strings.Join(tampered, "."), "context": ctxA}, status: 400, code: "decryption_failed"},
			{desc: "truncated ciphertext", key: enc, op: "/decrypt", body: map[string]any{"ciphertext": strings.Join(parts[:4], "."), "context": ctxA}, status: 400, code: "malformed_ciphertext"},
			{desc: "wrong context", key: enc, op: "/decrypt", body: map[string]any{"ciphertext": ct, "context": b64("context-b")}, status: 400, code: "context_mismatch"},
			{desc: "missing context", key: enc, op: "/decrypt", body: map[string]any{"ciphertext": ct}, status: 400, code: "context_mismatch"},
			{desc: "unknown kid", key: enc, op: "/decrypt", body: map[string]any{"ciphertext": strings.Join(foreignKid, "."), "context": ctxA}, status: 400, code: "unknown_kid"},
		}
		seen := map[string]string{}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				before := do(t, k, w, "GET", keyPath(tc.key, "/material-keys"), nil)
				r := do(t, k, w, "POST", keyPath(tc.key, tc.op), tc.body)
				require.Equal(t, tc.status, r.status, "%s", r.body)
				assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
				assert.Equal(t, tc.code, r.str(t, "code"))
				assert.Equal(t, "urn:passthru:kms:problem:"+tc.code, r.str(t, "type"))
				assert.NotContains(t, string(r.body), b64("pt"))
				after := do(t, k, w, "GET", keyPath(tc.key, "/material-keys"), nil)
				assert.Equal(t, string(before.body), string(after.body), "nothing changed")
				if tc.desc != "missing context" {
					if other, dup := seen[tc.code]; dup {
						t.Errorf("code %s used by both %q and %q", tc.code, other, tc.desc)
					}
					seen[tc.code] = tc.desc
				}
			})
		}
		r := do(t, k, w, "POST", keyPath(enc, "/decrypt"), map[string]any{"ciphertext": ct, "context": ctxA})
		require.Equal(t, 200, r.status)
		assert.Equal(t, b64("pt"), r.str(t, "plaintext"))
	})
}

func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// TestPageTokensStayInTheCallersTenant: a page token is only a position;
// used by another tenant it yields that tenant's items, never the first
// tenant's.
func TestPageTokensStayInTheCallersTenant(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	adminA := demoCaller(t, k, 0, "admin")
	adminB := demoCaller(t, k, 1, "admin")
	for _, path := range []string{"/api/v1/elastic-keys", "/api/v1/audit-events"} {
		t.Run(path, func(t *testing.T) {
			first := do(t, k, adminA, "GET", path+"?page_size=1", nil)
			require.Equal(t, 200, first.status)
			tok := first.str(t, "next_page_token")
			require.NotEmpty(t, tok)
			r := do(t, k, adminB, "GET", path+"?page_size=200&page_token="+tok, nil)
			require.Equal(t, 200, r.status, "%s", r.body)
			bodyA := do(t, k, adminA, "GET", path+"?page_size=200", nil)
			for _, it := range bodyA.json(t)["items"].([]any) {
				assert.NotContains(t, string(r.body), it.(map[string]any)["id"].(string), "tenant A's item through tenant B's page")
			}
		})
	}
	// Versions are paged within the addressed key; a token naming another
	// key's version is refused.
	keyA := k.Key(t, 0, "ES256").ID
	keyB := createKey(t, k, adminA, "ES256")
	require.Equal(t, 201, do(t, k, adminA, "POST", keyPath(keyA, "/material-keys"), nil).status)
	first := do(t, k, adminA, "GET", keyPath(keyA, "/material-keys?page_size=1"), nil)
	tok := first.str(t, "next_page_token")
	r := do(t, k, adminA, "GET", keyPath(keyB, "/material-keys?page_token="+tok), nil)
	assert.Equal(t, 400, r.status, "%s", r.body)
}

// TestUsernameShadowingRefused: a tenant's administrator cannot create a
// database user named like another tenant's user and so lock it out; the
// refusal (another tenant's "@tenant" suffix) does not say the user exists.
func TestUsernameShadowingRefused(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	adminA := demoCaller(t, k, 0, "admin")
	victim := k.User(t, 1, "admin")
	req := factory.RealmUser("admin")
	req.Username = victim.Username
	r := do(t, k, adminA, "POST", "/api/v1/admin/realm-users", req)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "invalid_request", r.str(t, "code"))
	r = do(t, k, demoCaller(t, k, 1, "admin"), "GET", "/api/v1/elastic-keys", nil)
	assert.Equal(t, http.StatusOK, r.status, "the other tenant's admin still logs in")
}

// TestLogsHoldNoSecrets: at debug level, after successful and failed
// operations and logins, the server log holds no password, plaintext,
// ciphertext, signature or Authorization header.
func TestLogsHoldNoSecrets(t *testing.T) {
	logs := &fixture.LogBuffer{}
	k := fixture.StartKMS(t, dbtest.SQLite, func(o *kmsserver.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	w := demoCaller(t, k, 0, "writer")
	enc := k.Key(t, 0, "A256GCM").ID
	plaintext := "plaintext-that-must-not-be-logged"
	ct := do(t, k, w, "POST", keyPath(enc, "/encrypt"), map[string]any{"plaintext": b64(plaintext)}).str(t, "ciphertext")
	require.Equal(t, 200, do(t, k, w, "POST", keyPath(enc, "/decrypt"), map[string]any{"ciphertext": ct}).status)
	sig := do(t, k, w, "POST", keyPath(k.Key(t, 0, "ES256").ID, "/sign"), map[string]any{"payload": b64(plaintext)}).str(t, "signature")
	do(t, k, w, "POST", keyPath(enc, "/decrypt"), map[string]any{"ciphertext": ct[:len(ct)-4]})
	wrong := caller{name: "wrong", username: w.username, password: "wrong-password-not-logged"}
	require.Equal(t, 401, do(t, k, wrong, "GET", "/api/v1/elastic-keys", nil).status)
	admin := demoCaller(t, k, 0, "admin")
	req := factory.RealmUser("reader")
	require.Equal(t, 201, do(t, k, admin, "POST", "/api/v1/admin/realm-users", req).status)
	require.NotEmpty(t, logs.String(), "the server logged something")
	for _, secret := range []string{plaintext, b64(plaintext), ct, sig, w.password, "wrong-password-not-logged", req.Password,
		base64.StdEncoding.EncodeToString([]byte(w.username + ":" + w.password))} {
		assert.NotContains(t, logs.String(), secret)
	}
}

// TestBadInputChangesNothing: refused creations leave the key and user
// lists as they were, and a body without a declared length is cut at the
// same limit as a declared one (413).
func TestBadInputChangesNothing(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	admin := demoCaller(t, k, 0, "admin")
	count := func(path string) int {
		r := do(t, k, admin, "GET", path+"?page_size=200", nil)
		require.Equal(t, 200, r.status)
		return len(r.json(t)["items"].([]any))
	}
	keysBefore, usersBefore := count("/api/v1/elastic-keys"), count("/api/v1/admin/realm-users")
	big := `{"name":"x","algorithm":"A256GCM","description":"` + strings.Repeat("d", 2<<20) + `"}`
	tests := []struct {
		desc   string
		path   string
		body   any
		ct     string
		status int
	}{
		{desc: "key: unknown field", path: "/api/v1/elastic-keys", body: `{"name":"k1","algorithm":"A256GCM","tenant_id":"x"}`, status: 400},
		{desc: "key: unknown algorithm", path: "/api/v1/elastic-keys", body: `{"name":"k2","algorithm":"none"}`, status: 400},
		{desc: "key: malformed", path: "/api/v1/elastic-keys", body: `{"name":"k3",`, status: 400},
		{desc: "key: wrong media type", path: "/api/v1/elastic-keys", body: `{"name":"k4","algorithm":"A256GCM"}`, ct: "text/plain", status: 415},
		{desc: "key: oversized, declared length", path: "/api/v1/elastic-keys", body: big, status: 413},
		{desc: "key: oversized, chunked", path: "/api/v1/elastic-keys", body: &unsizedReader{r: strings.NewReader(big)}, status: 413},
		{desc: "user: unknown field", path: "/api/v1/admin/realm-users", body: `{"username":"u1","password":"long-enough-pw","roles":["reader"],"tenant_id":"x"}`, status: 400},
		{desc: "user: short password", path: "/api/v1/admin/realm-users", body: `{"username":"u2","password":"short","roles":["reader"]}`, status: 400},
		{desc: "user: unknown role", path: "/api/v1/admin/realm-users", body: `{"username":"u3","password":"long-enough-pw","roles":["root"]}`, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ct := tc.ct
			if ct == "" {
				ct = "application/json"
			}
			r := doCT(t, k, admin, "POST", tc.path, tc.body, ct)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
		})
	}
	assert.Equal(t, keysBefore, count("/api/v1/elastic-keys"), "no key was created")
	assert.Equal(t, usersBefore, count("/api/v1/admin/realm-users"), "no user was created")
}

// unsizedReader hides the length of its reader, so the client sends the
// body chunked, without Content-Length.
type unsizedReader struct{ r *strings.Reader }

func (u *unsizedReader) Read(p []byte) (int, error) { return u.r.Read(p) }

// TestDeniedAuditRecordsOnlyKeyIDs: a refused request's path is not yet
// validated; free text in place of a key id never reaches the audit trail.
func TestDeniedAuditRecordsOnlyKeyIDs(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	reader := demoCaller(t, k, 0, "reader")
	admin := demoCaller(t, k, 0, "admin")
	junk := "forged-audit-entry-" + strings.Repeat("x", 40)
	r := do(t, k, reader, "POST", keyPath(junk, "/encrypt"), map[string]any{"plaintext": b64("x")})
	require.Equal(t, http.StatusForbidden, r.status)
	events := do(t, k, admin, "GET", "/api/v1/audit-events?page_size=200", nil)
	require.Equal(t, 200, events.status)
	assert.NotContains(t, string(events.body), junk)
	items := events.json(t)["items"].([]any)
	last := items[len(items)-1].(map[string]any)
	assert.Equal(t, "encrypt", last["operation"])
	assert.Equal(t, "forbidden", last["error_code"])
	assert.Nil(t, last["elastic_key_id"], "no key id recorded for a malformed one")
}

// TestNonCanonicalJOSERefused: through the router, a ciphertext or
// signature that is not in the one form the KMS writes is refused as
// malformed, even when its authentication tag or
// signature is genuine: a "dir" JWE carrying an encrypted key (RFC 7516
// §5.2 step 10), padded base64url, a header member the KMS never writes.
func TestNonCanonicalJOSERefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		k := fixture.StartKMS(t, b)
		w := demoCaller(t, k, 0, "writer")
		enc := createKey(t, k, w, "A256GCM")
		sig := createKey(t, k, w, "ES256")
		ct := do(t, k, w, "POST", keyPath(enc, "/encrypt"), map[string]any{"plaintext": b64("pt")}).str(t, "ciphertext")
		js := do(t, k, w, "POST", keyPath(sig, "/sign"), map[string]any{"payload": b64("pt")}).str(t, "signature")
		ctParts := strings.Split(ct, ".")
		require.Len(t, ctParts, 5)
		require.Empty(t, ctParts[1], "a dir JWE has no encrypted key")
		withKey := append([]string(nil), ctParts...)
		withKey[1] = base64.RawURLEncoding.EncodeToString(make([]byte, 40))
		padded := append([]string(nil), ctParts...)
		if len(padded[4])%4 != 0 {
			padded[4] += strings.Repeat("=", 4-len(padded[4])%4)
		}
		jsParts := strings.Split(js, ".")
		require.Len(t, jsParts, 3)
		header, err := base64.RawURLEncoding.DecodeString(jsParts[0])
		require.NoError(t, err)
		typed := append([]string(nil), jsParts...)
		typed[0] = base64.RawURLEncoding.EncodeToString([]byte(strings.TrimSuffix(string(header), "}") + `,"typ":"JWT"}`))

		tests := []struct {
			desc, key, op, field, value, code string
		}{
			{desc: "dir JWE with an encrypted key", key: enc, op: "/decrypt", field: "ciphertext", value: strings.Join(withKey, "."), code: "malformed_ciphertext"},
			{desc: "padded tag", key: enc, op: "/decrypt", field: "ciphertext", value: strings.Join(padded, "."), code: "malformed_ciphertext"},
			{desc: "JWS with a typ header", key: sig, op: "/verify", field: "signature", value: strings.Join(typed, "."), code: "malformed_signature"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				r := do(t, k, w, "POST", keyPath(tc.key, tc.op), map[string]any{tc.field: tc.value})
				require.Equal(t, 400, r.status, "%s", r.body)
				assert.Equal(t, tc.code, r.str(t, "code"))
				assert.NotContains(t, string(r.body), b64("pt"))
			})
		}
		// The originals still pass: only the non-canonical spellings are refused.
		require.Equal(t, 200, do(t, k, w, "POST", keyPath(enc, "/decrypt"), map[string]any{"ciphertext": ct}).status)
		v := do(t, k, w, "POST", keyPath(sig, "/verify"), map[string]any{"signature": js})
		require.Equal(t, 200, v.status)
		assert.Equal(t, true, v.json(t)["valid"])
	})
}
