// Package demofile defines demo.json, the file a service writes in --demo mode
// (its shape is documented in the README). Scenarios, the demo binary and any tool read the demo
// tenants, credentials and endpoints from it instead of hard-coding them.
package demofile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Name is the file name under a service's data directory.
const Name = "demo.json"

// File is the whole document. Fields may be added; the ones here are fixed.
type File struct {
	Service string   `json:"service"`
	BaseURL string   `json:"base_url"`
	Issuer  string   `json:"issuer,omitempty"` // Identity only; equals the discovery issuer exactly
	CAFile  string   `json:"ca_file"`
	Tenants []Tenant `json:"tenants"`
	// Trust is the token issuer a KMS demo trusts (KMS only, when the
	// KMS demo runs beside an Identity demo).
	Trust *Trust `json:"trust,omitempty"`
}

// Trust describes how a KMS demo accepts an Identity provider's tokens.
type Trust struct {
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// RevocationMode and RevocationIntervalSeconds are the revocation
	// policy: a revoked token is refused within the interval at the latest
	// (at once for sensitive operations in mode "sensitive").
	RevocationMode            string  `json:"revocation_mode"`
	RevocationIntervalSeconds float64 `json:"revocation_interval_seconds"`
}

// Tenant is one demo tenant with everything seeded in it.
type Tenant struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Users   []User   `json:"users,omitempty"`
	Keys    []Key    `json:"keys,omitempty"`
	Clients []Client `json:"clients,omitempty"`
	// ClientCerts are demo client certificates the KMS maps to principals
	// of this tenant (KMS only).
	ClientCerts []ClientCert `json:"client_certs,omitempty"`
}

// ClientCert is a demo client certificate for mutual TLS: PEM files, and
// the same as PKCS#12 with its password in a file, for browsers and tools.
type ClientCert struct {
	Name            string   `json:"name"`
	URI             string   `json:"uri"` // the URI SAN the KMS maps
	Roles           []string `json:"roles"`
	CertFile        string   `json:"cert_file"`
	KeyFile         string   `json:"key_file"`
	P12File         string   `json:"p12_file"`
	P12PasswordFile string   `json:"p12_password_file"`
}

// User is a demo user with its documented demo password.
type User struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Roles    []string `json:"roles,omitempty"`
}

// Key is a demo elastic key (KMS).
type Key struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Purpose   string `json:"purpose"`
}

// Client kinds.
const (
	KindConfidential   = "confidential"
	KindPublic         = "public"
	KindService        = "service"
	KindResourceServer = "resource_server"
)

// Client is a demo OAuth client (Identity).
type Client struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Kind         string   `json:"kind"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
}

// Write stores f as dir/demo.json, readable by the owner only: it holds demo
// passwords and client secrets. The write is atomic (temp file + rename) so a
// reader never sees half a document.
func Write(dir string, f *File) (string, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode demo file: %w", err)
	}
	path := filepath.Join(dir, Name)
	tmp, err := os.CreateTemp(dir, ".demo-*.json")
	if err != nil {
		return "", fmt.Errorf("write demo file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write demo file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write demo file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write demo file: %w", err)
	}
	return path, nil
}

// Read parses a demo file and checks the fields every reader relies on.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read demo file: %w", err)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse demo file %s: %w", path, err)
	}
	if f.Service == "" || f.BaseURL == "" || f.CAFile == "" {
		return nil, fmt.Errorf("demo file %s: service, base_url and ca_file are required", path)
	}
	if len(f.Tenants) == 0 {
		return nil, fmt.Errorf("demo file %s: no tenants", path)
	}
	return &f, nil
}

// ErrNotFound is returned by the lookups below when nothing matches.
var ErrNotFound = errors.New("not found in demo file")

// User returns the named user of tenant t.
func (t *Tenant) User(username string) (User, error) {
	for _, u := range t.Users {
		if u.Username == username {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("user %q of tenant %s: %w", username, t.ID, ErrNotFound)
}

// ClientOfKind returns the first client of the given kind in tenant t.
func (t *Tenant) ClientOfKind(kind string) (Client, error) {
	for _, c := range t.Clients {
		if c.Kind == kind {
			return c, nil
		}
	}
	return Client{}, fmt.Errorf("%s client of tenant %s: %w", kind, t.ID, ErrNotFound)
}

// KeyByAlgorithm returns the first key of tenant t with the given algorithm.
func (t *Tenant) KeyByAlgorithm(alg string) (Key, error) {
	for _, k := range t.Keys {
		if k.Algorithm == alg {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("%s key of tenant %s: %w", alg, t.ID, ErrNotFound)
}
