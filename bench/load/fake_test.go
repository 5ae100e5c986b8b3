package load

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/tlstest"
)

// fakeStack answers the endpoints the harness calls, for the KMS and
// Identity on one loopback TLS server, like the services would, unless it
// is told to lie.
type fakeStack struct {
	lieOnDecrypt atomic.Bool
	requests     atomic.Int64
}

func (f *fakeStack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	var in map[string]string
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			reply(http.StatusBadRequest, map[string]string{"title": err.Error()})
			return
		}
	}
	path := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/elastic-keys"), "/")
	header := func(v map[string]string) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	switch {
	case r.URL.Path == "/oauth2/v1/token":
		reply(http.StatusOK, map[string]any{"access_token": "h.p.s", "token_type": "Bearer", "expires_in": 600})
	case r.URL.Path == "/oauth2/v1/introspect":
		reply(http.StatusOK, map[string]any{"active": r.PostFormValue("token") == "h.p.s"})
	case r.URL.Path == "/api/v1/elastic-keys":
		reply(http.StatusCreated, map[string]string{"id": "key-" + in["algorithm"], "algorithm": in["algorithm"]})
	case len(path) == 3 && path[2] == "encrypt":
		p, _ := base64.StdEncoding.DecodeString(in["plaintext"])
		ct := header(map[string]string{"alg": "dir", "enc": "A256GCM", "kid": "v1"}) + "..iv." + base64.RawURLEncoding.EncodeToString(p) + ".tag"
		reply(http.StatusOK, map[string]string{"ciphertext": ct, "kid": "v1"})
	case len(path) == 3 && path[2] == "decrypt":
		p, _ := base64.RawURLEncoding.DecodeString(strings.Split(in["ciphertext"], ".")[3])
		if f.lieOnDecrypt.Load() {
			p = bytes.Clone(p)
			p[0] ^= 1
		}
		reply(http.StatusOK, map[string][]byte{"plaintext": p})
	case len(path) == 3 && path[2] == "sign":
		p, _ := base64.StdEncoding.DecodeString(in["payload"])
		sig := header(map[string]string{"alg": "ES256", "kid": "v1"}) + "." + base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		reply(http.StatusOK, map[string]string{"signature": sig, "kid": "v1"})
	case len(path) == 3 && path[2] == "verify":
		reply(http.StatusOK, map[string]any{"valid": strings.Count(in["signature"], ".") == 2})
	default:
		reply(http.StatusNotFound, map[string]string{"title": "no " + r.URL.Path})
	}
}

// startFake serves f and returns the harness flags that target it.
func startFake(t *testing.T, f *fakeStack) []string {
	t.Helper()
	pki := tlstest.New(t)
	srv := pki.NewServer(t, f)
	k, i := writeDemoFiles(t, srv.URL, srv.URL, pki.CAFile)
	return []string{"-kms-demo-file", k, "-identity-demo-file", i}
}

// tableRows returns the rows of the human table by "phase endpoint/auth".
func tableRows(out string) map[string][][]string {
	rows := map[string][][]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 12 && f[0] != "phase" {
			name := f[0] + " " + f[1] + "/" + f[2]
			rows[name] = append(rows[name], f)
		}
	}
	return rows
}

func TestRunAgainstAnHonestStack(t *testing.T) {
	f := &fakeStack{}
	var stdout, stderr bytes.Buffer
	args := append(startFake(t, f), "-n", "40", "-c", "3", "-count", "2", "-warmup", "5", "-cold", "50ms")
	code := Main(t.Context(), args, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	rows := tableRows(stdout.String())
	assert.Len(t, rows, 11, "the cold phase and ten scenarios:\n%s", stdout.String())
	assert.Len(t, rows["cold kms-encrypt/basic"], 1, "-cold given: a cold phase even against running services")
	for name, rs := range rows {
		if strings.HasPrefix(name, "load ") {
			assert.Len(t, rs, 2, "%s: -count 2", name)
		}
		for _, r := range rs {
			assert.Equal(t, "0", r[4], "%s: errors", name)
			assert.Equal(t, "-", r[10], "%s: no -server-pid, no CPU column", name)
		}
	}
	assert.Equal(t, "40", rows["load kms-verify/bearer"][1][3])
	assert.Contains(t, stdout.String(), "\nbenchstat:\n", "no -out: the lines follow the table")
	assert.Contains(t, stdout.String(), "BenchmarkLoad/endpoint=kms-verify/auth=bearer/db=unknown\t40\t")
}

// TestRunCountsWrongAnswers: a KMS whose decrypt returns another plaintext
// fails every decrypt request, and the encrypt phases' after-the-fact check;
// the exit status says so.
func TestRunCountsWrongAnswers(t *testing.T) {
	f := &fakeStack{}
	f.lieOnDecrypt.Store(true)
	var stdout, stderr bytes.Buffer
	args := append(startFake(t, f), "-n", "20", "-c", "2", "-warmup", "0", "-endpoints", "kms-encrypt/basic,kms-decrypt/basic,kms-sign/basic")
	code := Main(t.Context(), args, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, ExitErrors, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	rows := tableRows(stdout.String())
	assert.Equal(t, "20", rows["load kms-decrypt/basic"][0][4], "every decrypt is wrong")
	assert.Equal(t, "1", rows["load kms-encrypt/basic"][0][4], "the sample of ciphertexts does not decrypt back")
	assert.Equal(t, "0", rows["load kms-sign/basic"][0][4])
	assert.Contains(t, stdout.String(), "error load kms-decrypt/basic: HTTP 200: decrypted 1024 bytes that differ")
	assert.Contains(t, stdout.String(), "error load kms-encrypt/basic: a ciphertext of the phase does not decrypt back")
	assert.Contains(t, stderr.String(), "21 failed requests or checks")
}

// TestRunWarmUpFailureStops: a scenario that fails its warm-up is not
// measured; the run stops with the first error.
func TestRunWarmUpFailureStops(t *testing.T) {
	f := &fakeStack{}
	f.lieOnDecrypt.Store(true)
	var stdout, stderr bytes.Buffer
	args := append(startFake(t, f), "-n", "20", "-c", "2", "-endpoints", "kms-decrypt/bearer")
	code := Main(t.Context(), args, &stdout, &stderr, func(string) string { return "" })
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, stderr.String(), "warm-up of kms-decrypt/bearer: 4 of 4 requests failed, first: HTTP 200: decrypted")
	assert.Empty(t, stdout.String())
}

func TestRunSoak(t *testing.T) {
	f := &fakeStack{}
	out := filepath.Join(t.TempDir(), "soak.txt")
	var stdout, stderr bytes.Buffer
	args := append(startFake(t, f), "-soak", "500ms", "-rate", "200", "-c", "2", "-warmup", "1", "-endpoints", "identity-token,kms-verify/basic", "-out", out)
	code := Main(t.Context(), args, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	rows := tableRows(stdout.String())
	assert.Len(t, rows, 2)
	assert.Contains(t, rows, "soak kms-verify/basic")
	assert.Contains(t, rows, "soak identity-token/client")
	assert.Contains(t, stdout.String(), "soak windows")
	assert.NotContains(t, stdout.String(), "benchstat:", "-out: the lines go to the file")
	lines, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(lines), "BenchmarkLoadSoak/endpoint=identity-token/auth=client/db=unknown\t")
}
