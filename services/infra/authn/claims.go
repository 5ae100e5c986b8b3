package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the typed claims of a bearer token: the registered JWT claims,
// the OpenID Connect standard claims a resource server may use, and the
// claims Passthru issuers add (tenant_id, client_id, roles, groups). Tokens
// are decoded into this struct directly; unknown claims are ignored.
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id,omitempty"`
	// Scope is the space-separated scope claim of RFC 9068 §2.2.3.
	Scope    string           `json:"scope,omitempty"`
	TenantID string           `json:"tenant_id,omitempty"`
	Roles    []string         `json:"roles,omitempty"`
	Groups   []string         `json:"groups,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`

	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// ErrUnavailable: the credentials could not be checked because something
// the check depends on (an issuer's keys, its introspection endpoint) is
// unreachable. The request is refused with 503, never let through.
var ErrUnavailable = errors.New("authentication temporarily unavailable")

// ChallengeError is a refusal that carries its own WWW-Authenticate
// challenge, such as RFC 6750's `Bearer realm="kms", error="invalid_token"`.
// It replaces the bare challenge of the authenticator that returned it.
// Err says which sentinel the refusal is (ErrInvalidCredentials, usually).
type ChallengeError struct {
	Scheme    string // the authenticator's scheme, e.g. "Bearer"
	Challenge string
	Err       error
}

func (e *ChallengeError) Error() string { return e.Err.Error() }
func (e *ChallengeError) Unwrap() error { return e.Err }

// ScopeError is ErrForbidden naming the scope that was missing, so that
// a bearer challenge can carry it (RFC 6750 §3.1 insufficient_scope).
type ScopeError struct {
	Scope string
}

func (e *ScopeError) Error() string   { return fmt.Sprintf("%s: %s required", ErrForbidden, e.Scope) }
func (e *ScopeError) Is(t error) bool { return t == ErrForbidden }

type sensitiveKey struct{}

// WithSensitive marks ctx as the context of a sensitive operation (destroying
// or rotating keys, changing material, administration, decryption, data
// keys). Authenticators that can trade freshness for speed, such as bearer
// tokens checked for revocation only every so often, check such requests
// with their strictest policy. The mark is set before authentication.
func WithSensitive(ctx context.Context) context.Context {
	return context.WithValue(ctx, sensitiveKey{}, true)
}

// IsSensitive reports whether ctx was marked by WithSensitive.
func IsSensitive(ctx context.Context) bool {
	v, _ := ctx.Value(sensitiveKey{}).(bool)
	return v
}
