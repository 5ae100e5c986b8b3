package serve_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/config"
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

// operatorServer starts the toy service on 127.0.0.1 with a certificate
// issued by chain as an operator would configure it (tls.cert_file with the
// intermediates, tls.key_file, tls.ca_file the root), not the demo PKI. It
// returns the listen address and the certificate and CA files.
func operatorServer(t *testing.T, chain *tlsx.Chain, opts tlsx.LeafOptions) (listen, certFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	opts.Server = true
	leaf, err := chain.IssueLeaf(opts)
	require.NoError(t, err)
	certFile, keyFile, caFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), filepath.Join(dir, "ca.pem")
	require.NoError(t, tlsx.WriteCertPEM(certFile, append([]*x509.Certificate{leaf.Cert}, leaf.Intermediates...)...))
	require.NoError(t, tlsx.WriteKeyPEM(keyFile, leaf.Key))
	require.NoError(t, tlsx.WriteCertPEM(caFile, chain.Root().Cert))
	svc := testService()
	svc.Config = &testConfig{Settings: serve.Settings{TLS: config.TLS{CertFile: certFile, KeyFile: keyFile, CAFile: caFile}}}
	inst, _ := start(t, svc, serve.Options{Listen: "127.0.0.1:0"})
	return "127.0.0.1:" + portOf(t, inst.URL), certFile, caFile
}

// TestHealthcheckOperatorCertificate: the probe dials the loopback address
// but verifies the server's certificate against a name it is issued for:
// the dialled address when the certificate names it, else its first DNS
// name, or --server-name. The chain must still lead to tls.ca_file, and the
// certificate must still be issued for the name: nothing is skipped.
func TestHealthcheckOperatorCertificate(t *testing.T) {
	noSearch(t)
	chain, err := tlsx.NewChain(tlsx.ChainOptions{Name: "Operator"})
	require.NoError(t, err)
	other, err := tlsx.NewChain(tlsx.ChainOptions{Name: "Other"})
	require.NoError(t, err)
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	require.NoError(t, tlsx.WriteCertPEM(otherCA, other.Root().Cert))

	// The certificate a Kubernetes operator issues: DNS names only.
	dnsOnly, dnsCert, dnsCA := operatorServer(t, chain, tlsx.LeafOptions{CommonName: "passthru-kms.passthru.svc", DNSNames: []string{"passthru-kms"}})
	// Only the loopback address: passes only if verified against the IP.
	ipOnly, ipCert, ipCA := operatorServer(t, chain, tlsx.LeafOptions{CommonName: "svc on loopback", Style: tlsx.CNStyleDescriptive, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	// Both: the dialled address wins over the DNS name.
	both, bothCert, bothCA := operatorServer(t, chain, tlsx.LeafOptions{CommonName: "passthru-kms.passthru.svc", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	// An address that is not the dialled one, and no DNS name.
	podIP, podCert, podCA := operatorServer(t, chain, tlsx.LeafOptions{CommonName: "svc on a pod IP", Style: tlsx.CNStyleDescriptive, IPs: []net.IP{net.IPv4(10, 0, 0, 7)}})

	dir := t.TempDir()
	for _, tc := range []struct {
		desc                     string
		listen, certFile, caFile string
		args                     []string
		code                     int
		wantOut, wantErr         string
	}{
		{desc: "DNS-only certificate, verified as its first DNS name", listen: dnsOnly, certFile: dnsCert, caFile: dnsCA,
			wantOut: "svc: https://" + dnsOnly + "/readyz ready (certificate verified as passthru-kms.passthru.svc)\n"},
		{desc: "certificate naming the loopback address, verified as it", listen: ipOnly, certFile: ipCert, caFile: ipCA,
			wantOut: "svc: https://" + ipOnly + "/readyz ready\n"},
		{desc: "certificate naming the address and a DNS name, verified as the address", listen: both, certFile: bothCert, caFile: bothCA,
			wantOut: "svc: https://" + both + "/readyz ready\n"},
		{desc: "--server-name naming another of its DNS names", listen: dnsOnly, certFile: dnsCert, caFile: dnsCA, args: []string{"--server-name", "passthru-kms"},
			wantOut: "svc: https://" + dnsOnly + "/readyz ready (certificate verified as passthru-kms)\n"},
		{desc: "--server-name naming the address the certificate is issued for", listen: podIP, certFile: podCert, caFile: podCA, args: []string{"--server-name", "10.0.0.7"},
			wantOut: "svc: https://" + podIP + "/readyz ready (certificate verified as 10.0.0.7)\n"},
		{desc: "--server-name naming a name not in the certificate", listen: dnsOnly, certFile: dnsCert, caFile: dnsCA, args: []string{"--server-name", "other.example"}, code: 1,
			wantErr: "x509: certificate is valid for passthru-kms.passthru.svc, passthru-kms, not other.example"},
		{desc: "--server-name naming the dialled address of a DNS-only certificate", listen: dnsOnly, certFile: dnsCert, caFile: dnsCA, args: []string{"--server-name", "127.0.0.1"}, code: 1,
			wantErr: "cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{desc: "wrong CA, DNS-only certificate", listen: dnsOnly, certFile: dnsCert, caFile: otherCA, code: 1,
			wantErr: "certificate signed by unknown authority"},
		{desc: "wrong CA, certificate naming the address", listen: ipOnly, certFile: ipCert, caFile: otherCA, code: 1,
			wantErr: "certificate signed by unknown authority"},
		{desc: "certificate naming neither the address nor a DNS name", listen: podIP, certFile: podCert, caFile: podCA, code: 1,
			wantErr: "svc healthcheck: tls.cert_file: the certificate names neither 127.0.0.1 nor a DNS name without a wildcard: pass --server-name with a name it is issued for"},
		{desc: "unreadable certificate file", listen: dnsOnly, certFile: filepath.Join(dir, "missing.pem"), caFile: dnsCA, code: 1,
			wantErr: "svc healthcheck: tls.cert_file: the healthcheck reads the server certificate for the name to verify it against (or pass --server-name): read certificates: open " + filepath.Join(dir, "missing.pem")},
		{desc: "certificate file that is not a certificate", listen: dnsOnly, certFile: writeFile(t, dir, "garbage.pem", "not PEM\n"), caFile: dnsCA, code: 1,
			wantErr: "svc healthcheck: tls.cert_file: the healthcheck reads the server certificate for the name to verify it against (or pass --server-name): read certificates "},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "svc.yml", "tls:\n  cert_file: "+tc.certFile+"\n  key_file: unused\n  ca_file: "+tc.caFile+"\n")
			code, out, errOut := healthcheck(t, nil, append([]string{"--config", cfg, "--listen", tc.listen}, tc.args...)...)
			assert.Equal(t, tc.code, code, "stdout=%s stderr=%s", out, errOut)
			if tc.code == 0 {
				assert.Equal(t, tc.wantOut, out)
				assert.Empty(t, errOut)
				return
			}
			assert.Contains(t, errOut, tc.wantErr)
			assert.Empty(t, out)
		})
	}
}

// TestHealthcheckServerNameHelp: the flag's help says what is verified
// against what, for operators reading --help.
func TestHealthcheckServerNameHelp(t *testing.T) {
	code, _, errOut := healthcheck(t, nil, "--help")
	assert.Equal(t, 0, code)
	i := strings.Index(errOut, "-server-name")
	require.GreaterOrEqual(t, i, 0, errOut)
	assert.Contains(t, errOut[i:], "first DNS name")
}
