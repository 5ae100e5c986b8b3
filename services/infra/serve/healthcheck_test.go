package serve_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/serve"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// healthcheck runs `svc healthcheck args...` through Run, as the binary does.
func healthcheck(t *testing.T, env func(string) (string, bool), args ...string) (int, string, string) {
	t.Helper()
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	var stdout, stderr bytes.Buffer
	code := serve.Run(t.Context(), testService(), append([]string{serve.HealthcheckCommand}, args...), &stdout, &stderr, env)
	return code, stdout.String(), stderr.String()
}

func portOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Port()
}

// TestHealthcheckReady: a ready demo server answers 200; the probe trusts the
// demo CA under the data dir and dials 127.0.0.1 for a wildcard listen address.
func TestHealthcheckReady(t *testing.T) {
	noSearch(t)
	dataDir := t.TempDir()
	inst, _ := start(t, testService(), serve.Options{DataDir: dataDir})
	port := portOf(t, inst.URL)

	code, out, errOut := healthcheck(t, nil, "--listen", "127.0.0.1:"+port, "--data-dir", dataDir)
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, "svc: https://127.0.0.1:"+port+"/readyz ready\n", out)

	code, _, errOut = healthcheck(t, nil, "--listen", "0.0.0.0:"+port, "--data-dir", dataDir)
	assert.Equal(t, 0, code, "a wildcard listen address is probed on 127.0.0.1: %s", errOut)

	// The config file and the environment name the server as they do for a start.
	cfg := writeFile(t, t.TempDir(), "svc.yml", "data_dir: "+dataDir+"\n")
	env := func(k string) (string, bool) { return ":" + port, k == "PASSTHRU_SVC_LISTEN" }
	code, _, errOut = healthcheck(t, env, "--config", cfg)
	assert.Equal(t, 0, code, errOut)
}

// TestHealthcheckFailures: every way the probe can fail exits non-zero and
// says why.
func TestHealthcheckFailures(t *testing.T) {
	noSearch(t)
	dataDir := t.TempDir()
	notReady := serve.Check{Name: "upstream", Check: func(context.Context) error { return errors.New("down") }}
	inst, _ := start(t, testService(notReady), serve.Options{DataDir: dataDir})
	listen := "127.0.0.1:" + portOf(t, inst.URL)

	// A port nothing listens on: one that was free a moment ago.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	// Another demo CA: the server's certificate does not chain to it.
	otherDir := t.TempDir()
	_, err = tlsx.EnsureDemoPKI(filepath.Join(otherDir, "tls"), "svc")
	require.NoError(t, err)

	for _, tc := range []struct {
		desc    string
		args    []string
		code    int
		wantErr string
	}{
		{desc: "not ready", args: []string{"--listen", listen, "--data-dir", dataDir}, code: 1,
			wantErr: "svc healthcheck: https://" + listen + `/readyz answered 503: {"checks":{"barrier":"ok","database":"ok","upstream":"unavailable"},"status":"not ready"}`},
		{desc: "unreachable", args: []string{"--listen", closed, "--data-dir", dataDir}, code: 1,
			wantErr: "connection refused"},
		{desc: "wrong CA", args: []string{"--listen", listen, "--data-dir", otherDir}, code: 1,
			wantErr: "certificate signed by unknown authority"},
		{desc: "no CA yet", args: []string{"--listen", listen, "--data-dir", t.TempDir()}, code: 1,
			wantErr: "svc healthcheck: CA bundle: "},
		{desc: "no CA configured", args: []string{"--listen", listen}, code: 1,
			wantErr: "no CA to trust: configure tls.cert_file and tls.ca_file, or name the demo's data dir"},
		{desc: "bad listen", args: []string{"--listen", "nope", "--data-dir", dataDir}, code: 1,
			wantErr: `listen "nope"`},
		{desc: "usage", args: []string{"extra"}, code: 2, wantErr: "unexpected arguments: [extra]"},
		{desc: "unknown flag", args: []string{"--demo"}, code: 2, wantErr: "flag provided but not defined: -demo"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			code, out, errOut := healthcheck(t, nil, tc.args...)
			assert.Equal(t, tc.code, code, "stdout=%s stderr=%s", out, errOut)
			assert.Contains(t, errOut, tc.wantErr)
			assert.Empty(t, out)
		})
	}
}
