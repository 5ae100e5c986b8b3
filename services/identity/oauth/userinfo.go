package oauth

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// BearerError is a refused bearer token (RFC 6750 §3).
type BearerError struct {
	Status      int
	Code        string // "" when no credentials were sent
	Description string
	// Scope, with insufficient_scope, names the scope the resource needs
	// (RFC 6750 §3: the challenge's scope attribute).
	Scope string
	Cause error
	// RetryAfter is set when the token could not be checked at all (503):
	// the client should retry then, and keep its token.
	RetryAfter time.Duration
}

func (e *BearerError) Error() string { return "bearer: " + e.Code + ": " + e.Description }

// WriteBearerError answers with the RFC 6750 challenge.
func WriteBearerError(w http.ResponseWriter, e *BearerError) {
	if e.Status >= http.StatusInternalServerError {
		// Not a challenge: the token may well be good.
		httpx.SetRetryAfter(w.Header(), e.RetryAfter)
		httpx.WriteOAuthError(w, e.Status, e.Code, e.Description)
		return
	}
	desc := e.Description
	if e.Code == "" {
		desc = "" // no credentials: the challenge carries no error (RFC 6750 §3.1)
	}
	w.Header().Set("WWW-Authenticate", httpx.BearerChallenge("passthru-identity", e.Code, desc, e.Scope))
	code := e.Code
	if code == "" {
		code = "invalid_request" // the body needs an error code even when the challenge has none
	}
	httpx.WriteOAuthError(w, e.Status, code, e.Description)
}

// AuthenticateBearer validates the request's bearer access token for
// audience and returns its claims; it requires scope when not empty.
func (s *Server) AuthenticateBearer(r *http.Request, audience, scope string) (*tokens.AccessClaims, *BearerError) {
	c, be := s.bearerClaims(r, audience)
	if be != nil {
		return nil, be
	}
	if scope != "" && !slices.Contains(c.Scopes(), scope) {
		return nil, &BearerError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token lacks scope " + scope}
	}
	return c.AccessClaims, nil
}

// bearerClaims validates the request's bearer access token completely (see
// validAccess), for audience when it is not empty.
func (s *Server) bearerClaims(r *http.Request, audience string) (*validToken, *BearerError) {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, &BearerError{Status: http.StatusUnauthorized, Description: "a bearer access token is required"}
	}
	c, err := s.validAccess(r.Context(), strings.TrimSpace(raw), audience)
	if err != nil {
		if ue, ok := db.Unavailable(err); ok && !errors.Is(err, tokens.ErrInvalidToken) {
			s.cfg.Logger.WarnContext(r.Context(), "validate bearer token: database unavailable", "error", err)
			return nil, &BearerError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Cause: err, RetryAfter: ue.RetryAfter,
				Description: "the access token cannot be checked right now (" + ue.Reason + "): retry later"}
		}
		if !errors.Is(err, tokens.ErrInvalidToken) {
			s.cfg.Logger.ErrorContext(r.Context(), "validate bearer token", "error", err)
		}
		return nil, &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid, expired or revoked", Cause: err}
	}
	return c, nil
}

// userinfoNeeds is what userinfo tells a client whose token, though valid,
// cannot be used there (OIDC Core §5.3.3, RFC 6750 §3.1 insufficient_scope).
const userinfoNeeds = "userinfo needs an access token issued to a user with the openid scope"

// userinfo returns the user's claims by the token's scopes (OIDC Core §5.3).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	c, be := s.userinfoToken(r)
	if be != nil {
		WriteBearerError(w, be)
		return
	}
	user := c.account // read and found active by validAccess
	claims := map[string]any{"sub": c.user}
	scopes := c.Scopes()
	if slices.Contains(scopes, "profile") {
		claims["name"] = user.Name
		claims["preferred_username"] = user.Username
	}
	if slices.Contains(scopes, "email") && user.Email != "" {
		claims["email"] = user.Email
		claims["email_verified"] = true
	}
	noStore(w)
	httpx.WriteJSON(w, http.StatusOK, claims)
}

// userinfoToken authenticates the bearer token of a userinfo request. Only
// a token that fails validation (forged, expired, revoked, its client or
// user gone) or was issued for another audience is invalid_token (401). A
// valid token that is no user's (client_credentials) or lacks openid is
// refused with 403 insufficient_scope: it is not broken, it just cannot
// ask for user claims, and the client should be told so, not told to
// fetch a new token of the same kind.
func (s *Server) userinfoToken(r *http.Request) (*validToken, *BearerError) {
	// Every check but the audience first: a client token is refused for
	// having no user whichever resource it was meant for.
	c, be := s.bearerClaims(r, "")
	if be != nil {
		return nil, be
	}
	if c.Subject == c.ClientID {
		return nil, &BearerError{Status: http.StatusForbidden, Code: "insufficient_scope", Scope: "openid",
			Description: userinfoNeeds + "; this one was issued to a client for itself (client_credentials)"}
	}
	if !slices.Contains(c.Audience, SelfAudience) {
		return nil, &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the access token was issued for another audience, not " + SelfAudience}
	}
	if !slices.Contains(c.Scopes(), "openid") {
		return nil, &BearerError{Status: http.StatusForbidden, Code: "insufficient_scope", Scope: "openid",
			Description: userinfoNeeds + "; this one lacks openid"}
	}
	return c, nil
}
