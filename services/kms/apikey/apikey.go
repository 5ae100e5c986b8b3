// Package apikey is the KMS's API keys: long-lived credentials of a tenant
// with a fixed set of scopes, for programs that cannot run an OAuth flow.
// Service creates, lists and revokes them; its Authenticator recognises a
// key presented in the X-API-Key header.
//
// A key is shown once, when it is created, as pk_<id>_<secret>: the id (32
// hex digits) finds the stored key without knowing its tenant, the secret
// is 32 random bytes in unpadded base64url. Only HMAC-SHA256 of the secret
// is stored, under a key the barrier keeps wrapped, so neither a copy of the
// database nor its backups let anyone present a key.
package apikey

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// Header is the request header an API key is presented in.
const Header = "X-API-Key"

// Prefix starts every API key, so that secret scanners and people can tell
// one apart from other tokens.
const Prefix = "pk_"

const (
	secretSize  = 32
	macKeySize  = 32
	idHexLen    = 32
	secretB64   = 43 // unpadded base64url of secretSize bytes
	presentedLn = len(Prefix) + idHexLen + 1 + secretB64

	// The MAC key's name in the secret store and its barrier purpose.
	macKeyName    = "apikey/mac-key"
	macKeyPurpose = "kms/api-key-mac"
)

// Defaults of Options.
const (
	// DefaultCacheTTL bounds how long a verified key is answered from
	// memory. A key revoked through another replica keeps working there
	// for at most this long on ordinary operations; sensitive ones
	// (authn.IsSensitive) always read the key afresh.
	DefaultCacheTTL = 5 * time.Second
	// DefaultCacheSize bounds how many verified keys are remembered.
	DefaultCacheSize = 10000
)

// Store is what the service needs of the KMS store.
type Store interface {
	kms.APIKeyStore
	kms.SecretStore
}

// Wrapper is the barrier: it keeps the MAC key encrypted at rest.
type Wrapper interface {
	Wrap(ctx context.Context, tenant uuid.UUID, purpose string, plaintext []byte) ([]byte, error)
	Unwrap(ctx context.Context, tenant uuid.UUID, purpose string, wrapped []byte) ([]byte, error)
}

// Options configures New.
type Options struct {
	Store   Store
	Barrier Wrapper
	Now     func() time.Time
	// CacheTTL is how long a verified key is answered without reading the
	// store (default DefaultCacheTTL; negative disables the cache).
	CacheTTL time.Duration
	// CacheSize bounds the cache (default DefaultCacheSize).
	CacheSize int
	// Hierarchy is the scope hierarchy keys are granted and expanded under:
	// the same as every other credential's (default scope.Default()).
	Hierarchy *scope.Hierarchy
}

// Service manages a tenant's API keys and authenticates requests bearing
// them. It is safe for concurrent use.
type Service struct {
	store     kms.APIKeyStore
	hierarchy *scope.Hierarchy
	now       func() time.Time
	macKey    []byte
	cache     *cache
}

// New loads (or, on the first start against a database, creates) the MAC
// key and returns the service. Every replica on one database must use the
// same MAC key, so the first to start stores it wrapped by the barrier's
// system scope and the others unwrap that one.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Barrier == nil {
		return nil, errors.New("apikey: Store and Barrier are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.Hierarchy == nil {
		opts.Hierarchy = scope.Default()
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	key, err := loadMACKey(ctx, opts.Store, opts.Barrier)
	if err != nil {
		return nil, err
	}
	return &Service{store: opts.Store, hierarchy: opts.Hierarchy, now: opts.Now, macKey: key, cache: newCache(opts.CacheTTL, opts.CacheSize, opts.Now)}, nil
}

func loadMACKey(ctx context.Context, secrets kms.SecretStore, w Wrapper) ([]byte, error) {
	fresh := make([]byte, macKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("apikey: mac key: %w", err)
	}
	candidate, err := w.Wrap(ctx, uuid.Nil, macKeyPurpose, fresh)
	if err != nil {
		return nil, fmt.Errorf("apikey: mac key: %w", err)
	}
	wrapped, err := secrets.StoreSecretOnce(ctx, macKeyName, candidate)
	if err != nil {
		return nil, fmt.Errorf("apikey: mac key: %w", err)
	}
	key, err := w.Unwrap(ctx, uuid.Nil, macKeyPurpose, wrapped)
	if err != nil {
		return nil, fmt.Errorf("apikey: mac key: %w", err)
	}
	if len(key) != macKeySize {
		return nil, fmt.Errorf("apikey: mac key: stored key is %d bytes, want %d", len(key), macKeySize)
	}
	return key, nil
}

// mac is the stored form of a key's secret. HMAC-SHA256 and not a slow
// password hash (PBKDF2, Argon2): the secret is 256 random bits, which no
// amount of guessing reaches, so slowing each guess down protects nothing
// while it would put a key derivation on every request. The HMAC key (held
// by the barrier, not in the table) means the stored value cannot even be
// checked offline by whoever copies the table. The id is MACed too, so a
// stored value copied onto another key's row does not verify there.
func (s *Service) mac(id uuid.UUID, secret []byte) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write(id[:])
	m.Write(secret)
	return m.Sum(nil)
}

// parse splits a presented key into its id and secret; ok is false for
// anything not shaped like a key this service issues.
func parse(presented string) (id uuid.UUID, secret []byte, ok bool) {
	rest, found := strings.CutPrefix(presented, Prefix)
	if !found || len(presented) != presentedLn || rest[idHexLen] != '_' {
		return uuid.Nil, nil, false
	}
	raw, err := hex.DecodeString(rest[:idHexLen])
	if err != nil {
		return uuid.Nil, nil, false
	}
	id, err = uuid.FromBytes(raw)
	if err != nil {
		return uuid.Nil, nil, false
	}
	secret, err = base64.RawURLEncoding.Strict().DecodeString(rest[idHexLen+1:])
	if err != nil || len(secret) != secretSize {
		return uuid.Nil, nil, false
	}
	return id, secret, true
}

func format(id uuid.UUID, secret []byte) string {
	return Prefix + hex.EncodeToString(id[:]) + "_" + base64.RawURLEncoding.EncodeToString(secret)
}

// NewKey is what Create needs.
type NewKey struct {
	Name   string
	Scopes []string
	// ExpiresAt is when the key stops working; nil for never.
	ExpiresAt *time.Time
}

// maxScopes bounds the scopes of one key (there are fewer known ones).
const maxScopes = 32

// Create makes an API key of the creator's tenant. The key is returned once,
// in the presented form (pk_<id>_<secret>); only its MAC is stored.
// invalid_request for a bad name, an unknown scope or an expiry not in the
// future; forbidden for a scope the creator does not hold itself, so that
// no one can mint a key stronger than their own credentials.
func (s *Service) Create(ctx context.Context, creator *authn.Principal, nk NewKey) (*kms.APIKey, string, error) {
	if creator == nil {
		return nil, "", kms.New(kms.Unauthenticated, "authentication required")
	}
	if err := kms.ValidateName("api key", nk.Name); err != nil {
		return nil, "", err
	}
	if len(nk.Scopes) == 0 || len(nk.Scopes) > maxScopes {
		return nil, "", kms.New(kms.InvalidRequest, "scopes must name 1 to %d scopes", maxScopes)
	}
	scopes := slices.Clone(nk.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	for _, sc := range scopes {
		if !s.hierarchy.IsKnown(sc) {
			return nil, "", kms.New(kms.InvalidRequest, "unknown scope %q: known scopes are %s", sc, strings.Join(s.hierarchy.Known(), ", "))
		}
	}
	// Everything the key would grant, not only what it names, must be held
	// by its creator: no one mints a key stronger than their own credentials.
	for _, sc := range s.hierarchy.Expand(scopes) {
		if !creator.HasScope(sc) {
			return nil, "", kms.New(kms.Forbidden, "cannot grant scope %s: the caller does not hold it", sc)
		}
	}
	now := s.now().UTC()
	var expires *time.Time
	if nk.ExpiresAt != nil {
		if !nk.ExpiresAt.After(now) {
			return nil, "", kms.New(kms.InvalidRequest, "expires_at must be in the future")
		}
		e := nk.ExpiresAt.UTC()
		expires = &e
	}
	secret := make([]byte, secretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", fmt.Errorf("apikey: generate secret: %w", err)
	}
	k := &kms.APIKey{
		ID: ids.NewEntity(), TenantID: creator.TenantID, Name: nk.Name, Scopes: scopes, CreatedBy: creator.Subject,
		CreatedAt: now, ExpiresAt: expires,
	}
	k.Hash = s.mac(k.ID, secret)
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, format(k.ID, secret), nil
}

// Get returns key id of tenant (not_found for another tenant's).
func (s *Service) Get(ctx context.Context, tenant, id uuid.UUID) (*kms.APIKey, error) {
	return s.store.APIKey(ctx, tenant, id)
}

// List lists the tenant's keys in creation order, revoked ones included.
func (s *Service) List(ctx context.Context, tenant uuid.UUID, page kms.Page) ([]*kms.APIKey, uuid.UUID, error) {
	return s.store.APIKeys(ctx, tenant, page)
}

// Revoke revokes key id of tenant for good; revoking it again changes
// nothing. This replica refuses the key from now on; others within the
// cache TTL, or at once for sensitive operations.
func (s *Service) Revoke(ctx context.Context, tenant, id uuid.UUID) (*kms.APIKey, error) {
	k, err := s.store.RevokeAPIKey(ctx, tenant, id, s.now())
	if err != nil {
		return nil, err
	}
	s.cache.forget(id)
	return k, nil
}

// Authenticator returns the authn.Authenticator of the service's keys. It
// shares the service's cache, so a revocation through the service takes
// effect in it at once.
func (s *Service) Authenticator() *Authenticator { return &Authenticator{s: s} }
