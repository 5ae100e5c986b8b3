package oauth

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
)

// csrfKeySize is the size of the key of the forms' CSRF tokens (HMAC-SHA256).
const csrfKeySize = 32

// The CSRF key's name in the store and its barrier purpose.
const (
	csrfKeyName    = "oauth/csrf-key"
	csrfKeyPurpose = "identity/csrf-key"
)

// SecretStore keeps the service's shared secrets, wrapped.
type SecretStore interface {
	// StoreSecretOnce stores candidate under name unless a secret is stored
	// there already, and returns the stored one: every caller, in every
	// process on the database, gets the same bytes.
	StoreSecretOnce(ctx context.Context, name string, candidate []byte) ([]byte, error)
}

var _ SecretStore = (*store.Store)(nil)

// LoadCSRFKey returns the key of the CSRF tokens of the login, consent and
// logout forms (Config.CSRFKey). A browser may post a form to another
// replica than the one that rendered it, so every replica on one database
// must use the same key: the first to start creates it, stores it wrapped
// by the barrier (system scope), and the others unwrap that one.
func LoadCSRFKey(ctx context.Context, secrets SecretStore, w tokens.Wrapper) ([]byte, error) {
	candidate, err := w.Wrap(ctx, uuid.Nil, csrfKeyPurpose, randomBytes(csrfKeySize))
	if err != nil {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	wrapped, err := secrets.StoreSecretOnce(ctx, csrfKeyName, candidate)
	if err != nil {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	key, err := w.Unwrap(ctx, uuid.Nil, csrfKeyPurpose, wrapped)
	if err != nil {
		return nil, fmt.Errorf("csrf key: %w", err)
	}
	if len(key) != csrfKeySize {
		return nil, fmt.Errorf("csrf key: stored key is %d bytes, want %d", len(key), csrfKeySize)
	}
	return key, nil
}
