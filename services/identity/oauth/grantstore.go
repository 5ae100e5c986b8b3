package oauth

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
)

// Transactor runs store calls as one transaction on one tenant's database.
type Transactor interface {
	// WithTx runs fn in one transaction on tenant's database. The calls fn
	// makes with the context it is given, for the same tenant, are part of
	// it: all are committed when fn returns nil, none when fn returns an
	// error or panics. fn's error is returned as is.
	WithTx(ctx context.Context, tenant uuid.UUID, fn func(ctx context.Context) error) error
}

// CodeStore consumes authorization codes.
type CodeStore interface {
	// ConsumeCode marks the code used and returns it. Of concurrent callers
	// exactly one gets it; inside WithTx the others wait until that
	// transaction ends, and get it if it rolled back. A code used before
	// gives identity.ErrAlreadyUsed, an unknown one identity.ErrNotFound.
	ConsumeCode(ctx context.Context, tenant uuid.UUID, hash string, now time.Time) (*identity.AuthCode, error)
	// RevokeCodeGrants revokes every token issued from the code, including
	// those of a redemption that committed while ConsumeCode waited for it.
	RevokeCodeGrants(ctx context.Context, tenant uuid.UUID, codeHash string, now time.Time) error
}

// TokenStore keeps issued refresh and access tokens.
type TokenStore interface {
	// RefreshForUpdate finds a refresh token and locks it until the
	// transaction it must run in (WithTx) ends: a concurrent caller waits,
	// then reads what that transaction committed. identity.ErrNotFound when
	// there is no such token.
	RefreshForUpdate(ctx context.Context, tenant uuid.UUID, hash string) (*identity.RefreshToken, error)
	// ConsumeRefresh marks a live refresh token used; identity.ErrAlreadyUsed
	// when it is used, revoked or unknown.
	ConsumeRefresh(ctx context.Context, tenant uuid.UUID, hash string, now time.Time) error
	// RevokeFamily revokes every refresh and access token of a family,
	// including those of a rotation that commits while it runs.
	RevokeFamily(ctx context.Context, tenant uuid.UUID, familyID uuid.UUID, now time.Time) error
	// SaveAccess records an issued access token by its jti.
	SaveAccess(ctx context.Context, tenant uuid.UUID, a *identity.AccessToken) error
	// SaveRefresh stores an issued refresh token (by the hash of its value).
	SaveRefresh(ctx context.Context, tenant uuid.UUID, r *identity.RefreshToken) error
}

// UserFinder finds the user a grant is for.
type UserFinder interface {
	// User finds a user by id; identity.ErrNotFound when there is none.
	User(ctx context.Context, tenant uuid.UUID, id uuid.UUID) (*identity.User, error)
}

// GrantStore is the storage of the token endpoint's grants: each grant
// consumes its code or refresh token and saves the tokens made from it in
// one WithTx transaction.
type GrantStore interface {
	Transactor
	CodeStore
	TokenStore
	UserFinder
}

var _ GrantStore = (*store.Store)(nil)
