package load

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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
	// leak, when set, keeps 8 MiB per token request (the endpoint the
	// test's soak drives; the harness's setup calls others), touched so
	// that it is resident: the server process's RSS grows with the load,
	// by a good part of it even when a race-detector run's RSS is hundreds
	// of MB. At most 32 of them (256 MiB): a bound, not expected to be
	// reached.
	leak   atomic.Bool
	mu     sync.Mutex
	leaked [][]byte
}

func (f *fakeStack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.leak.Load() && r.URL.Path == "/oauth2/v1/token" {
		f.mu.Lock()
		if len(f.leaked) < 32 {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			f.leaked = append(f.leaked, b)
		}
		f.mu.Unlock()
	}
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
	args := append(startFake(t, f), "-soak", "500ms", "-rate", "20", "-cold", "0", "-c", "2", "-warmup", "1", "-endpoints", "identity-token,kms-verify/basic", "-out", out)
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

// TestSoakRSSGrowth: the soak reports the server's RSS at its start and
// end, and -max-rss-growth fails a run whose server grew more than that.
// The fake runs in this test process, so -server-pid is this process.
func TestSoakRSSGrowth(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	soak := []string{"-soak", "500ms", "-rate", "20", "-cold", "0", "-c", "2", "-warmup", "1", "-endpoints", "identity-token", "-server-pid", self}

	t.Run("steady server passes", func(t *testing.T) {
		f := &fakeStack{}
		var stdout, stderr bytes.Buffer
		args := append(append(startFake(t, f), soak...), "-max-rss-growth", "1000")
		code := Main(t.Context(), args, &stdout, &stderr, func(string) string { return "" })
		require.Equal(t, ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		assert.Contains(t, stdout.String(), "soak rss:")
	})
	t.Run("growing server fails", func(t *testing.T) {
		f := &fakeStack{}
		f.leak.Store(true)
		// Memory the earlier tests freed would take the leak without the
		// RSS growing: hand it back to the system first.
		debug.FreeOSMemory()
		var stdout, stderr bytes.Buffer
		args := append(append(startFake(t, f), soak...), "-max-rss-growth", "2")
		code := Main(t.Context(), args, &stdout, &stderr, func(string) string { return "" })
		assert.Equal(t, ExitErrors, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		assert.Contains(t, stderr.String(), "server RSS grew")
		assert.Contains(t, stderr.String(), "more than -max-rss-growth 2%")
		assert.NotContains(t, stderr.String(), "failed requests", "every request succeeded: the RSS alone fails the run")
	})
}

func TestRSSProblem(t *testing.T) {
	rep := &Report{Config: Config{MaxRSSGrowth: 20}}
	assert.Empty(t, rep.RSSProblem(), "no soak readings: nothing to judge")
	rep.SoakRSS.Start, rep.SoakRSS.End = 100<<20, 120<<20
	assert.Empty(t, rep.RSSProblem(), "exactly the limit passes")
	rep.SoakRSS.End = 121 << 20
	assert.Contains(t, rep.RSSProblem(), "grew 21.0% during the soak (100.0 MB to 121.0 MB)")
	rep.Config.MaxRSSGrowth = 0
	assert.Empty(t, rep.RSSProblem(), "no limit set")
	rep.SoakRSS.End = 80 << 20
	growth, ok := rep.RSSGrowth()
	assert.True(t, ok)
	assert.InDelta(t, -20, growth, 0.001)
}
