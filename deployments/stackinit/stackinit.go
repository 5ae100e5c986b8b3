// Package stackinit bootstraps what the compose stack (deployments/compose.yml)
// reads from the host for the dev, demo and ci profiles: a CA chain and the
// services' leaf certificates, laid out as the services' demo PKI directory
// (services/infra/tlsx.EnsureDemoPKI), and the generated secrets (unseal
// secrets, database passwords and DSNs, demo passwords and client secrets).
//
// It is idempotent: files that exist are kept (a secret is never replaced,
// since the database is sealed with it); a leaf certificate that no longer
// covers its service's names is reissued from the stored issuing CA. The
// prod profile never uses what it generates by default: an operator points
// PASSTHRU_SECRETS_DIR and PASSTHRU_TLS_DIR at their own files, and Check
// tells which are missing.
package stackinit

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// ContainerUID is the uid (and gid) the service images run as.
const ContainerUID = 10001

// Directories under the run dir (deployments/.run).
const (
	TLSDir     = "tls"
	SecretsDir = "secrets"
	// BinDir holds the static demo binary the compose demo runner mounts
	// (make demo-compose builds it); the bootstrap only makes the dir.
	BinDir = "bin"
)

// Service is one service's TLS leaf: the compose service names it answers as
// (replicas and aliases included), plus localhost and the loopback addresses
// for the published ports.
type Service struct {
	Name  string   // the leaf's file name and tlsx demo name: <Name>.pem, <Name>-key.pem
	Hosts []string // DNS names besides localhost and <Name>.passthru.demo.local
}

// Services are the leaves the stack needs.
var Services = []Service{
	{Name: "kms", Hosts: []string{"kms", "kms-2", "kms-server"}},
	{Name: "identity", Hosts: []string{"identity", "identity-2", "identity-server"}},
	// The telemetry stack (telemetry/compose.yml) receives OTLP over TLS.
	{Name: "otel-collector", Hosts: []string{"otel-collector"}},
	{Name: "jaeger", Hosts: []string{"jaeger"}},
}

// SecretKind says how a secret is generated.
type SecretKind int

const (
	// Random is 32 random bytes, base64url without padding (43 characters:
	// safe in a DSN and a shell).
	Random SecretKind = iota
	// Unseal is a barrier unseal secret (barrier.GenerateSecretFile).
	Unseal
	// DSN is a PostgreSQL DSN for a service's own database and role,
	// built from that role's password secret.
	DSN
)

// Secret is one generated secret file under secrets/.
type Secret struct {
	Name string // file name, and the compose secret's file
	Kind SecretKind
	// For DSN: the role and database (the service's name) and the
	// password secret it uses.
	Role, PasswordFrom string
}

// Secrets are the generated secrets, in generation order (a DSN after its
// password).
var Secrets = []Secret{
	{Name: "postgres-password"},
	{Name: "kms-db-password"},
	{Name: "identity-db-password"},
	{Name: "kms-db-dsn", Kind: DSN, Role: "kms", PasswordFrom: "kms-db-password"},
	{Name: "identity-db-dsn", Kind: DSN, Role: "identity", PasswordFrom: "identity-db-password"},
	{Name: "kms-unseal-1", Kind: Unseal},
	{Name: "identity-unseal-1", Kind: Unseal},
	{Name: "kms-demo-admin-password"},
	{Name: "kms-demo-writer-password"},
	{Name: "kms-demo-reader-password"},
	{Name: "identity-demo-admin-password"},
	{Name: "identity-demo-user-password"},
	{Name: "identity-demo-service-password"},
	{Name: "identity-demo-web-secret"},
	{Name: "identity-demo-service-secret"},
	{Name: "identity-demo-kms-reader-secret"},
	{Name: "identity-demo-kms-rs-secret"},
	{Name: "identity-demo-admin-secret"},
}

// ProdSecrets and ProdTLS are the files the prod profile reads from the
// operator's PASSTHRU_SECRETS_DIR and PASSTHRU_TLS_DIR (the demo ones are
// not among them: prod seeds no demo data).
var (
	ProdSecrets = []string{
		"postgres-password", "kms-db-password", "identity-db-password", "kms-db-dsn", "identity-db-dsn",
		"kms-unseal-1", "identity-unseal-1",
	}
	ProdTLS = []string{tlsx.DemoCAFile, "kms.pem", "kms-key.pem", "identity.pem", "identity-key.pem"}
)

// DBHost is the compose service name of PostgreSQL.
const DBHost = "postgres"

// Options say where to write and for whom.
type Options struct {
	Dir string // the run dir, e.g. deployments/.run
	// UID and GID own what the containers read and write, when Root is
	// set; otherwise the files are made readable (and the PKI dir
	// writable) for everyone, which the container user needs.
	UID, GID int
	// Root says the bootstrap may chown (it runs as root): callers set it
	// from os.Geteuid() == 0. It is an option rather than looked up here
	// so that tests, which may run as root, cover both branches.
	Root bool
	// Log receives one line per file created (nil: none).
	Log func(format string, args ...any)
}

// Run creates what is missing under opts.Dir and fixes the ownership and
// modes the containers need.
func Run(opts Options) error {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// The run dir is the owner's alone before anything is written in it:
	// the TLS keys under it are readable by all (the container user must
	// read them through the bind mount, which does not traverse this
	// directory), so this directory is what keeps other host users out.
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	if err := os.Chmod(opts.Dir, 0o700); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	tlsDir, secDir := filepath.Join(opts.Dir, TLSDir), filepath.Join(opts.Dir, SecretsDir)
	if err := ensureTLS(tlsDir, logf); err != nil {
		return err
	}
	if err := ensureSecrets(secDir, logf); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, BinDir), 0o755); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	return fixModes(tlsDir, secDir, opts)
}

func ensureTLS(dir string, logf func(string, ...any)) error {
	fresh := !exists(filepath.Join(dir, tlsx.DemoCAFile))
	var pki *tlsx.ServerPKI
	for _, s := range Services {
		// EnsureDemoPKI creates the CA once (or loads it) and the
		// default leaf; the leaf is replaced below by one that also
		// names the compose hosts, which EnsureDemoPKI keeps later,
		// since it still verifies for <name>.passthru.demo.local.
		p, err := tlsx.EnsureDemoPKI(dir, s.Name)
		if err != nil {
			return fmt.Errorf("stackinit: %w", err)
		}
		pki = p
		certPath := filepath.Join(dir, s.Name+".pem")
		if covers(certPath, s, pki.Roots) {
			continue
		}
		if err := issueLeaf(dir, s, pki.Chain()); err != nil {
			return err
		}
		logf("issued %s", certPath)
	}
	if fresh {
		logf("created CA %s", filepath.Join(dir, tlsx.DemoCAFile))
	}
	return nil
}

// leafNames are the DNS names and IPs of s's leaf.
func leafNames(s Service) ([]string, []net.IP) {
	dns := append([]string{"localhost", s.Name + "." + tlsx.DemoDomain}, s.Hosts...)
	return dns, []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
}

// covers reports whether the leaf at path verifies for every name of s.
func covers(path string, s Service, roots *x509.CertPool) bool {
	certs, err := tlsx.ReadCertsPEM(path)
	if err != nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	dns, ips := leafNames(s)
	for _, ip := range ips {
		dns = append(dns, ip.String())
	}
	for _, name := range dns {
		if _, err := certs[0].Verify(x509.VerifyOptions{
			DNSName: name, Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			return false
		}
	}
	return true
}

func issueLeaf(dir string, s Service, chain *tlsx.Chain) error {
	dns, ips := leafNames(s)
	leaf, err := chain.IssueLeaf(tlsx.LeafOptions{
		CommonName: s.Name + "." + tlsx.DemoDomain, Style: tlsx.CNStyleFQDN,
		DNSNames: dns, IPs: ips, Server: true,
	})
	if err != nil {
		return fmt.Errorf("stackinit: leaf %s: %w", s.Name, err)
	}
	if err := tlsx.WriteKeyPEM(filepath.Join(dir, s.Name+"-key.pem"), leaf.Key); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	if err := tlsx.WriteCertPEM(filepath.Join(dir, s.Name+".pem"), append([]*x509.Certificate{leaf.Cert}, leaf.Intermediates...)...); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	return nil
}

func ensureSecrets(dir string, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	for _, s := range Secrets {
		path := filepath.Join(dir, s.Name)
		st, err := os.Lstat(path)
		switch {
		case err == nil && st.Mode().IsRegular():
			continue // never replace a secret
		case err == nil:
			// Typically a directory Docker made when the file was missing
			// at `up`: refuse rather than guess.
			return fmt.Errorf("stackinit: %s exists but is not a regular file (%s); remove it and run again", path, st.Mode().Type())
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("stackinit: %w", err)
		}
		switch s.Kind {
		case Unseal:
			err = barrier.GenerateSecretFile(path)
		case DSN:
			var pw []byte
			if pw, err = os.ReadFile(filepath.Join(dir, s.PasswordFrom)); err == nil {
				err = writeNew(path, DSNFor(s.Role, strings.TrimSpace(string(pw))))
			}
		default:
			err = writeNew(path, randomSecret())
		}
		if err != nil {
			return fmt.Errorf("stackinit: secret %s: %w", s.Name, err)
		}
		logf("generated %s", path)
	}
	return nil
}

// DSNFor is the DSN of role's own database on the compose PostgreSQL.
func DSNFor(role, password string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:5432/%s?sslmode=disable", role, password, DBHost, role)
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(content + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return errors.Join(werr, os.Remove(path))
	}
	return nil
}

// fixModes makes the files usable by the containers. Docker bind-mounts
// secrets with the host's owner and mode, and the PostgreSQL container reads
// its secrets as its own user (not 10001), so secret files are readable by
// all (0644) inside a directory only the owner may enter (0700): on the host
// only the owner reaches them, in a container whoever it mounts them for.
// The TLS dir is the services' demo PKI directory in the demo profiles,
// where the KMS writes its demo client certificates: it belongs to the
// container user when we can chown, else it is open to all.
//
// Without root, what the containers created there (the KMS's clients/
// directory, owned by the container user and private to it) is neither
// ours to chmod nor, usually, to read: such entries are left as they are,
// so that a second bootstrap after a demo run still succeeds.
func fixModes(tlsDir, secDir string, opts Options) error {
	if err := os.Chmod(secDir, 0o700); err != nil {
		return fmt.Errorf("stackinit: %w", err)
	}
	for _, s := range Secrets {
		if err := os.Chmod(filepath.Join(secDir, s.Name), 0o644); err != nil {
			return fmt.Errorf("stackinit: %w", err)
		}
	}
	if opts.Root {
		return filepath.WalkDir(tlsDir, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("stackinit: %w", err)
			}
			if err := os.Lchown(path, opts.UID, opts.GID); err != nil {
				return fmt.Errorf("stackinit: %w", err)
			}
			return nil
		})
	}
	euid := os.Geteuid()
	return filepath.WalkDir(tlsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// WalkDir reports a directory it could not read after
			// visiting it: one we do not own and may not enter.
			if d != nil && d.IsDir() && path != tlsDir && errors.Is(err, fs.ErrPermission) {
				return fs.SkipDir
			}
			return fmt.Errorf("stackinit: %w", err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // chmod would follow it
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stackinit: %w", err)
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != euid {
			return nil // a container's: not ours to change
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o777
		}
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("stackinit: %w", err)
		}
		return nil
	})
}

// Check reports the secret and TLS files the services need that are
// missing or not regular files under secretsDir and tlsDir (the prod
// profile's operator-provided directories): one error naming each.
func Check(secretsDir, tlsDir string, secrets, tlsFiles []string) error {
	var errs []error
	check := func(dir, name string) {
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("missing %s", path))
		case err != nil:
			errs = append(errs, err)
		case !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("%s is not a regular file (a directory Docker created for a missing file? remove it)", path))
		case st.Size() == 0:
			errs = append(errs, fmt.Errorf("%s is empty", path))
		}
	}
	for _, n := range slices.Sorted(slices.Values(secrets)) {
		check(secretsDir, n)
	}
	for _, n := range slices.Sorted(slices.Values(tlsFiles)) {
		check(tlsDir, n)
	}
	return errors.Join(errs...)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
