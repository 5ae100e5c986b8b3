package authn

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/passthru-dev/passthru/services/infra/password"
)

// BasicOptions configures the HTTP Basic authenticator.
type BasicOptions struct {
	// Realms are tried in order; the first realm that knows the username
	// decides (later realms are not consulted for that username).
	Realms []Realm
	Roles  *Roles
	// Hasher spends the dummy verification for unknown users; it must use
	// the same iterations as the stored hashes so timing does not differ.
	Hasher password.Hasher
	// Cache remembers successful credentials; nil means a fresh cache with
	// DefaultCacheTTL.
	Cache *CredentialCache
	// ChallengeRealm is the realm of the WWW-Authenticate challenge.
	ChallengeRealm string
}

// Basic authenticates realm users with HTTP Basic (RFC 7617).
type Basic struct {
	opts   BasicOptions
	checks atomic.Int64
}

var _ Authenticator = (*Basic)(nil)

// NewBasic returns a Basic authenticator.
func NewBasic(opts BasicOptions) (*Basic, error) {
	if opts.Roles == nil {
		return nil, errors.New("basic authenticator: roles required")
	}
	if opts.Cache == nil {
		opts.Cache = NewCredentialCache(0, nil)
	}
	if opts.ChallengeRealm == "" {
		opts.ChallengeRealm = "passthru"
	}
	return &Basic{opts: opts}, nil
}

// PasswordChecks counts PBKDF2 verifications (real and dummy) since start:
// the cost the credential cache exists to avoid.
func (b *Basic) PasswordChecks() int64 { return b.checks.Load() }

// Cache returns the authenticator's credential cache.
func (b *Basic) Cache() *CredentialCache { return b.opts.Cache }

// Challenge implements Authenticator.
func (b *Basic) Challenge() string { return BasicChallenge(b.opts.ChallengeRealm) }

// Authenticate implements Authenticator. Every failure is the same
// ErrInvalidCredentials whether the user is unknown, disabled or the
// password wrong; an unknown user costs a dummy PBKDF2 like a real check.
func (b *Basic) Authenticate(r *http.Request) (*Principal, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, ErrNoCredentials
	}
	scheme, _, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return nil, ErrNoCredentials
	}
	username, pass, ok := r.BasicAuth()
	if !ok || username == "" {
		return nil, fmt.Errorf("%w: malformed Basic credentials", ErrInvalidCredentials)
	}
	ctx := r.Context()
	for _, realm := range b.opts.Realms {
		u, err := realm.Lookup(ctx, username)
		if errors.Is(err, ErrUserNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up user in realm %s: %w", realm.Name(), err)
		}
		if !b.opts.Cache.Check(u.Realm, u.Username, u.PasswordHash, pass) {
			b.checks.Add(1)
			if err := password.Verify(u.PasswordHash, pass); err != nil {
				return nil, ErrInvalidCredentials
			}
			if u.Enabled {
				b.opts.Cache.Put(u.Realm, u.Username, u.PasswordHash, pass)
			}
		}
		// Checked after the password so a disabled user costs the same.
		if !u.Enabled {
			return nil, ErrInvalidCredentials
		}
		return &Principal{
			Subject:  u.Username,
			TenantID: u.TenantID,
			Scopes:   b.opts.Roles.Scopes(u.Roles),
			Method:   MethodBasic,
			Realm:    u.Realm,
		}, nil
	}
	b.checks.Add(1)
	b.opts.Hasher.VerifyDummy(pass)
	return nil, ErrInvalidCredentials
}
