package authn

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
)

// User is a realm user. PasswordHash is the encoded PBKDF2 hash of package
// password; the plaintext is never kept.
type User struct {
	ID           uuid.UUID
	Realm        string
	Username     string
	PasswordHash string
	Roles        []string
	TenantID     uuid.UUID
	Enabled      bool
	Email        string
	DisplayName  string
	Metadata     json.RawMessage
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Realm is a named source of users.
type Realm interface {
	// Name is the realm's unique name.
	Name() string
	// Lookup returns the user called username, or an error wrapping
	// ErrUserNotFound. Disabled users are returned too; the caller decides.
	Lookup(ctx context.Context, username string) (*User, error)
}

// Errors of realms and user stores.
var (
	ErrUserNotFound = errors.New("user not found")
	ErrUserExists   = errors.New("user already exists")
	ErrInvalidUser  = errors.New("invalid user")
	ErrInvalidRealm = errors.New("invalid realms configuration")
)
