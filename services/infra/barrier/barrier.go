// Package barrier keeps key material encrypted at rest.
//
// A random 256-bit root key is stored only wrapped (AES-256-GCM) by unseal
// keys derived with HKDF-SHA256 from unseal secrets that live in files outside
// the database. With N configured secrets and a threshold M, the root key is
// stored once per M-subset of the N secrets, so any M of them unseal it.
// The root key wraps one random AES-256 key-encryption key (KEK) per tenant;
// callers' data (key material, signing keys) is wrapped by the tenant's KEK
// with additional data binding the tenant and a caller-chosen purpose.
//
// The database alone therefore reveals no key: the root key needs the secrets,
// every KEK needs the root key.
package barrier

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Limits on the unseal configuration. MaxSecrets keeps the number of stored
// root-key copies (C(N,M), at most C(8,4) = 70) small.
const (
	MaxSecrets    = 8
	MinSecretSize = 32
)

var (
	// ErrSealed is wrapped by every error that means the barrier cannot be
	// unsealed: missing, unreadable or wrong unseal secrets, a threshold that
	// differs from the database's, or a stored root key that fails
	// authentication.
	ErrSealed = errors.New("barrier: sealed")
	// ErrUnwrap is wrapped by every Unwrap failure: wrong tenant or purpose,
	// tampered or truncated data, or a key that no longer exists (shredded).
	ErrUnwrap = errors.New("barrier: unwrap failed")
)

// sentinelError carries a complete human message while matching a sentinel
// with errors.Is, so messages read "barrier: unseal failed: ..." rather than
// repeating the sentinel's text.
type sentinelError struct {
	sentinel error
	msg      string
	cause    error
}

func (e *sentinelError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *sentinelError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.sentinel, e.cause}
	}
	return []error{e.sentinel}
}

func sealedf(cause error, format string, args ...any) error {
	return &sentinelError{sentinel: ErrSealed, msg: "barrier: unseal failed: " + fmt.Sprintf(format, args...), cause: cause}
}

func unwrapf(cause error, format string, args ...any) error {
	return &sentinelError{sentinel: ErrUnwrap, msg: "barrier: unwrap failed: " + fmt.Sprintf(format, args...), cause: cause}
}

// Options configures Open.
type Options struct {
	// Secrets are the unseal secrets (see ReadSecretFiles), each at least
	// MinSecretSize bytes of high-entropy data. On first Open all N secrets
	// must be given; later any Threshold of them suffice. Order does not matter.
	Secrets [][]byte
	// Threshold is M, the number of secrets that unseal; 0 means 1. It must
	// equal the threshold the database was initialised with.
	Threshold int
	// Now is the clock for stored timestamps; nil means time.Now.
	Now func() time.Time
}

// Barrier wraps and unwraps tenant data. It is safe for concurrent use.
//
// Tenant KEKs are cached unwrapped in memory, so Wrap and Unwrap cost one
// AES-GCM operation once a tenant's KEK has been loaded. The cache is per
// process: DeleteTenant evicts only this Barrier's cache, so other processes
// sharing the database keep a shredded tenant's KEK until they restart.
type Barrier struct {
	g   *gorm.DB
	now func() time.Time

	salt      []byte
	n, m      int
	secrets   []secret // the secrets this process was given that match the database
	subset    string   // fingerprint of the subset used to unseal
	unsealKey []byte   // unseal key of that subset, to re-read a root rotated by another process

	rootMu      sync.RWMutex
	rootKey     []byte
	root        cipher.AEAD
	rootVersion int

	cacheMu sync.RWMutex
	keks    map[uuid.UUID]*kek      // by key id
	current map[uuid.UUID]uuid.UUID // tenant -> key id used by Wrap
	// shredEpoch counts DeleteTenant calls, so kekByID can tell that a
	// deletion may have raced with its database read.
	shredEpoch uint64

	// createMu serialises KEK creation inside this process so that many
	// goroutines meeting a new tenant at once make one database round trip
	// each in turn instead of racing; uniqueness across processes comes from
	// the database (unique index + ON CONFLICT DO NOTHING + re-read).
	createMu sync.Mutex
}

// kek is an unwrapped tenant key-encryption key.
type kek struct {
	id     uuid.UUID
	tenant uuid.UUID
	key    []byte
	aead   cipher.AEAD
}

// Open migrates the barrier's tables in g (the system database), initialises
// the barrier on first use and unseals it. Wrong, missing or unrecognised
// secrets give an error wrapping ErrSealed that says how many secrets were
// required and how many matched.
func Open(ctx context.Context, g *gorm.DB, opts Options) (*Barrier, error) {
	if g == nil {
		return nil, errors.New("barrier: open: nil database")
	}
	if opts.Threshold == 0 {
		opts.Threshold = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := validateSecrets(opts.Secrets, opts.Threshold); err != nil {
		return nil, err
	}
	if err := migrate(ctx, g); err != nil {
		return nil, fmt.Errorf("barrier: open: %w", err)
	}
	b := &Barrier{
		g:       g,
		now:     opts.Now,
		keks:    make(map[uuid.UUID]*kek),
		current: make(map[uuid.UUID]uuid.UUID),
	}
	initialised, err := b.initialise(ctx, opts)
	if err != nil {
		return nil, err
	}
	if !initialised {
		if err := b.unseal(ctx, opts); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func validateSecrets(secrets [][]byte, threshold int) error {
	if len(secrets) == 0 {
		return sealedf(nil, "no unseal secrets configured")
	}
	if len(secrets) > MaxSecrets {
		return fmt.Errorf("barrier: open: %d unseal secrets configured, at most %d supported", len(secrets), MaxSecrets)
	}
	if threshold < 1 || threshold > MaxSecrets {
		return fmt.Errorf("barrier: open: threshold %d out of range 1..%d", threshold, MaxSecrets)
	}
	if len(secrets) < threshold {
		return sealedf(nil, "%d of the unseal secrets are required, only %d given", threshold, len(secrets))
	}
	for i, s := range secrets {
		if len(s) < MinSecretSize {
			return fmt.Errorf("barrier: open: unseal secret #%d is %d bytes, at least %d required", i+1, len(s), MinSecretSize)
		}
		for j := range i {
			if string(secrets[j]) == string(s) {
				return fmt.Errorf("barrier: open: unseal secrets #%d and #%d are identical", j+1, i+1)
			}
		}
	}
	return nil
}

// currentRoot returns the root AEAD and its version.
func (b *Barrier) currentRoot() (cipher.AEAD, int) {
	b.rootMu.RLock()
	defer b.rootMu.RUnlock()
	return b.root, b.rootVersion
}

func (b *Barrier) setRoot(key []byte, version int) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	b.storeRoot(key, aead, version)
	return nil
}

// storeRoot swaps in a root key whose AEAD the caller already built.
func (b *Barrier) storeRoot(key []byte, aead cipher.AEAD, version int) {
	b.rootMu.Lock()
	defer b.rootMu.Unlock()
	b.rootKey, b.root, b.rootVersion = key, aead, version
}
