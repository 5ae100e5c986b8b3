package tlsx

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func assertKeysEqual(t *testing.T, want, got crypto.Signer) {
	t.Helper()
	eq, ok := want.(interface{ Equal(crypto.PrivateKey) bool })
	require.True(t, ok, "%T has no Equal", want)
	assert.True(t, eq.Equal(got), "keys differ")
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, want, fi.Mode().Perm(), path)
}

func TestPEMRoundTrip(t *testing.T) {
	cases := []struct {
		desc string
		alg  KeyAlgorithm
	}{
		{desc: "ECDSA P-256", alg: KeyECDSAP256},
		{desc: "ECDSA P-384", alg: KeyECDSAP384},
		{desc: "RSA 2048", alg: KeyRSA2048},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := newTestChain(t, ChainOptions{Length: 2, KeyAlgorithm: tc.alg})
			leaf := issue(t, c, LeafOptions{CommonName: "kms.test.local", Server: true, KeyAlgorithm: tc.alg})
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf-key.pem")

			require.NoError(t, WriteCertPEM(certPath, append([]*x509.Certificate{leaf.Cert}, leaf.Intermediates...)...))
			require.NoError(t, WriteKeyPEM(keyPath, leaf.Key))
			assertMode(t, certPath, 0o644)
			assertMode(t, keyPath, 0o600)

			certs, err := ReadCertsPEM(certPath)
			require.NoError(t, err)
			require.Len(t, certs, 2)
			assert.True(t, certs[0].Equal(leaf.Cert))
			assert.True(t, certs[1].Equal(leaf.Intermediates[0]))

			key, err := ReadKeyPEM(keyPath)
			require.NoError(t, err)
			assertKeysEqual(t, leaf.Key, key)

			raw, err := os.ReadFile(keyPath)
			require.NoError(t, err)
			block, _ := pem.Decode(raw)
			require.NotNil(t, block)
			assert.Equal(t, "PRIVATE KEY", block.Type, "PKCS#8")
		})
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 1})
	a, b := clientLeaf(t, c, "a"), clientLeaf(t, c, "b")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(keyPath, []byte("old, world-readable"), 0o644))
	require.NoError(t, WriteKeyPEM(keyPath, a.Key))
	require.NoError(t, WriteKeyPEM(keyPath, b.Key))
	assertMode(t, keyPath, 0o600)
	key, err := ReadKeyPEM(keyPath)
	require.NoError(t, err)
	assertKeysEqual(t, b.Key, key)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp files left behind")
}

func TestPEMReadErrors(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 1})
	leaf := clientLeaf(t, c, "alice")
	pkcs8, err := x509.MarshalPKCS8PrivateKey(leaf.Key)
	require.NoError(t, err)
	certBlock := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Cert.Raw})
	keyBlock := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	cases := []struct {
		desc     string
		content  []byte // nil: file absent
		readCert bool
		want     string
	}{
		{desc: "cert: missing file", readCert: true, want: "no such file"},
		{desc: "cert: empty file", content: []byte{}, readCert: true, want: "no PEM blocks"},
		{desc: "cert: not PEM", content: []byte("hello"), readCert: true, want: "data outside PEM blocks"},
		{desc: "cert: trailing garbage", content: append(append([]byte{}, certBlock...), "junk"...), readCert: true, want: "data outside PEM blocks"},
		{desc: "cert: key block in a certificate file", content: keyBlock, readCert: true, want: `block 1 is "PRIVATE KEY"`},
		{desc: "cert: corrupt DER", content: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), readCert: true, want: "block 1"},
		{desc: "key: missing file", want: "no such file"},
		{desc: "key: not PEM", content: []byte("hello"), want: "data outside PEM blocks"},
		{desc: "key: two keys", content: append(append([]byte{}, keyBlock...), keyBlock...), want: "exactly one PEM block"},
		{desc: "key: certificate instead of key", content: certBlock, want: "want PKCS#8 PRIVATE KEY"},
		{desc: "key: SEC1 EC key is not PKCS#8", content: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: pkcs8}), want: "want PKCS#8 PRIVATE KEY"},
		{desc: "key: corrupt DER", content: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), want: "read key"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.pem")
			if tc.content != nil {
				require.NoError(t, os.WriteFile(path, tc.content, 0o600))
			}
			var err error
			if tc.readCert {
				_, err = ReadCertsPEM(path)
			} else {
				_, err = ReadKeyPEM(path)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestPEMWriteErrors(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 1})
	leaf := clientLeaf(t, c, "alice")
	missingDir := filepath.Join(t.TempDir(), "absent", "f.pem")
	cases := []struct {
		desc  string
		write func(path string) error
		path  string
		want  string
	}{
		{desc: "no certificates", write: func(p string) error { return WriteCertPEM(p) }, want: "no certificates"},
		{desc: "nil certificate", write: func(p string) error { return WriteCertPEM(p, leaf.Cert, nil) }, want: "nil certificate"},
		{desc: "nil key", write: func(p string) error { return WriteKeyPEM(p, nil) }, want: "nil key"},
		{desc: "certificate into a missing directory", path: missingDir, write: func(p string) error { return WriteCertPEM(p, leaf.Cert) }, want: "no such file"},
		{desc: "key into a missing directory", path: missingDir, write: func(p string) error { return WriteKeyPEM(p, leaf.Key) }, want: "no such file"},
		{desc: "PKCS#12 into a missing directory", path: missingDir, write: func(p string) error { return WritePKCS12(p, leaf, "pw") }, want: "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "f.pem")
			}
			err := tc.write(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestPKCS12RoundTrip(t *testing.T) {
	cases := []struct {
		desc     string
		length   int
		alg      KeyAlgorithm
		password string
	}{
		{desc: "default chain, P-256", length: 3, alg: KeyECDSAP256, password: "correct horse"},
		{desc: "P-384, root only: no intermediates", length: 1, alg: KeyECDSAP384, password: "pw"},
		{desc: "RSA 2048, unicode password", length: 2, alg: KeyRSA2048, password: "pässwörd ✓"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := newTestChain(t, ChainOptions{Length: tc.length, KeyAlgorithm: tc.alg})
			leaf := issue(t, c, LeafOptions{CommonName: "kms.test.local", Server: true, Client: true, KeyAlgorithm: tc.alg})
			path := filepath.Join(t.TempDir(), "leaf.p12")
			require.NoError(t, WritePKCS12(path, leaf, tc.password))
			assertMode(t, path, 0o600)

			got, err := ReadPKCS12(path, tc.password)
			require.NoError(t, err)
			assertKeysEqual(t, leaf.Key, got.Key)
			assert.True(t, got.Cert.Equal(leaf.Cert))
			require.Len(t, got.Intermediates, len(leaf.Intermediates))
			for i := range leaf.Intermediates {
				assert.True(t, got.Intermediates[i].Equal(leaf.Intermediates[i]))
			}

			_, err = ReadPKCS12(path, tc.password+"x")
			assert.Error(t, err, "wrong password must fail")

			// The real openssl reads the bundle (MAC and decryption) with the
			// right password and refuses it with a wrong one.
			out, ok := runOpenSSL(t, "pkcs12", "-in", path, "-passin", "pass:"+tc.password, "-nodes", "-out", filepath.Join(t.TempDir(), "out.pem"))
			assert.True(t, ok, "openssl pkcs12: %s", out)
			out, ok = runOpenSSL(t, "pkcs12", "-in", path, "-passin", "pass:wrong", "-nodes", "-out", filepath.Join(t.TempDir(), "out.pem"))
			assert.False(t, ok, "openssl must refuse a wrong password: %s", out)
		})
	}
}

func TestPKCS12Errors(t *testing.T) {
	c := newTestChain(t, ChainOptions{Length: 1})
	a, b := clientLeaf(t, c, "a"), clientLeaf(t, c, "b")
	mismatched := filepath.Join(t.TempDir(), "mismatch.p12")
	require.NoError(t, WritePKCS12(mismatched, &Leaf{Cert: a.Cert, Key: b.Key}, "pw"))
	garbage := filepath.Join(t.TempDir(), "garbage.p12")
	require.NoError(t, os.WriteFile(garbage, []byte("not pkcs12"), 0o600))
	cases := []struct {
		desc string
		run  func() error
		want string
	}{
		{desc: "write: empty password", run: func() error { return WritePKCS12(filepath.Join(t.TempDir(), "x.p12"), a, "") }, want: "empty password"},
		{desc: "write: nil leaf", run: func() error { return WritePKCS12(filepath.Join(t.TempDir(), "x.p12"), nil, "pw") }, want: "certificate and key required"},
		{desc: "write: leaf without key", run: func() error { return WritePKCS12(filepath.Join(t.TempDir(), "x.p12"), &Leaf{Cert: a.Cert}, "pw") }, want: "certificate and key required"},
		{desc: "read: missing file", run: func() error { _, err := ReadPKCS12(filepath.Join(t.TempDir(), "x.p12"), "pw"); return err }, want: "no such file"},
		{desc: "read: not PKCS#12", run: func() error { _, err := ReadPKCS12(garbage, "pw"); return err }, want: "read PKCS#12"},
		{desc: "read: key does not match certificate", run: func() error { _, err := ReadPKCS12(mismatched, "pw"); return err }, want: "key does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.run()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAsSignerRejectsNonSigners(t *testing.T) {
	cases := []struct {
		desc string
		key  any
	}{
		{desc: "byte slice", key: []byte("k")},
		{desc: "nil", key: nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := asSigner(tc.key, "f")
			assert.ErrorContains(t, err, "not a signing key")
		})
	}
}
