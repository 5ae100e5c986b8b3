package authn

import (
	"errors"
	"net/http"
	"strings"

	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// Authenticator recognises one kind of credentials.
//
// Authenticate returns the principal when the request carries valid
// credentials of its kind, an error wrapping ErrNoCredentials when it carries
// none of its kind (the next authenticator is tried), and an error wrapping
// ErrInvalidCredentials when it carries credentials of its kind that are not
// valid (no other authenticator is tried). Other errors are internal failures.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
	// Challenge is this authenticator's WWW-Authenticate challenge, e.g. `Basic realm="kms"`.
	Challenge() string
}

// ErrorWriter writes the response for an authentication or authorisation
// failure. err wraps ErrNoCredentials, ErrInvalidCredentials, ErrForbidden or
// is an internal error. Services pass their single error mapping here.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// Authenticate returns the principal of r from the first authenticator that
// recognises its credentials. It returns ErrNoCredentials when none does.
func Authenticate(r *http.Request, auths []Authenticator) (*Principal, error) {
	for _, a := range auths {
		p, err := a.Authenticate(r)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return nil, err
	}
	return nil, ErrNoCredentials
}

// Challenged reports whether a refusal of Authenticate is answered with the
// challenges: missing, invalid or malformed credentials are; an issuer that
// cannot be reached (ErrUnavailable) or an internal failure is not.
func Challenged(err error) bool {
	if errors.Is(err, ErrUnavailable) {
		return false
	}
	return errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrMalformedCredentials)
}

// SetChallenges adds one WWW-Authenticate header per authenticator and per
// extra challenge, so a client learns every scheme it may use (RFC 9110
// §11.6.1). When err carries a ChallengeError, its challenge (an RFC 6750
// error="invalid_token", say) replaces the bare one of its scheme.
func SetChallenges(w http.ResponseWriter, auths []Authenticator, err error, extra ...string) {
	var ce *ChallengeError
	if !errors.As(err, &ce) {
		ce = nil
	}
	for _, c := range challenges(auths, extra) {
		if ce != nil && schemeOf(c) == ce.Scheme {
			c = ce.Challenge
		}
		w.Header().Add("WWW-Authenticate", c)
	}
}

func challenges(auths []Authenticator, extra []string) []string {
	out := make([]string, 0, len(auths)+len(extra))
	seen := map[string]bool{}
	for _, a := range auths {
		c := a.Challenge()
		if c == "" || seen[schemeOf(c)] {
			continue // an authenticator without a scheme of its own (mTLS), or a repeated scheme
		}
		seen[schemeOf(c)] = true
		out = append(out, c)
	}
	for _, c := range extra {
		if !seen[schemeOf(c)] {
			seen[schemeOf(c)] = true
			out = append(out, c)
		}
	}
	return out
}

// schemeOf is the auth-scheme of a challenge: its first token.
func schemeOf(challenge string) string {
	if i := strings.IndexByte(challenge, ' '); i >= 0 {
		return challenge[:i]
	}
	return challenge
}

// Middleware authenticates every request with auths tried in order and puts
// the principal into the request context. Failures go to onError with the
// challenges already set: no credentials and invalid credentials both end
// in 401 at the service's mapping. extraChallenges are advertised beside
// the authenticators' own (a scheme served by another component, such as
// Bearer before its authenticator is configured).
func Middleware(auths []Authenticator, onError ErrorWriter, extraChallenges ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := Authenticate(r, auths)
			if err != nil {
				if Challenged(err) {
					SetChallenges(w, auths, err, extraChallenges...)
				}
				onError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// RequireScope refuses requests whose principal lacks scope (ErrForbidden,
// 403) or that have no principal at all (ErrNoCredentials, 401). It runs
// after Middleware.
func RequireScope(scope string, onError ErrorWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := CheckScope(r.Context(), scope); err != nil {
				onError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// BasicChallenge is the WWW-Authenticate challenge for HTTP Basic in realm.
func BasicChallenge(realm string) string {
	return "Basic realm=" + httpx.QuotedString(realm) + `, charset="UTF-8"`
}

// BearerChallenge is the bare RFC 6750 challenge for realm, used when a
// request carried no credentials at all.
func BearerChallenge(realm string) string {
	return httpx.BearerChallenge(realm, "", "", "")
}
