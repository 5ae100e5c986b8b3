package realm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

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
	// Freshness is how long a verified user is answered without reading
	// the realms again (default credential.DefaultFreshness): the bound on
	// how long a change made by another replica (password, roles, disabled,
	// deleted) goes unseen here. Changes made through this process's
	// UserStore are seen at once. Negative reads the realms every request.
	Freshness time.Duration
}

// Basic authenticates realm users with HTTP Basic (RFC 7617). A verified
// username and password are remembered with the principal they yield (see
// credential.AccountCache), so a repeated request reads no realm.
type Basic struct {
	opts     BasicOptions
	accounts *credential.AccountCache[*authn.Principal]
}

var _ authn.Authenticator = (*Basic)(nil)

// NewBasic returns a Basic authenticator. It registers with the UserStore
// of its database realms, which tells it about every change to a user.
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
	b := &Basic{opts: opts}
	var err error
	b.accounts, err = credential.NewAccountCache(opts.Verifier, credential.AccountCacheOptions[*authn.Principal]{
		Lookup: b.lookup, Freshness: opts.Freshness,
	})
	if err != nil {
		return nil, fmt.Errorf("basic authenticator: %w", err)
	}
	watched := map[*UserStore]bool{}
	for _, r := range opts.Realms {
		if d, ok := r.(*dbRealm); ok && !watched[d.s] {
			watched[d.s] = true
			d.s.watch(b.accounts)
		}
	}
	return b, nil
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
	p, err := b.accounts.Authenticate(r.Context(), username, pass)
	if err != nil {
		if errors.Is(err, password.ErrMalformed) {
			return nil, fmt.Errorf("%w: %w", authn.ErrInvalidCredentials, err)
		}
		if errors.Is(err, credential.ErrMismatch) {
			return nil, authn.ErrInvalidCredentials
		}
		return nil, fmt.Errorf("basic authentication: %w", err)
	}
	// The cached principal is shared by every request with the credential:
	// each gets its own copy to keep.
	out := *p
	out.Roles, out.Scopes = slices.Clone(p.Roles), slices.Clone(p.Scopes)
	return &out, nil
}

// lookup finds username in the realms, in order. A username no realm knows
// is an account of no realm: it is locked out like a known one, so the
// lockout does not tell which names exist. An unknown or disabled user has
// no stored hash: its check is a dummy one.
func (b *Basic) lookup(ctx context.Context, username string) (credential.Found[*authn.Principal], error) {
	found := credential.Found[*authn.Principal]{Account: credential.Account{Name: username}}
	for _, realm := range b.opts.Realms {
		u, err := realm.Lookup(ctx, username)
		if errors.Is(err, ErrUserNotFound) {
			continue
		}
		if err != nil {
			return found, fmt.Errorf("look up user in realm %s: %w", realm.Name(), err)
		}
		found.Account.Realm = u.Realm
		if u.Enabled {
			found.Stored = u.PasswordHash
			found.Principal = &authn.Principal{
				Subject:  u.Username,
				TenantID: u.TenantID,
				Roles:    u.Roles,
				Scopes:   b.opts.Roles.Scopes(u.Roles),
				Method:   authn.MethodBasic,
				Realm:    u.Realm,
			}
		}
		break
	}
	return found, nil
}
