package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// Whole KMS requests: HTTP/2 over TLS 1.3 on loopback (the connection is
// kept alive, so this is the steady state, not a handshake per request),
// Basic authentication, scope check, key lookup, the cryptography and the
// audit event. After the first request the credential cache answers Basic
// authentication, so pbkdf2/op must stay 0: a per-request PBKDF2 would cost
// more than the whole request does (see PasswordVerifyProduction).
// queries/op counts the SQL statements one request runs: with the principal
// and the key cached, that is the audit event's INSERT (its share of a
// batch when requests run concurrently; these run one at a time). One more
// is a regression the gate catches. cpu-ms/op is
// the CPU time of the whole process (server and client) per request.

// steadyKMS re-reads the key generation and cached realm users once a
// minute instead of every second and five: those reads bound how soon other
// replicas' changes are seen, and cost one statement per tenant per
// interval, whatever the load. A benchmark loop that happens to cross an
// interval would count a fraction of one, making queries/op depend on the
// machine's speed; a minute keeps every loop clear of it.
var steadyKMS = fixture.WithKMSConfig(func(c *kmsserver.Config) {
	c.Keys.GenerationRefresh = time.Minute
	c.Auth.UserFreshness = time.Minute
})

// quietKMS logs at Info to nowhere: production's access-log cost, without
// the fixture's debug log growing in memory for the whole benchmark.
func quietKMS(o *kmsserver.Options) {
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// kmsBench is a KMS started for one benchmark with a Basic user of tenant 0.
type kmsBench struct {
	k    *fixture.KMS
	user func(*http.Request)
}

func startKMSBench(b *testing.B, role string) *kmsBench {
	b.Helper()
	k := fixture.StartKMS(b, dbtest.SQLite, quietKMS, steadyKMS)
	u := k.User(b, 0, role)
	return &kmsBench{k: k, user: func(r *http.Request) { r.SetBasicAuth(u.Username, u.Password) }}
}

// loop runs call b.N times after a first call (PBKDF2, TLS handshake and
// cold caches: setup, not the hot path) and reports the cost per call.
func (kb *kmsBench) loop(b *testing.B, call func() error) {
	b.Helper()
	require.NoError(b, call())
	checks, c := kb.k.Basic.PasswordChecks(), startCost(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(kb.k.Basic.PasswordChecks()-checks)/float64(b.N), "pbkdf2/op")
	c.report(b)
}

func BenchmarkKMSEncrypt(b *testing.B) {
	kb := startKMSBench(b, "writer")
	key := kb.k.Key(b, 0, "A256GCM")
	kb.loop(b, kmsEncrypter(b, kb.k, key.ID, kb.user))
}

func BenchmarkKMSDecrypt(b *testing.B) {
	kb := startKMSBench(b, "writer")
	key := kb.k.Key(b, 0, "A256GCM")
	var enc struct{ Ciphertext string }
	require.NoError(b, kmsPost(b, kb.k, key.ID, "encrypt", encryptRequest{Plaintext: benchPlaintext, Context: benchContext}, kb.user, &enc))
	body := map[string]any{"ciphertext": enc.Ciphertext, "context": benchContext}
	kb.loop(b, func() error {
		var out struct{ Plaintext []byte }
		if err := kmsPost(b, kb.k, key.ID, "decrypt", body, kb.user, &out); err != nil {
			return err
		}
		if !bytes.Equal(out.Plaintext, benchPlaintext) {
			return fmt.Errorf("decrypt: %d bytes, not the plaintext", len(out.Plaintext))
		}
		return nil
	})
}

func BenchmarkKMSSign(b *testing.B) {
	kb := startKMSBench(b, "writer")
	key := kb.k.Key(b, 0, "ES256")
	body := map[string]any{"payload": benchPayload}
	kb.loop(b, func() error {
		var out struct{ Signature string }
		if err := kmsPost(b, kb.k, key.ID, "sign", body, kb.user, &out); err != nil {
			return err
		}
		if out.Signature == "" {
			return fmt.Errorf("sign: no signature")
		}
		return nil
	})
}

func BenchmarkKMSVerify(b *testing.B) {
	kb := startKMSBench(b, "writer")
	key := kb.k.Key(b, 0, "ES256")
	var sig struct{ Signature string }
	require.NoError(b, kmsPost(b, kb.k, key.ID, "sign", map[string]any{"payload": benchPayload}, kb.user, &sig))
	body := map[string]any{"signature": sig.Signature}
	kb.loop(b, func() error {
		var out struct{ Valid bool }
		if err := kmsPost(b, kb.k, key.ID, "verify", body, kb.user, &out); err != nil {
			return err
		}
		if !out.Valid {
			return fmt.Errorf("verify: signature not valid")
		}
		return nil
	})
}

// kmsEncrypter returns one encrypt request with key keyID of k, its
// credentials set by authorize, failing unless it answers a ciphertext.
func kmsEncrypter(b *testing.B, k *fixture.KMS, keyID string, authorize func(*http.Request)) func() error {
	b.Helper()
	body := encryptRequest{Plaintext: benchPlaintext, Context: benchContext}
	return func() error {
		var out struct{ Ciphertext string }
		if err := kmsPost(b, k, keyID, "encrypt", body, authorize, &out); err != nil {
			return err
		}
		if out.Ciphertext == "" {
			return fmt.Errorf("encrypt: no ciphertext")
		}
		return nil
	}
}

// kmsPost posts in as JSON to operation op of key keyID and decodes a 200
// answer into out.
func kmsPost(b *testing.B, k *fixture.KMS, keyID, op string, in any, authorize func(*http.Request), out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, k.URL+"/api/v1/elastic-keys/"+keyID+"/"+op, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	authorize(req)
	resp, err := k.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", op, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
