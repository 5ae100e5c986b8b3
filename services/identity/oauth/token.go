package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/ids"
)

// TokenResponse is the successful token endpoint answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if e := parsePostForm(r); e != nil {
		s.writeError(w, r, e)
		return
	}
	var (
		resp *TokenResponse
		err  error
	)
	switch gt := r.PostForm.Get("grant_type"); gt {
	case GrantAuthorizationCode:
		resp, err = s.grantCode(r)
	case GrantClientCredentials:
		resp, err = s.grantClientCredentials(r)
	case GrantRefreshToken:
		resp, err = s.grantRefresh(r)
	case "":
		err = badRequest("invalid_request", "grant_type is required")
	default:
		err = badRequest("unsupported_grant_type", "grant type "+gt+" is not supported")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	httpx.WriteJSON(w, http.StatusOK, resp)
}

// issue is everything a set of tokens is made from.
type issue struct {
	tenant   uuid.UUID
	client   *identity.Client
	user     *identity.User // nil for client_credentials
	scopes   []string
	audience string
	nonce    string
	authTime time.Time
	codeHash string
	familyID uuid.UUID // refresh family to continue; uuid.Nil starts a new one
	refresh  bool
	idToken  bool
	// refreshScope is the scope of the whole grant (kept by rotated refresh
	// tokens even when this access token is narrower).
	refreshScope []string
	// familyStart is when the continued family started (zero with a new
	// family, which starts now).
	familyStart time.Time
}

// issueTokens signs and saves the tokens of one grant. Called inside grant,
// its writes are part of the grant's transaction.
func (s *Server) issueTokens(ctx context.Context, in issue) (*TokenResponse, error) {
	now := s.cfg.Now().UTC().Truncate(time.Second)
	subject := in.client.ClientID
	if in.user != nil {
		subject = in.user.ID.String()
	}
	jti := ids.NewEntity().String()
	family, familyStart := in.familyID, in.familyStart
	if in.refresh && family == uuid.Nil {
		family, familyStart = ids.NewEntity(), now
	}
	claims := &tokens.AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: subject, Audience: jwt.ClaimStrings{in.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.AccessTokenTTL)), IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), ID: jti,
		},
		ClientID: in.client.ClientID, Scope: strings.Join(in.scopes, " "), TenantID: in.tenant.String(),
	}
	if in.user != nil && !in.authTime.IsZero() {
		claims.AuthTime = jwt.NewNumericDate(in.authTime)
	}
	if in.user != nil && len(in.user.Roles) > 0 {
		claims.Roles = in.user.Roles
	}
	access, err := s.cfg.Tokens.SignAccess(ctx, claims)
	if err != nil {
		return nil, serverError(err)
	}
	if err := s.grants.SaveAccess(ctx, in.tenant, &identity.AccessToken{
		JTI: jti, ClientID: in.client.ClientID, Subject: subject, FamilyID: family, CodeHash: in.codeHash,
		ExpiresAt: now.Add(s.cfg.AccessTokenTTL),
	}); err != nil {
		return nil, serverError(err)
	}
	resp := &TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTokenTTL.Seconds()),
		Scope: claims.Scope,
	}
	if in.refresh {
		rt := newOpaque()
		scope := in.refreshScope
		if scope == nil {
			scope = in.scopes
		}
		// Rotation renews the token's own lifetime, never the family's.
		expires := earliest(now.Add(s.cfg.RefreshTokenTTL), s.familyDeadline(familyStart))
		if err := s.grants.SaveRefresh(ctx, in.tenant, &identity.RefreshToken{
			IDHash: hashOpaque(rt), FamilyID: family, FamilyStartedAt: familyStart, ClientID: in.client.ClientID,
			UserID: in.user.ID, Scope: strings.Join(scope, " "), Audience: in.audience, Nonce: in.nonce,
			AuthTime: in.authTime, CodeHash: in.codeHash, ExpiresAt: expires,
		}); err != nil {
			return nil, serverError(err)
		}
		resp.RefreshToken = rt
	}
	if in.idToken && in.user != nil {
		idc := &tokens.IDClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: s.cfg.Issuer, Subject: subject, Audience: jwt.ClaimStrings{in.client.ClientID},
				ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.IDTokenTTL)), IssuedAt: jwt.NewNumericDate(now),
			},
			Nonce: in.nonce, AZP: in.client.ClientID, TenantID: in.tenant.String(),
			AuthTime: jwt.NewNumericDate(in.authTime),
		}
		addUserClaims(idc, in.user, in.scopes)
		id, err := s.cfg.Tokens.SignID(ctx, idc, access)
		if err != nil {
			return nil, serverError(err)
		}
		resp.IDToken = id
	}
	return resp, nil
}

// familyDeadline is when a refresh-token family that started at start ends
// (RFC 9700 §4.14.2): no token of it is valid from then on.
func (s *Server) familyDeadline(start time.Time) time.Time {
	return start.Add(s.cfg.RefreshFamilyTTL)
}

// refreshExpiry is when rt stops working: its own expiry or its family's
// deadline, whichever is first. The deadline is checked as well as the
// stored expiry because tokens issued before the family lifetime existed,
// or before it was shortened in the configuration, were not capped by it.
func (s *Server) refreshExpiry(rt *identity.RefreshToken) time.Time {
	return earliest(rt.ExpiresAt, s.familyDeadline(rt.FamilyStart()))
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func addUserClaims(c *tokens.IDClaims, u *identity.User, scopes []string) {
	if slices.Contains(scopes, "profile") {
		c.Name = u.Name
		c.PreferredUsername = u.Username
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		c.Email = u.Email
		verified := true // demo and admin-created addresses are set by an administrator
		c.EmailVerified = &verified
	}
}

var errGrantFailed = errors.New("grant failed")

func invalidGrant(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: desc, Cause: errGrantFailed}
}

// grant runs fn, the work of one grant, in one transaction of the tenant's
// database, as fosite's token endpoint does: consuming the code or refresh
// token and saving the tokens made from it commit together, so of racing
// presentations of one grant exactly one gets tokens, by construction. A
// refusal (an *Error below 500) commits what fn did before refusing: a code
// stays consumed, a reuse's revocation stands. Any other error (a failed
// signature or write) rolls everything back, leaving the code or refresh
// token unused.
func (s *Server) grant(ctx context.Context, tenant uuid.UUID, fn func(ctx context.Context) (*TokenResponse, error)) (*TokenResponse, error) {
	var resp *TokenResponse
	var refusal error
	err := s.grants.WithTx(ctx, tenant, func(ctx context.Context) error {
		r, err := fn(ctx)
		var e *Error
		if errors.As(err, &e) && e.Status < http.StatusInternalServerError {
			refusal = err
			return nil
		}
		resp = r
		return err
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, refusal
	}
	return resp, nil
}

// grantCode exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (s *Server) grantCode(r *http.Request) (*TokenResponse, error) {
	client, e := s.authenticateClient(r, true)
	if e != nil {
		return nil, e
	}
	if !client.AllowsGrant(GrantAuthorizationCode) {
		return nil, badRequest("unauthorized_client", "the client may not use the authorization code grant")
	}
	code := r.PostForm.Get("code")
	if code == "" {
		return nil, badRequest("invalid_request", "code is required")
	}
	tenant := client.TenantID
	return s.grant(r.Context(), tenant, func(ctx context.Context) (*TokenResponse, error) {
		return s.redeemCode(ctx, r.PostForm, client, tenant, hashOpaque(code))
	})
}

// redeemCode consumes the code before anything else is checked, so a code
// can be presented once, whoever presents it; a second presentation revokes
// every token the first one produced (RFC 6749 §4.1.2), including tokens of
// a first presentation still in flight, which ConsumeCode waits for.
func (s *Server) redeemCode(ctx context.Context, form url.Values, client *identity.Client, tenant uuid.UUID, hash string) (*TokenResponse, error) {
	now := s.cfg.Now()
	ac, err := s.grants.ConsumeCode(ctx, tenant, hash, now)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil, invalidGrant("the code is unknown")
	case errors.Is(err, identity.ErrAlreadyUsed):
		if err := s.grants.RevokeCodeGrants(ctx, tenant, hash, now); err != nil {
			return nil, serverError(err)
		}
		s.cfg.Logger.WarnContext(ctx, "authorization code replayed; tokens issued from it revoked", "client_id", client.ClientID)
		return nil, invalidGrant("the code was already used")
	case err != nil:
		return nil, serverError(err)
	}
	if !now.Before(ac.ExpiresAt) {
		return nil, invalidGrant("the code has expired")
	}
	if ac.ClientID != client.ClientID {
		return nil, invalidGrant("the code was issued to another client")
	}
	if form.Get("redirect_uri") != ac.RedirectURI {
		return nil, invalidGrant("redirect_uri does not match the authorization request")
	}
	verifier := form.Get("code_verifier")
	if verifier == "" {
		return nil, invalidGrant("code_verifier is required (PKCE)")
	}
	if !pkceVerifier.MatchString(verifier) || !pkceMatches(verifier, ac.CodeChallenge) {
		return nil, invalidGrant("code_verifier does not match the code_challenge")
	}
	user, e := s.activeUser(ctx, tenant, ac.UserID)
	if e != nil {
		return nil, e
	}
	scopes := strings.Fields(ac.Scope)
	return s.issueTokens(ctx, issue{
		tenant: tenant, client: client, user: user, scopes: scopes, audience: ac.Audience, nonce: ac.Nonce,
		authTime: ac.AuthTime, codeHash: hash, refresh: client.AllowsGrant(GrantRefreshToken),
		idToken: slices.Contains(scopes, "openid"),
	})
}

// activeUser finds the user a grant is for; a deleted or disabled user
// refuses the grant.
func (s *Server) activeUser(ctx context.Context, tenant uuid.UUID, id uuid.UUID) (*identity.User, error) {
	user, err := s.grants.User(ctx, tenant, id)
	if errors.Is(err, identity.ErrNotFound) || err == nil && user.Disabled {
		return nil, invalidGrant("the user is no longer active")
	}
	if err != nil {
		return nil, serverError(err)
	}
	return user, nil
}

func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// grantClientCredentials issues a token to a confidential client for itself.
func (s *Server) grantClientCredentials(r *http.Request) (*TokenResponse, error) {
	client, e := s.authenticateClient(r, false)
	if e != nil {
		return nil, e
	}
	if !client.AllowsGrant(GrantClientCredentials) {
		return nil, badRequest("unauthorized_client", "the client may not use the client credentials grant")
	}
	scopes := parseScope(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		scopes = client.Scopes
	} else if bad, ok := subset(scopes, client.Scopes); !ok {
		return nil, badRequest("invalid_scope", "scope "+bad+" is not allowed for this client")
	}
	if slices.Contains(scopes, "openid") {
		return nil, badRequest("invalid_scope", "openid needs a user; it is not available with client_credentials")
	}
	aud, e := resolveAudience(client, r.PostForm.Get("resource"))
	if e != nil {
		return nil, e
	}
	return s.issueTokens(r.Context(), issue{
		tenant: client.TenantID, client: client, scopes: scopes, audience: aud,
	})
}

// grantRefresh rotates a refresh token (OAuth 2.1 §4.3.1): every use returns
// a new refresh token; presenting a used one revokes the whole family.
func (s *Server) grantRefresh(r *http.Request) (*TokenResponse, error) {
	client, e := s.authenticateClient(r, true)
	if e != nil {
		return nil, e
	}
	if !client.AllowsGrant(GrantRefreshToken) {
		return nil, badRequest("unauthorized_client", "the client may not use the refresh token grant")
	}
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		return nil, badRequest("invalid_request", "refresh_token is required")
	}
	tenant := client.TenantID
	return s.grant(r.Context(), tenant, func(ctx context.Context) (*TokenResponse, error) {
		return s.rotateRefresh(ctx, r.PostForm, client, tenant, hashOpaque(raw))
	})
}

// rotateRefresh locks the presented token, so a concurrent presentation
// waits for this one and then sees it used (a reuse), checks it, consumes it
// and issues its successor.
func (s *Server) rotateRefresh(ctx context.Context, form url.Values, client *identity.Client, tenant uuid.UUID, hash string) (*TokenResponse, error) {
	now := s.cfg.Now()
	rt, err := s.grants.RefreshForUpdate(ctx, tenant, hash)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, invalidGrant("the refresh token is unknown")
	}
	if err != nil {
		return nil, serverError(err)
	}
	if rt.ClientID != client.ClientID {
		return nil, invalidGrant("the refresh token was issued to another client")
	}
	if rt.RevokedAt != nil {
		return nil, invalidGrant("the refresh token was revoked")
	}
	if rt.UsedAt != nil {
		return nil, s.refreshReuse(ctx, tenant, rt, client)
	}
	if !now.Before(s.familyDeadline(rt.FamilyStart())) {
		return nil, invalidGrant("the refresh token's grant has reached its maximum lifetime; the user must authorize again")
	}
	if !now.Before(rt.ExpiresAt) {
		return nil, invalidGrant("the refresh token has expired")
	}
	granted := strings.Fields(rt.Scope)
	scopes := parseScope(form.Get("scope"))
	if len(scopes) == 0 {
		scopes = granted
	} else if bad, ok := subset(scopes, granted); !ok {
		return nil, badRequest("invalid_scope", "scope "+bad+" was not granted; a refresh may only narrow the scope")
	}
	aud := rt.Audience
	if res := form.Get("resource"); res != "" {
		if !client.AllowsAudience(res) {
			return nil, badRequest("invalid_target", "resource "+res+" is not allowed for this client")
		}
		aud = res
	}
	user, e := s.activeUser(ctx, tenant, rt.UserID)
	if e != nil {
		return nil, e
	}
	// The token is locked and was live above: consuming it cannot fail
	// for another presentation.
	if err := s.grants.ConsumeRefresh(ctx, tenant, hash, now); err != nil {
		return nil, serverError(err)
	}
	// A refreshed ID token keeps auth_time but carries no nonce (OIDC Core §12.2).
	return s.issueTokens(ctx, issue{
		tenant: tenant, client: client, user: user, scopes: scopes, audience: aud,
		authTime: rt.AuthTime, codeHash: rt.CodeHash, familyID: rt.FamilyID, familyStart: rt.FamilyStart(), refresh: true,
		refreshScope: granted, idToken: slices.Contains(scopes, "openid"),
	})
}

func (s *Server) refreshReuse(ctx context.Context, tenant uuid.UUID, rt *identity.RefreshToken, client *identity.Client) error {
	if err := s.grants.RevokeFamily(ctx, tenant, rt.FamilyID, s.cfg.Now()); err != nil {
		return serverError(err)
	}
	s.cfg.Logger.WarnContext(ctx, "refresh token reused; family revoked", "client_id", client.ClientID, "family", rt.FamilyID)
	return invalidGrant("the refresh token was already used; its grant has been revoked")
}
