// Package realm is where KMS users come from and what they may do: roles
// (named scope sets with inheritance), realms of users declared in realms.yml
// (file realms) or kept in table kms_realm_users (database realms, see
// UserStore), and the HTTP Basic authenticator that looks a username up in
// the realms in order and checks the password through the shared credential
// verifier. The result of a successful check is an authn.Principal, which
// Basic remembers with the verified credential, so that a repeated request
// reads no realm (see credential.AccountCache); the UserStore tells Basic
// about every change to a user.
package realm

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
