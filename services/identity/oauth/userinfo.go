package oauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// BearerError is a refused bearer token (RFC 6750 §3).
type BearerError struct {
	Status      int
	Code        string // "" when no credentials were sent
	Description string
	Cause       error
}

func (e *BearerError) Error() string { return "bearer: " + e.Code + ": " + e.Description }

// WriteBearerError answers with the RFC 6750 challenge.
func WriteBearerError(w http.ResponseWriter, e *BearerError) {
	desc := e.Description
	if e.Code == "" {
		desc = "" // no credentials: the challenge carries no error (RFC 6750 §3.1)
	}
	ch := httpx.BearerChallenge("passthru-identity", e.Code, desc, "")
	w.Header().Set("WWW-Authenticate", ch)
	noStore(w)
	body := map[string]string{"error": e.Code, "error_description": e.Description}
	if e.Code == "" {
		body = map[string]string{"error": "invalid_request", "error_description": e.Description}
	}
	writeJSON(w, e.Status, body)
}

// AuthenticateBearer validates the request's bearer access token for
// audience and returns its claims; it requires scope when not empty.
func (s *Server) AuthenticateBearer(r *http.Request, audience, scope string) (*tokens.AccessClaims, *BearerError) {
	h := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, &BearerError{Status: http.StatusUnauthorized, Description: "a bearer access token is required"}
	}
	c, err := s.validAccess(r.Context(), strings.TrimSpace(raw), audience)
	if err != nil {
		if !errors.Is(err, tokens.ErrInvalidToken) {
			s.cfg.Logger.ErrorContext(r.Context(), "validate bearer token", "error", err)
		}
		return nil, &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the access token is invalid, expired or revoked", Cause: err}
	}
	if scope != "" && !contains(c.Scopes(), scope) {
		return nil, &BearerError{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token lacks scope " + scope}
	}
	return c, nil
}

// userinfo returns the user's claims by the token's scopes (OIDC Core §5.3).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	c, be := s.AuthenticateBearer(r, SelfAudience, "openid")
	if be != nil {
		WriteBearerError(w, be)
		return
	}
	user, err := s.cfg.Store.User(r.Context(), uuid.MustParse(c.TenantID), c.Subject)
	if err != nil || user.Disabled {
		WriteBearerError(w, &BearerError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token's user is not active"})
		return
	}
	claims := map[string]any{"sub": user.ID}
	scopes := c.Scopes()
	if contains(scopes, "profile") {
		claims["name"] = user.Name
		claims["preferred_username"] = user.Username
	}
	if contains(scopes, "email") && user.Email != "" {
		claims["email"] = user.Email
		claims["email_verified"] = true
	}
	noStore(w)
	writeJSON(w, http.StatusOK, claims)
}
