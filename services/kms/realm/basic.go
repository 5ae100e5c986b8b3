package realm

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
)

// BasicOptions configures the HTTP Basic authenticator.
type BasicOptions struct {
	// Realms are tried in order; the first realm that knows the username
	// decides (later realms are not consulted for that username).
	Realms []Realm
	Roles  *Roles
	// Verifier checks the passwords: cache, lockout, pool and the dummy
	// cost of unknown users. Required.
	Verifier *credential.Verifier
	// ChallengeRealm is the realm of the WWW-Authenticate challenge.
	ChallengeRealm string
}

// Basic authenticates realm users with HTTP Basic (RFC 7617).
type Basic struct {
	opts BasicOptions
}

var _ authn.Authenticator = (*Basic)(nil)

// NewBasic returns a Basic authenticator.
func NewBasic(opts BasicOptions) (*Basic, error) {
	if opts.Roles == nil {
		return nil, errors.New("basic authenticator: roles required")
	}
	if opts.Verifier == nil {
		return nil, errors.New("basic authenticator: credential verifier required")
	}
	if opts.ChallengeRealm == "" {
		opts.ChallengeRealm = "passthru"
	}
	return &Basic{opts: opts}, nil
}

// PasswordChecks counts PBKDF2 verifications (real and dummy) since start:
// the cost the credential cache exists to avoid. It is the verifier's count.
func (b *Basic) PasswordChecks() int64 { return b.opts.Verifier.Checks() }

// Verifier returns the authenticator's credential verifier.
func (b *Basic) Verifier() *credential.Verifier { return b.opts.Verifier }

// Challenge implements authn.Authenticator.
func (b *Basic) Challenge() string { return authn.BasicChallenge(b.opts.ChallengeRealm) }

// Authenticate implements authn.Authenticator. Every refusal of the credentials
// is the same authn.ErrInvalidCredentials whether the user is unknown, disabled or
// the password wrong, and costs one PBKDF2 alike. A locked account or a full
// pool yields the verifier's *credential.RetryError (see credential.Verify).
func (b *Basic) Authenticate(r *http.Request) (*authn.Principal, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, authn.ErrNoCredentials
	}
	scheme, _, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return nil, authn.ErrNoCredentials
	}
	username, pass, ok := r.BasicAuth()
	if !ok || username == "" {
		return nil, fmt.Errorf("%w: malformed Basic credentials", authn.ErrInvalidCredentials)
	}
	ctx := r.Context()
	// A username no realm knows is an account of no realm: it is locked out
	// like a known one, so the lockout does not tell which names exist.
	acct := credential.Account{Name: username}
	var user *User
	stored := "" // stays empty for an unknown or disabled user: a dummy check
	for _, realm := range b.opts.Realms {
		u, err := realm.Lookup(ctx, username)
		if errors.Is(err, ErrUserNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up user in realm %s: %w", realm.Name(), err)
		}
		user, acct.Realm = u, u.Realm
		if u.Enabled {
			stored = u.PasswordHash
		}
		break
	}
	if err := b.opts.Verifier.Verify(ctx, acct, stored, pass); err != nil {
		if errors.Is(err, password.ErrMalformed) {
			return nil, fmt.Errorf("%w: %w", authn.ErrInvalidCredentials, err)
		}
		if errors.Is(err, credential.ErrMismatch) {
			return nil, authn.ErrInvalidCredentials
		}
		return nil, fmt.Errorf("basic authentication: %w", err)
	}
	return &authn.Principal{
		Subject:  user.Username,
		TenantID: user.TenantID,
		Roles:    slices.Clone(user.Roles),
		Scopes:   b.opts.Roles.Scopes(user.Roles),
		Method:   authn.MethodBasic,
		Realm:    user.Realm,
	}, nil
}
