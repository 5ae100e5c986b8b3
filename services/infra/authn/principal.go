// Package authn authenticates callers of the Passthru services and says what
// they may do: principals with a tenant and scopes, the Authenticator
// interface tried in order by a middleware, realms of users (file and
// database) and the HTTP Basic authenticator, which checks passwords through
// the shared credential verifier (package credential).
//
// A bearer-token authenticator plugs in beside Basic by implementing
// Authenticator; handlers only ever look at the Principal in the context.
package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// Method says how a principal authenticated.
type Method string

// Authentication methods.
const (
	MethodBasic  Method = "basic"
	MethodBearer Method = "bearer"
	MethodMTLS   Method = "mtls"
)

// Principal is an authenticated caller. TenantID is the only source of the
// tenant of a request (DESIGN.md §3).
type Principal struct {
	Subject  string
	TenantID uuid.UUID
	// Scopes is the expanded closure of what the caller was granted (see Expand).
	Scopes []string
	Method Method
	// Realm names the realm that authenticated a Basic user; empty otherwise.
	Realm string
}

// HasScope reports whether the principal holds scope, directly or implied.
func (p *Principal) HasScope(scope string) bool {
	return p != nil && slices.Contains(p.Scopes, scope)
}

// Errors of authentication and authorisation. They are sentinels so that the
// single HTTP error mapping of a service can pick the status with errors.Is.
var (
	// ErrNoCredentials: the request carries no credentials an authenticator understands.
	ErrNoCredentials = errors.New("authentication required")
	// ErrInvalidCredentials: credentials were present but are wrong, unknown,
	// disabled or expired. The message never says which.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrForbidden: authenticated, but a required scope is missing.
	ErrForbidden = errors.New("insufficient scope")
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// CheckScope returns nil when ctx carries a principal holding scope,
// ErrNoCredentials when there is no principal, and ErrForbidden otherwise.
func CheckScope(ctx context.Context, scope string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return ErrNoCredentials
	}
	if !p.HasScope(scope) {
		return fmt.Errorf("%w: %s required", ErrForbidden, scope)
	}
	return nil
}
