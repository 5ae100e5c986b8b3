package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/httpx"
)

// validAccess checks an access token completely: signature, typ, iss, exp
// and (when audience is set) aud by the token issuer; then that it was issued
// by this service and not revoked, that its client still exists in its
// tenant and that every audience is one that client may receive. A token it
// accepted before is answered from the cache of verified tokens while
// nothing of its tenant changed (see tokenCache).
func (s *Server) validAccess(ctx context.Context, raw, audience string) (*validToken, error) {
	key := tokenKey(raw)
	if e, ok := s.tokens.get(key, s.cfg.Now()); ok {
		if st, err := s.changes.stamp(ctx, e.token.tenant); err == nil && st == e.st {
			return e.token.forAudience(audience)
		}
		s.tokens.drop(key)
	}
	v, st, cacheable, err := s.verifyAccess(ctx, raw)
	if err != nil {
		return nil, err
	}
	if cacheable {
		s.tokens.put(key, cachedToken{token: v, st: st, until: v.ExpiresAt.Time})
	}
	return v.forAudience(audience)
}

// verifyAccess is validAccess without the cache, for any audience. It also
// returns the stamp of the token's tenant taken before anything was read
// from the store, and whether there was one (whether the answer may be
// cached).
func (s *Server) verifyAccess(ctx context.Context, raw string) (*validToken, stamp, bool, error) {
	c, err := s.cfg.Tokens.ParseAccess(ctx, raw, "")
	if err != nil {
		return nil, stamp{}, false, err
	}
	tenant, err := uuid.Parse(c.TenantID)
	if err != nil {
		return nil, stamp{}, false, fmt.Errorf("%w: bad tenant_id", tokens.ErrInvalidToken)
	}
	st, stErr := s.changes.stamp(ctx, tenant)
	rec, err := s.cfg.Store.Access(ctx, tenant, c.ID)
	if err != nil {
		if errors.Is(err, identity.ErrNotFound) {
			return nil, stamp{}, false, fmt.Errorf("%w: not issued here", tokens.ErrInvalidToken)
		}
		return nil, stamp{}, false, err
	}
	if rec.RevokedAt != nil {
		return nil, stamp{}, false, fmt.Errorf("%w: revoked", tokens.ErrInvalidToken)
	}
	client, err := s.clients.TenantClient(ctx, tenant, c.ClientID)
	if err != nil || client.Disabled || rec.ClientID != c.ClientID {
		return nil, stamp{}, false, fmt.Errorf("%w: client is gone", tokens.ErrInvalidToken)
	}
	var (
		user    uuid.UUID // uuid.Nil for a client's own token
		account *userProfile
	)
	if c.Subject != c.ClientID {
		// A user's token lives only as long as the user is active.
		if user, err = uuid.Parse(c.Subject); err != nil {
			return nil, stamp{}, false, fmt.Errorf("%w: bad subject", tokens.ErrInvalidToken)
		}
		var u *identity.User
		if u, err = s.cfg.Store.User(ctx, tenant, user); err != nil || u.Disabled {
			return nil, stamp{}, false, fmt.Errorf("%w: the user is not active", tokens.ErrInvalidToken)
		}
		account = &userProfile{Username: u.Username, Name: u.Name, Email: u.Email}
	}
	for _, aud := range c.Audience {
		if !client.AllowsAudience(aud) {
			return nil, stamp{}, false, fmt.Errorf("%w: audience %q is not one of the client's", tokens.ErrInvalidToken, aud)
		}
	}
	return &validToken{AccessClaims: c, tenant: tenant, user: user, account: account}, st, stErr == nil, nil
}

// forAudience returns v if it is meant for audience (any when empty).
func (v *validToken) forAudience(audience string) (*validToken, error) {
	if audience != "" && !slices.Contains(v.Audience, audience) {
		return nil, fmt.Errorf("%w: the token is not for audience %q", tokens.ErrInvalidToken, audience)
	}
	return v, nil
}

// validToken is an access token validAccess accepted, with the tenant and
// user its claims name parsed once, so no later step parses (or trusts)
// them again. It may be shared through the token cache: read it only.
type validToken struct {
	*tokens.AccessClaims
	tenant uuid.UUID
	user   uuid.UUID // uuid.Nil for a client's own token (client_credentials)
	// account is what later steps need of the user read to check they are
	// active, so none reads it again; nil for a client's own token.
	account *userProfile
}

// userProfile is the part of a token's user that introspection and
// userinfo answer with. It is all a validToken keeps of the user record:
// a validToken may stay in the token cache until the token expires, and
// the rest of the record (the password hash above all) has no business
// staying in memory that long.
type userProfile struct {
	Username, Name, Email string
}

// Introspection is the RFC 7662 response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	TenantID  string   `json:"tenant_id,omitempty"`
}

// MaxBatchTokens is how many tokens one batch introspection request may ask
// about.
const MaxBatchTokens = 100

// BatchIntrospection is the answer of the batch introspection endpoint: one
// RFC 7662 answer per token, in the order the tokens were given.
type BatchIntrospection struct {
	Results []Introspection `json:"results"`
}

// introspect answers RFC 7662 for resource-server clients, about tokens of
// their own tenant only; everything else is {"active": false}.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	client, e := s.introspector(r)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	raw := r.PostForm.Get("token")
	if raw == "" {
		s.writeError(w, r, badRequest("invalid_request", "token is required"))
		return
	}
	out, err := s.introspectToken(r.Context(), client, raw)
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	noStore(w)
	httpx.WriteJSON(w, http.StatusOK, out)
}

// introspectBatch is a Passthru extension of RFC 7662: a resource server
// checks up to MaxBatchTokens tokens (the token parameter repeated) in one
// request, authenticating once. Each result is exactly what introspect
// would answer for that token alone.
func (s *Server) introspectBatch(w http.ResponseWriter, r *http.Request) {
	client, e := s.introspector(r, "token")
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	raws := r.PostForm["token"]
	switch {
	case len(raws) == 0:
		s.writeError(w, r, badRequest("invalid_request", "at least one token is required (repeat the token parameter for each)"))
		return
	case len(raws) > MaxBatchTokens:
		s.writeError(w, r, badRequest("invalid_request", fmt.Sprintf("at most %d tokens per request, got %d", MaxBatchTokens, len(raws))))
		return
	}
	for i, raw := range raws {
		if raw == "" {
			s.writeError(w, r, badRequest("invalid_request", fmt.Sprintf("token %d of %d is empty", i+1, len(raws))))
			return
		}
	}
	out := BatchIntrospection{Results: make([]Introspection, 0, len(raws))}
	for _, raw := range raws {
		res, err := s.introspectToken(r.Context(), client, raw)
		if err != nil {
			s.writeError(w, r, serverError(err))
			return
		}
		out.Results = append(out.Results, res)
	}
	noStore(w)
	httpx.WriteJSON(w, http.StatusOK, out)
}

// introspector parses an introspection request and authenticates its
// client, which must be allowed to introspect (a resource server).
func (s *Server) introspector(r *http.Request, repeatable ...string) (*identity.Client, *Error) {
	if e := parsePostForm(r, repeatable...); e != nil {
		return nil, e
	}
	client, e := s.authenticateClient(r, false)
	if e != nil {
		return nil, e
	}
	if !client.CanIntrospect {
		return nil, oauthErr(http.StatusForbidden, "unauthorized_client", "the client may not introspect tokens")
	}
	return client, nil
}

// introspectToken is the RFC 7662 answer about one token for client: active
// only for a live token of the client's own tenant. An error is a failure of
// the store, not of the token.
func (s *Server) introspectToken(ctx context.Context, client *identity.Client, raw string) (Introspection, error) {
	if strings.Count(raw, ".") == 2 {
		c, err := s.validAccess(ctx, raw, "")
		if err != nil {
			if errors.Is(err, tokens.ErrInvalidToken) {
				return Introspection{}, nil
			}
			return Introspection{}, err
		}
		if c.tenant != client.TenantID {
			return Introspection{}, nil
		}
		out := Introspection{
			Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
			Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer, JTI: c.ID, TenantID: c.TenantID,
		}
		if c.ExpiresAt != nil {
			out.Exp = c.ExpiresAt.Unix()
		}
		if c.IssuedAt != nil {
			out.Iat = c.IssuedAt.Unix()
		}
		if c.NotBefore != nil {
			out.Nbf = c.NotBefore.Unix()
		}
		if c.account != nil {
			out.Username = c.account.Username
		}
		return out, nil
	}
	rt, err := s.cfg.Store.Refresh(ctx, client.TenantID, hashOpaque(raw))
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return Introspection{}, nil
	case err != nil:
		return Introspection{}, err
	case rt.RevokedAt != nil || rt.UsedAt != nil || !s.cfg.Now().Before(s.refreshExpiry(rt)):
		return Introspection{}, nil
	}
	return Introspection{
		Active: true, Scope: rt.Scope, ClientID: rt.ClientID, TokenType: "refresh_token",
		Exp: s.refreshExpiry(rt).Unix(), Iat: rt.CreatedAt.Unix(), Sub: rt.UserID.String(), Iss: s.cfg.Issuer,
		TenantID: client.TenantID.String(),
	}, nil
}

// revoke implements RFC 7009 for a client's own tokens. Unknown tokens (and
// tokens of other tenants, which this client cannot know about) are a quiet
// 200; a token of another client of the same tenant is refused.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if e := parsePostForm(r); e != nil {
		s.writeError(w, r, e)
		return
	}
	client, e := s.authenticateClient(r, true)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	raw := r.PostForm.Get("token")
	if raw == "" {
		s.writeError(w, r, badRequest("invalid_request", "token is required"))
		return
	}
	ctx := r.Context()
	tenant := client.TenantID
	now := s.cfg.Now()
	notYours := oauthErr(http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client")
	if strings.Count(raw, ".") == 2 {
		// Expired tokens need no revocation; invalid ones are unknown.
		c, err := s.cfg.Tokens.ParseAccess(ctx, raw, "")
		if err == nil && c.TenantID == client.TenantID.String() {
			if c.ClientID != client.ClientID {
				s.writeError(w, r, notYours)
				return
			}
			if err := s.cfg.Store.RevokeAccess(ctx, tenant, c.ID, now); err != nil {
				s.writeError(w, r, serverError(err))
				return
			}
		}
	} else {
		rt, err := s.cfg.Store.Refresh(ctx, tenant, hashOpaque(raw))
		switch {
		case err == nil && rt.ClientID != client.ClientID:
			s.writeError(w, r, notYours)
			return
		case err == nil:
			if err := s.cfg.Store.RevokeFamily(ctx, tenant, rt.FamilyID, now); err != nil {
				s.writeError(w, r, serverError(err))
				return
			}
		case !errors.Is(err, identity.ErrNotFound):
			s.writeError(w, r, serverError(err))
			return
		}
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}
