package oauth

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
)

// The endpoints reach storage through the narrow interfaces below (and
// those of grantstore.go); each says what a store guarantees. Errors are
// typed with the domain's: identity.ErrNotFound, identity.ErrConflict,
// identity.ErrAlreadyUsed (test with errors.Is); any other error is a
// failure of the store itself.

// ClientStore finds OAuth clients.
type ClientStore interface {
	// Client finds a client by client_id in whichever tenant owns it (OAuth
	// requests name a client, never a tenant); the client's TenantID says
	// which. identity.ErrNotFound when no tenant has it.
	Client(ctx context.Context, clientID string) (*identity.Client, error)
	// TenantClient finds a client of one tenant only; a client of another
	// tenant is identity.ErrNotFound, as is an unknown tenant.
	TenantClient(ctx context.Context, tenant uuid.UUID, clientID string) (*identity.Client, error)
}

// UserStore finds users and records their logins.
type UserStore interface {
	UserFinder
	// UserByUsername finds a user of tenant by username;
	// identity.ErrNotFound when there is none.
	UserByUsername(ctx context.Context, tenant uuid.UUID, username string) (*identity.User, error)
}

// ConsentStore remembers which scope sets a user approved for a client.
type ConsentStore interface {
	// HasConsent reports whether the user approved the client for exactly
	// scopeKey (the scopes sorted and space-separated).
	HasConsent(ctx context.Context, tenant uuid.UUID, userID uuid.UUID, clientID, scopeKey string) (bool, error)
	// SaveConsent records a consent; saving one that exists changes nothing
	// and is not an error.
	SaveConsent(ctx context.Context, tenant uuid.UUID, c *identity.Consent) error
}

// SessionStore keeps browser login sessions by the hash of the cookie.
type SessionStore interface {
	// SaveSession stores a new session.
	SaveSession(ctx context.Context, sess *identity.Session) error
	// Session finds a session, expired or not (the caller checks
	// ExpiresAt); identity.ErrNotFound when there is none.
	Session(ctx context.Context, hash string) (*identity.Session, error)
	// DeleteSession ends a session; ending one that is gone is not an error.
	DeleteSession(ctx context.Context, hash string) error
}

// AuthRequestStore keeps validated authorization requests while the user
// logs in and consents, by the hash of their handle.
type AuthRequestStore interface {
	// SaveAuthRequest stores a new pending request.
	SaveAuthRequest(ctx context.Context, r *identity.AuthRequest) error
	// AuthRequest finds a pending request, expired or not (the caller
	// checks ExpiresAt); identity.ErrNotFound when there is none.
	AuthRequest(ctx context.Context, hash string) (*identity.AuthRequest, error)
	// DeleteAuthRequest removes a request and reports whether it was still
	// there: of concurrent callers exactly one gets true, so a request
	// completes at most once.
	DeleteAuthRequest(ctx context.Context, hash string) (bool, error)
}

// CodeIssuer stores the authorization codes the authorization endpoint
// issues (the token endpoint consumes them through CodeStore).
type CodeIssuer interface {
	// SaveCode stores a new, unused code by its hash.
	SaveCode(ctx context.Context, tenant uuid.UUID, c *identity.AuthCode) error
}

// TokenLookup reads and revokes issued tokens outside a grant, for
// introspection, revocation and bearer-token validation.
type TokenLookup interface {
	// Refresh finds a refresh token by hash, used or revoked ones too;
	// identity.ErrNotFound when there is none (or it was purged).
	Refresh(ctx context.Context, tenant uuid.UUID, hash string) (*identity.RefreshToken, error)
	// Access finds the record of an issued access token by jti;
	// identity.ErrNotFound when this service never issued it (or it was
	// purged after expiry).
	Access(ctx context.Context, tenant uuid.UUID, jti string) (*identity.AccessToken, error)
	// RevokeAccess revokes one access token; revoking a revoked or unknown
	// one is not an error.
	RevokeAccess(ctx context.Context, tenant uuid.UUID, jti string, now time.Time) error
	// RevokeFamily revokes every refresh and access token of a family (see
	// TokenStore).
	RevokeFamily(ctx context.Context, tenant uuid.UUID, familyID uuid.UUID, now time.Time) error
}

// Store is everything the endpoints keep: the union of the narrow
// interfaces, each method of Server using the part it needs.
type Store interface {
	GrantStore
	ClientStore
	UserStore
	ConsentStore
	SessionStore
	AuthRequestStore
	CodeIssuer
	TokenLookup
	ChangeFeed
}

// What *store.Store implements, said where the interfaces are.
var (
	_ Store            = (*store.Store)(nil)
	_ ClientStore      = (*store.Store)(nil)
	_ UserStore        = (*store.Store)(nil)
	_ ConsentStore     = (*store.Store)(nil)
	_ SessionStore     = (*store.Store)(nil)
	_ AuthRequestStore = (*store.Store)(nil)
	_ CodeIssuer       = (*store.Store)(nil)
	_ TokenLookup      = (*store.Store)(nil)
	_ ChangeFeed       = (*store.Store)(nil)
)
