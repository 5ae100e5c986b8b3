package tlsx

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"software.sslmate.com/src/go-pkcs12"
)

const (
	certFileMode = 0o644 // certificates are public
	keyFileMode  = 0o600 // keys and PKCS#12 bundles are readable by the owner only
)

// WriteCertPEM writes certs as CERTIFICATE blocks, in order, atomically.
func WriteCertPEM(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return fmt.Errorf("write certificates %s: no certificates", path)
	}
	var buf bytes.Buffer
	for _, c := range certs {
		if c == nil {
			return fmt.Errorf("write certificates %s: nil certificate", path)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return fmt.Errorf("write certificates %s: %w", path, err)
		}
	}
	if err := writeFileAtomic(path, buf.Bytes(), certFileMode); err != nil {
		return fmt.Errorf("write certificates: %w", err)
	}
	return nil
}

// ReadCertsPEM reads every CERTIFICATE block of a PEM file, in order. Any
// other block type, unparsable certificate or trailing garbage is an error:
// a trust bundle is read strictly or not at all.
func ReadCertsPEM(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, fmt.Errorf("read certificates %s: %w", path, err)
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("read certificates %s: block %d is %q, want CERTIFICATE", path, i+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read certificates %s: block %d: %w", path, i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// WriteKeyPEM writes key as one PKCS#8 PRIVATE KEY block, mode 0600, atomically.
func WriteKeyPEM(path string, key crypto.Signer) error {
	if key == nil {
		return fmt.Errorf("write key %s: nil key", path)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileAtomic(path, data, keyFileMode); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

// ReadKeyPEM reads a file holding exactly one PKCS#8 PRIVATE KEY block.
func ReadKeyPEM(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	if len(blocks) != 1 {
		return nil, fmt.Errorf("read key %s: want exactly one PEM block, found %d", path, len(blocks))
	}
	if blocks[0].Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read key %s: block is %q, want PKCS#8 PRIVATE KEY", path, blocks[0].Type)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	return asSigner(parsed, path)
}

// WritePKCS12 writes the leaf, its key and its intermediates as a PKCS#12
// bundle (pkcs12.Modern: PBES2 with AES-256-CBC and PBKDF2, SHA-256 MAC),
// mode 0600, atomically. An empty password is refused: the bundle holds a
// private key.
func WritePKCS12(path string, leaf *Leaf, password string) error {
	if leaf == nil || leaf.Cert == nil || leaf.Key == nil {
		return fmt.Errorf("write PKCS#12 %s: leaf certificate and key required", path)
	}
	if password == "" {
		return fmt.Errorf("write PKCS#12 %s: empty password", path)
	}
	data, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, leaf.Intermediates, password)
	if err != nil {
		return fmt.Errorf("write PKCS#12 %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data, keyFileMode); err != nil {
		return fmt.Errorf("write PKCS#12: %w", err)
	}
	return nil
}

// ReadPKCS12 reads a bundle written by WritePKCS12 (or any PKCS#12 file with
// one key, its certificate and optional CA certificates).
func ReadPKCS12(path, password string) (*Leaf, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read PKCS#12: %w", err)
	}
	key, cert, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, fmt.Errorf("read PKCS#12 %s: %w", path, err)
	}
	signer, err := asSigner(key, path)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("read PKCS#12 %s: key does not match the certificate", path)
	}
	return &Leaf{Cert: cert, Key: signer, Intermediates: cas}, nil
}

func asSigner(key any, path string) (crypto.Signer, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("read key %s: %T is not a signing key", path, key)
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// decodePEM returns all blocks of data; anything but whitespace outside the
// blocks is an error, as is a file without blocks.
func decodePEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data outside PEM blocks")
	}
	if len(blocks) == 0 {
		return nil, errors.New("no PEM blocks")
	}
	return blocks, nil
}

// writeFileAtomic replaces path with data so that readers see the old file
// or the new one, never a partial write: a temp file in the same directory,
// created 0600 (a key is never briefly world-readable), synced, renamed.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Persist the rename itself; not every platform can sync a directory,
	// and the data is already safe, so a failure here is not an error.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
