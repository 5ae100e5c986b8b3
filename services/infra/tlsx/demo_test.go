package tlsx

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientPoolFromFile builds a pool the way a client of the demo does: from
// the ca.pem file alone.
func clientPoolFromFile(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	certs, err := ReadCertsPEM(path)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

func TestEnsureDemoPKIFirstRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tls")
	pki, err := EnsureDemoPKI(dir, "kms")
	require.NoError(t, err)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{".lock", "ca.pem", "chain.pem", "issuing-ca-key.pem", "kms.pem", "kms-key.pem"}, names,
		"root and intermediate keys are never written")
	assertMode(t, filepath.Join(dir, "issuing-ca-key.pem"), 0o600)
	assertMode(t, filepath.Join(dir, "kms-key.pem"), 0o600)
	assertMode(t, filepath.Join(dir, "ca.pem"), 0o644)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	assert.True(t, filepath.IsAbs(pki.CAFile))
	assert.Equal(t, filepath.Join(dir, "ca.pem"), pki.CAFile)
	leaf := pki.Certificate.Leaf
	require.NotNil(t, leaf)
	assert.Equal(t, "kms.passthru.demo.local", leaf.Subject.CommonName)
	assert.ElementsMatch(t, []string{"kms.passthru.demo.local", "localhost"}, leaf.DNSNames)
	require.Len(t, leaf.IPAddresses, 2)
	assert.Equal(t, "127.0.0.1", leaf.IPAddresses[0].String())
	assert.Equal(t, "::1", leaf.IPAddresses[1].String())
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.ExtKeyUsage)
	assert.Len(t, pki.Certificate.Certificate, 3, "leaf, issuing CA, intermediate")
	chain := pki.Chain()
	require.Len(t, chain.CAs, 3)
	assert.Equal(t, "Passthru Demo Root CA", chain.Root().Cert.Subject.CommonName)
	assert.Nil(t, chain.Root().Key)
	assert.NotNil(t, chain.Issuing().Key)

	// openssl accepts what is on disk: ca.pem, chain.pem, kms.pem.
	out, ok := runOpenSSL(t, "verify", "-x509_strict", "-purpose", "sslserver",
		"-CAfile", pki.CAFile, "-untrusted", filepath.Join(dir, "chain.pem"), filepath.Join(dir, "kms.pem"))
	assert.True(t, ok, "openssl verify: %s", out)

	// A client that knows only ca.pem completes a TLS 1.3 handshake with
	// every name the leaf is issued for.
	roots := clientPoolFromFile(t, pki.CAFile)
	addr, results := startTLSServer(t, ServerConfig(pki.Certificate, nil))
	for _, name := range []string{"kms.passthru.demo.local", "localhost", "127.0.0.1", "::1"} {
		t.Run("handshake as "+name, func(t *testing.T) {
			require.NoError(t, dialTLS(addr, name, ClientConfig(roots, nil)))
			require.NoError(t, awaitHandshake(t, results).err)
		})
	}
}

func TestEnsureDemoPKIReuseAndRenewal(t *testing.T) {
	start := time.Now()
	other := newTestChain(t, ChainOptions{Name: "Other"})
	cases := []struct {
		desc         string
		mutate       func(t *testing.T, dir string)
		later        time.Duration // clock of the second call, relative to the first
		wantSameCA   bool
		wantSameLeaf bool
	}{
		{desc: "restart reuses CA and leaf", wantSameCA: true, wantSameLeaf: true},
		{desc: "restart a month later reuses CA and leaf", later: 30 * 24 * time.Hour, wantSameCA: true, wantSameLeaf: true},
		{
			desc:       "missing leaf is reissued from the stored CA",
			mutate:     func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "kms.pem"))) },
			wantSameCA: true,
		},
		{
			desc:       "missing leaf key is reissued",
			mutate:     func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "kms-key.pem"))) },
			wantSameCA: true,
		},
		{
			desc: "corrupt leaf is reissued",
			mutate: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "kms.pem"), []byte("garbage"), 0o644))
			},
			wantSameCA: true,
		},
		{
			desc: "leaf key not matching the leaf is reissued",
			mutate: func(t *testing.T, dir string) {
				require.NoError(t, WriteKeyPEM(filepath.Join(dir, "kms-key.pem"), clientLeaf(t, other, "x").Key))
			},
			wantSameCA: true,
		},
		{
			desc: "leaf from another CA is reissued",
			mutate: func(t *testing.T, dir string) {
				foreign := issue(t, other, LeafOptions{CommonName: "kms.passthru.demo.local", DNSNames: []string{"localhost"}, IPs: loopbackIPs, Server: true})
				require.NoError(t, WriteCertPEM(filepath.Join(dir, "kms.pem"), append([]*x509.Certificate{foreign.Cert}, foreign.Intermediates...)...))
				require.NoError(t, WriteKeyPEM(filepath.Join(dir, "kms-key.pem"), foreign.Key))
			},
			wantSameCA: true,
		},
		{
			desc: "leaf lacking a required SAN is reissued",
			mutate: func(t *testing.T, dir string) {
				chain, err := loadDemoChain(dir, time.Now)
				require.NoError(t, err)
				narrow := issue(t, chain, LeafOptions{CommonName: "kms.passthru.demo.local", Server: true})
				require.NoError(t, WriteCertPEM(filepath.Join(dir, "kms.pem"), narrow.Cert))
				require.NoError(t, WriteKeyPEM(filepath.Join(dir, "kms-key.pem"), narrow.Key))
			},
			wantSameCA: true,
		},
		{desc: "expired leaf is reissued", later: DefaultLeafValidity + time.Hour, wantSameCA: true},
		{desc: "leaf expiring within a day is reissued", later: DefaultLeafValidity - 12*time.Hour, wantSameCA: true},
		{
			desc:   "half-written CA without ca.pem is replaced",
			mutate: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "ca.pem"))) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			first, err := ensureDemoPKI(dir, "kms", func() time.Time { return start })
			require.NoError(t, err)
			caBefore, err := os.ReadFile(first.CAFile)
			require.NoError(t, err)
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			at := start.Add(tc.later)
			second, err := ensureDemoPKI(dir, "kms", func() time.Time { return at })
			require.NoError(t, err)
			caAfter, err := os.ReadFile(second.CAFile)
			require.NoError(t, err)

			assert.Equal(t, tc.wantSameCA, string(caBefore) == string(caAfter), "ca.pem unchanged")
			assert.Equal(t, tc.wantSameCA, first.Chain().Root().Cert.Equal(second.Chain().Root().Cert))
			assert.Equal(t, tc.wantSameLeaf, first.Certificate.Leaf.Equal(second.Certificate.Leaf), "same leaf")

			// Whatever happened, what is served now verifies against what
			// is on disk now, at the second call's time.
			_, err = second.Certificate.Leaf.Verify(x509.VerifyOptions{
				DNSName:       "kms.passthru.demo.local",
				Roots:         clientPoolFromFile(t, second.CAFile),
				Intermediates: poolOf(second.Chain().intermediates()),
				CurrentTime:   at,
			})
			require.NoError(t, err)
			onDisk, err := ReadCertsPEM(filepath.Join(dir, "kms.pem"))
			require.NoError(t, err)
			assert.True(t, onDisk[0].Equal(second.Certificate.Leaf), "served leaf is the stored leaf")
		})
	}
}

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestEnsureDemoPKITwoServicesShareTheCA(t *testing.T) {
	dir := t.TempDir()
	kms1, err := EnsureDemoPKI(dir, "kms")
	require.NoError(t, err)
	idp, err := EnsureDemoPKI(dir, "identity")
	require.NoError(t, err)
	kms2, err := EnsureDemoPKI(dir, "kms")
	require.NoError(t, err)

	assert.Equal(t, kms1.CAFile, idp.CAFile)
	assert.True(t, kms1.Chain().Root().Cert.Equal(idp.Chain().Root().Cert), "one CA for both services")
	assert.True(t, kms1.Certificate.Leaf.Equal(kms2.Certificate.Leaf), "identity did not disturb the kms leaf")
	assert.False(t, kms1.Certificate.Leaf.Equal(idp.Certificate.Leaf))
	assert.Equal(t, "identity.passthru.demo.local", idp.Certificate.Leaf.Subject.CommonName)
	assert.FileExists(t, filepath.Join(dir, "identity.pem"))
	assert.FileExists(t, filepath.Join(dir, "identity-key.pem"))

	// One client trust bundle reaches both services.
	roots := clientPoolFromFile(t, kms1.CAFile)
	cases := []struct {
		desc       string
		pki        *ServerPKI
		serverName string
	}{
		{desc: "kms", pki: kms2, serverName: "kms.passthru.demo.local"},
		{desc: "identity", pki: idp, serverName: "identity.passthru.demo.local"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			addr, results := startTLSServer(t, ServerConfig(tc.pki.Certificate, nil))
			require.NoError(t, dialTLS(addr, tc.serverName, ClientConfig(roots, nil)))
			require.NoError(t, awaitHandshake(t, results).err)
		})
	}
}

func TestEnsureDemoPKIConcurrentStartsShareOneCA(t *testing.T) {
	dir := t.TempDir()
	names := []string{"kms", "identity", "kms", "identity", "kms", "identity"}
	results := make([]*ServerPKI, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { results[i], errs[i] = EnsureDemoPKI(dir, n) })
	}
	wg.Wait()
	for i := range names {
		require.NoError(t, errs[i])
		assert.True(t, results[0].Chain().Root().Cert.Equal(results[i].Chain().Root().Cert), "call %d saw another CA", i)
	}
	roots := clientPoolFromFile(t, filepath.Join(dir, "ca.pem"))
	for _, n := range []string{"kms", "identity"} {
		certs, err := ReadCertsPEM(filepath.Join(dir, n+".pem"))
		require.NoError(t, err)
		_, err = certs[0].Verify(x509.VerifyOptions{DNSName: n + ".passthru.demo.local", Roots: roots, Intermediates: poolOf(certs[1:])})
		require.NoError(t, err, n)
	}
}

func TestEnsureDemoPKIRefusesUnusableCA(t *testing.T) {
	start := time.Now()
	other := newTestChain(t, ChainOptions{Name: "Other"})
	cases := []struct {
		desc   string
		mutate func(t *testing.T, dir string)
		later  time.Duration
		want   string
	}{
		{desc: "chain.pem missing", mutate: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "chain.pem"))) }, want: "no such file"},
		{desc: "issuing CA key missing", mutate: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "issuing-ca-key.pem")))
		}, want: "no such file"},
		{
			desc: "ca.pem corrupt",
			mutate: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("garbage"), 0o644))
			},
			want: "data outside PEM blocks",
		},
		{
			desc: "ca.pem holds two certificates",
			mutate: func(t *testing.T, dir string) {
				require.NoError(t, WriteCertPEM(filepath.Join(dir, "ca.pem"), other.CAs[0].Cert, other.CAs[1].Cert))
			},
			want: "exactly one CA certificate",
		},
		{
			desc: "issuing CA key does not match",
			mutate: func(t *testing.T, dir string) {
				require.NoError(t, WriteKeyPEM(filepath.Join(dir, "issuing-ca-key.pem"), other.Issuing().Key))
			},
			want: "does not match the issuing CA",
		},
		{
			desc: "ca.pem replaced by another root",
			mutate: func(t *testing.T, dir string) {
				require.NoError(t, WriteCertPEM(filepath.Join(dir, "ca.pem"), other.Root().Cert))
			},
			want: "issuing CA does not verify",
		},
		{desc: "CA expired", later: DefaultCAValidity + time.Hour, want: "issuing CA does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			_, err := ensureDemoPKI(dir, "kms", func() time.Time { return start })
			require.NoError(t, err)
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			before := snapshot(t, dir)
			at := start.Add(tc.later)
			_, err = ensureDemoPKI(dir, "kms", func() time.Time { return at })
			require.Error(t, err)
			assert.Contains(t, err.Error(), "existing demo CA is unusable")
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, before, snapshot(t, dir), "a refused CA leaves the directory untouched")
		})
	}
}

// snapshot maps file names to contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

func TestEnsureDemoPKIRejectsBadNames(t *testing.T) {
	cases := []struct {
		desc string
		name string
	}{
		{desc: "empty", name: ""},
		{desc: "uppercase", name: "KMS"},
		{desc: "dotted", name: "kms.prod"},
		{desc: "path traversal", name: "../kms"},
		{desc: "slash", name: "a/b"},
		{desc: "leading hyphen", name: "-kms"},
		{desc: "64 characters", name: "k" + string(slices.Repeat([]byte("m"), 63))},
		{desc: "reserved: would overwrite ca.pem", name: "ca"},
		{desc: "reserved: would overwrite chain.pem", name: "chain"},
		{desc: "reserved: would overwrite the issuing CA key", name: "issuing-ca"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			_, err := EnsureDemoPKI(dir, tc.name)
			require.ErrorIs(t, err, ErrInvalidName)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing is written for a bad name")
		})
	}
}

func TestEnsureDemoPKIDirectoryErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	cases := []struct {
		desc string
		dir  string
	}{
		{desc: "dir is a regular file", dir: file},
		{desc: "parent is a regular file", dir: filepath.Join(file, "tls")},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := EnsureDemoPKI(tc.dir, "kms")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "demo PKI")
		})
	}
}

// TestDemoChainIssuesMTLSClients shows the loaded chain is enough to issue
// client certificates the demo servers accept under mTLS.
func TestDemoChainIssuesMTLSClients(t *testing.T) {
	dir := t.TempDir()
	_, err := EnsureDemoPKI(dir, "kms")
	require.NoError(t, err)
	pki, err := EnsureDemoPKI(dir, "kms") // a restart: chain loaded from disk
	require.NoError(t, err)
	client := clientLeaf(t, pki.Chain(), "demo-batch").TLSCertificate()
	addr, results := startTLSServer(t, ServerConfig(pki.Certificate, pki.Roots))
	require.NoError(t, dialTLS(addr, "localhost", ClientConfig(pki.Roots, &client)))
	seen := awaitHandshake(t, results)
	require.NoError(t, seen.err)
	assert.Equal(t, "demo-batch", seen.principal)
}
