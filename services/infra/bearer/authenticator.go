package bearer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// Revoker tells whether a verified token is still active (an introspection
// client, say). Active returns nil for an active token, an error wrapping
// authn.ErrInvalidCredentials for a revoked or inactive one, and an error
// wrapping authn.ErrUnavailable when it could not find out. sensitive asks
// for its strictest policy (no cached answer). raw is the token as
// presented: an introspection endpoint is asked about exactly that.
type Revoker interface {
	Active(ctx context.Context, raw string, tok *Token, sensitive bool) error
}

// AuthenticatorOptions configures NewAuthenticator.
type AuthenticatorOptions struct {
	// Verifier checks the tokens (required).
	Verifier *Verifier
	// Tenants maps a token to its tenant; nil takes the tenant_id claim as
	// the tenant's UUID.
	Tenants *TenantMapper
	// Registered reports whether tenant is known to the service (required).
	// It runs on every request: the caller caches.
	Registered func(ctx context.Context, tenant uuid.UUID) (bool, error)
	// ParseScope splits and checks the scope claim (the service's scope
	// syntax); an error refuses the token as invalid. nil splits on spaces.
	ParseScope func(scope string) ([]string, error)
	// Scopes expands the granted scopes into the principal's scopes (the
	// service's implication rules); nil keeps them as granted. It must not
	// keep or modify its argument and may return it.
	Scopes func(granted []string) []string
	// Revokers check tokens of an issuer (by iss) for revocation; an issuer
	// without one is not checked.
	Revokers map[string]Revoker
	// Realm goes into the challenges, e.g. "kms".
	Realm string
}

// Authenticator is the Bearer authn.Authenticator.
type Authenticator struct {
	opts               AuthenticatorOptions
	challenge          string
	invalidChallenge   string
	malformedChallenge string
}

// NewAuthenticator returns the Bearer authenticator of opts.
func NewAuthenticator(opts AuthenticatorOptions) (*Authenticator, error) {
	if opts.Verifier == nil {
		return nil, errors.New("bearer authenticator: Verifier is required")
	}
	if opts.Registered == nil {
		return nil, errors.New("bearer authenticator: Registered is required (tokens of unknown tenants must be refused)")
	}
	return &Authenticator{
		opts:               opts,
		challenge:          httpx.BearerChallenge(opts.Realm, "", "", ""),
		invalidChallenge:   httpx.BearerChallenge(opts.Realm, "invalid_token", "", ""),
		malformedChallenge: httpx.BearerChallenge(opts.Realm, "invalid_request", "", ""),
	}, nil
}

// Challenge is the bare RFC 6750 challenge of the realm.
func (a *Authenticator) Challenge() string { return a.challenge }

// Authenticate implements authn.Authenticator. A request without an
// Authorization header or with another scheme gets authn.ErrNoCredentials.
// A bearer token that is not acceptable, for whatever reason, gets an
// *authn.ChallengeError with error="invalid_token" and nothing more: which
// check failed is in the wrapped error for the logs, never in the challenge.
// When the token could not be checked (issuer keys or revocation service
// unreachable) the error wraps authn.ErrUnavailable.
//
// The returned Principal is fresh for each request; its Claims and Roles
// are shared with the verifier's cache and must not be modified.
func (a *Authenticator) Authenticate(r *http.Request) (*authn.Principal, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, authn.ErrNoCredentials
	}
	raw, ok := bearerToken(values[0])
	if !ok {
		if isBearer(values[0]) {
			return nil, a.malformed("the Bearer credentials are not token68")
		}
		return nil, authn.ErrNoCredentials
	}
	if len(values) > 1 {
		return nil, a.malformed("more than one Authorization header")
	}
	ctx := r.Context()
	tok, err := a.opts.Verifier.Verify(ctx, raw)
	if err != nil {
		return nil, a.classify(err)
	}
	tenant, err := a.opts.Tenants.Map(tok.Issuer, tok.Claims)
	if err != nil {
		return nil, a.refuse(err)
	}
	registered, err := a.opts.Registered(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("bearer: tenant lookup: %w", err)
	}
	if !registered {
		return nil, a.refuse(errors.New("tenant not registered"))
	}
	c := tok.Claims
	granted := strings.Fields(c.Scope)
	if a.opts.ParseScope != nil {
		if granted, err = a.opts.ParseScope(c.Scope); err != nil {
			return nil, a.refuse(fmt.Errorf("scope claim: %w", err))
		}
	}
	if rv := a.opts.Revokers[tok.Issuer]; rv != nil {
		if err := rv.Active(ctx, raw, tok, authn.IsSensitive(ctx)); err != nil {
			return nil, a.classify(fmt.Errorf("revocation check: %w", err))
		}
	}
	scopes := granted
	if a.opts.Scopes != nil {
		scopes = a.opts.Scopes(granted)
	}
	return &authn.Principal{
		Subject:  c.Subject,
		TenantID: tenant,
		Roles:    c.Roles,
		Scopes:   scopes,
		Method:   authn.MethodBearer,
		ClientID: c.ClientID,
		Claims:   c,
	}, nil
}

// classify turns a verification or revocation error into the
// authenticator's: invalid credentials get the invalid_token challenge,
// unavailability and internal errors pass through.
func (a *Authenticator) classify(err error) error {
	if errors.Is(err, authn.ErrInvalidCredentials) {
		return a.refuse(err)
	}
	return fmt.Errorf("bearer: %w", err)
}

// refuse is the one answer to every unacceptable token.
func (a *Authenticator) refuse(reason error) error {
	if !errors.Is(reason, authn.ErrInvalidCredentials) {
		reason = fmt.Errorf("%w: bearer token: %w", authn.ErrInvalidCredentials, reason)
	}
	return &authn.ChallengeError{Scheme: "Bearer", Challenge: a.invalidChallenge, Err: reason}
}

// malformed is the answer to a request whose Bearer credentials do not
// parse: RFC 6750 §3.1 invalid_request, a 400 rather than a 401.
func (a *Authenticator) malformed(why string) error {
	return &authn.ChallengeError{Scheme: "Bearer", Challenge: a.malformedChallenge,
		Err: fmt.Errorf("%w: %s", authn.ErrMalformedCredentials, why)}
}

// isBearer reports whether an Authorization value uses the Bearer scheme
// (case-insensitively), well formed or not.
func isBearer(h string) bool {
	const scheme = "bearer"
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return false
	}
	return len(h) == len(scheme) || h[len(scheme)] == ' ' || h[len(scheme)] == '\t'
}

// bearerToken extracts the token of "Bearer <token68>" (RFC 6750 §2.1):
// scheme in any case, exactly one space, and token68 characters only.
func bearerToken(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := h[len(prefix):]
	if !isToken68(tok) {
		return "", false
	}
	return tok, true
}

// isToken68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
