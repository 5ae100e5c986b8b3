// Package authn is the service-neutral part of authentication: the
// Principal a request runs as (tenant, subject, method, roles, scopes), the
// Authenticator interface, the middleware that tries several authenticators
// in order, and the WWW-Authenticate challenge helpers.
//
// What a scope means, where users live and how their credentials are checked
// belong to each service: the KMS's realms and HTTP Basic authenticator are
// in services/kms/realm, its scopes in services/kms/scope. A bearer-token
// authenticator plugs in beside Basic by implementing Authenticator; handlers
// only ever look at the Principal in the context.
package authn

import (
	"context"
	"errors"
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
	MethodAPIKey Method = "api_key"
)

// Principal is an authenticated caller. TenantID is the only source of the
// tenant of a request: nothing a client sends in a path, query or body may
// choose another tenant.
type Principal struct {
	Subject  string
	TenantID uuid.UUID
	// Roles are the role names the caller was granted, as its service
	// names them; nil when the method has no roles.
	Roles []string
	// Scopes is the closure of what the caller was granted, already
	// expanded under its service's implication rules: HasScope only looks
	// the scope up.
	Scopes []string
	Method Method
	// Realm names the realm that authenticated a Basic user; empty otherwise.
	Realm string
	// ClientID is the OAuth client the caller acts through (a bearer
	// token's client_id, an API key's id); empty for Basic users.
	ClientID string
	// Claims are the verified claims of a bearer token; nil for the other
	// methods.
	Claims *Claims
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
	// ErrMalformedCredentials: credentials of a known scheme that do not
	// even parse (a Bearer header that is not token68, two Authorization
	// headers): a bad request (RFC 6750 invalid_request), answered 400.
	ErrMalformedCredentials = errors.New("malformed credentials")
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
		return &ScopeError{Scope: scope}
	}
	return nil
}
