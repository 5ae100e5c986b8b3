package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// A whole KMS request: HTTP/2 over TLS 1.3 on loopback (the connection is
// kept alive, so this is the steady state, not a handshake per request),
// Basic authentication, scope check, key lookup and AES-256-GCM encryption.
// After the first request the credential cache answers Basic authentication,
// so pbkdf2/op must stay 0: a per-request PBKDF2 would cost more than the
// whole request does (see PasswordVerifyProduction). queries/op counts the
// SQL statements one request runs (key lookup, audit record...): one more
// is a regression the gate catches.

// quietKMS logs at Info to nowhere: production's access-log cost, without
// the fixture's debug log growing in memory for the whole benchmark.
func quietKMS(o *kmsserver.Options) {
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func BenchmarkKMSEncrypt(b *testing.B) {
	k := fixture.StartKMS(b, dbtest.SQLite, quietKMS)
	user := k.User(b, 0, "writer")
	key := k.Key(b, 0, "A256GCM")
	encrypt := kmsEncrypter(b, k, key.ID, func(r *http.Request) { r.SetBasicAuth(user.Username, user.Password) })
	// The first request pays PBKDF2 and the TLS handshake: setup, not the hot path.
	require.NoError(b, encrypt())
	checks, statements := k.Basic.PasswordChecks(), sqliteStatements.Load()
	b.ReportAllocs()
	for b.Loop() {
		if err := encrypt(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(k.Basic.PasswordChecks()-checks)/float64(b.N), "pbkdf2/op")
	reportStatements(b, statements)
}

// kmsEncrypter returns one encrypt request with key keyID of k, its
// credentials set by authorize, failing unless it answers a ciphertext.
func kmsEncrypter(b *testing.B, k *fixture.KMS, keyID string, authorize func(*http.Request)) func() error {
	b.Helper()
	url := k.URL + "/api/v1/elastic-keys/" + keyID + "/encrypt"
	body, err := json.Marshal(encryptRequest{Plaintext: benchPlaintext, Context: benchContext})
	require.NoError(b, err)
	return func() error {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader(body))
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
		var out struct {
			Ciphertext string `json:"ciphertext"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return fmt.Errorf("encrypt: status %d: %w", resp.StatusCode, err)
		}
		if resp.StatusCode != http.StatusOK || out.Ciphertext == "" {
			return fmt.Errorf("encrypt: status %d, ciphertext %q", resp.StatusCode, out.Ciphertext)
		}
		return nil
	}
}
