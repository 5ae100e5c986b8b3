// Package admin serves the Identity admin API (/api/v1/admin/{clients,users})
// for bearer tokens of this service carrying the identity:admin scope. The
// tenant is always the token's tenant.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Scope is the scope the admin API requires.
const Scope = "identity:admin"

// Base is the path prefix of the admin API.
const Base = "/api/v1/admin"

// Authenticator validates bearer tokens (implemented by *oauth.Server).
type Authenticator interface {
	AuthenticateBearer(r *http.Request, audience, scope string) (*tokens.AccessClaims, *oauth.BearerError)
}

var _ Authenticator = (*oauth.Server)(nil)

// ClientStore manages a tenant's OAuth clients. Errors are the domain's
// typed ones (errors.Is): identity.ErrNotFound for an unknown tenant or
// client, identity.ErrConflict for a taken client_id.
type ClientStore interface {
	// CreateClient stores a new client in tenant and sets its TenantID and
	// timestamps. The client_id is unique across all tenants: a taken one
	// is identity.ErrConflict and stores nothing.
	CreateClient(ctx context.Context, tenant uuid.UUID, c *identity.Client) error
	// Clients lists the tenant's clients in client_id order.
	Clients(ctx context.Context, tenant uuid.UUID) ([]*identity.Client, error)
	// TenantClient finds a client of this tenant only.
	TenantClient(ctx context.Context, tenant uuid.UUID, clientID string) (*identity.Client, error)
	// UpdateClient saves every field of an existing client but its
	// creation time.
	UpdateClient(ctx context.Context, tenant uuid.UUID, c *identity.Client) error
	// DeleteClient removes a client with its consents, codes and refresh
	// tokens, and revokes its access tokens.
	DeleteClient(ctx context.Context, tenant uuid.UUID, clientID string) error
}

// UserStore manages a tenant's users, with the same typed errors as
// ClientStore (a taken username is identity.ErrConflict).
type UserStore interface {
	// CreateUser stores a new user and sets its timestamps.
	CreateUser(ctx context.Context, tenant uuid.UUID, u *identity.User) error
	// Users lists the tenant's users in id (creation) order.
	Users(ctx context.Context, tenant uuid.UUID) ([]*identity.User, error)
	// User finds a user by id.
	User(ctx context.Context, tenant uuid.UUID, id uuid.UUID) (*identity.User, error)
	// UpdateUser saves every field of an existing user but its creation time.
	UpdateUser(ctx context.Context, tenant uuid.UUID, u *identity.User) error
	// DeleteUser removes a user with their consents, grants and sessions.
	DeleteUser(ctx context.Context, tenant uuid.UUID, id uuid.UUID) error
	// RevokeUserGrants ends what the user's old credentials produced
	// (sessions, unused codes, refresh and access tokens), keeping consents.
	RevokeUserGrants(ctx context.Context, tenant uuid.UUID, userID uuid.UUID, now time.Time) error
}

// Store is what the admin API keeps.
type Store interface {
	ClientStore
	UserStore
}

var (
	_ Store       = (*store.Store)(nil)
	_ ClientStore = (*store.Store)(nil)
	_ UserStore   = (*store.Store)(nil)
)

// Config wires the admin API.
type Config struct {
	Store  Store
	Auth   Authenticator
	Hasher password.Hasher
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
	// ClientCertificates says the listener asks for client certificates;
	// without them a tls_client_auth client could never authenticate, so
	// none is created.
	ClientCertificates bool
}

// API is the admin API.
type API struct{ cfg Config }

// New returns the admin API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &API{cfg: cfg}
}

// Register adds the admin routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request, uuid.UUID)) {
		mux.HandleFunc(pattern, a.authed(fn))
	}
	h("POST "+Base+"/clients", a.createClient)
	h("GET "+Base+"/clients", a.listClients)
	h("GET "+Base+"/clients/{id}", a.getClient)
	h("DELETE "+Base+"/clients/{id}", a.deleteClient)
	h("POST "+Base+"/clients/{id}/disable", a.setClientDisabled(true))
	h("POST "+Base+"/clients/{id}/enable", a.setClientDisabled(false))
	h("POST "+Base+"/clients/{id}/rotate-secret", a.rotateSecret)
	h("POST "+Base+"/users", a.createUser)
	h("GET "+Base+"/users", a.listUsers)
	h("GET "+Base+"/users/{id}", a.getUser)
	h("DELETE "+Base+"/users/{id}", a.deleteUser)
	h("POST "+Base+"/users/{id}/disable", a.setUserDisabled(true))
	h("POST "+Base+"/users/{id}/enable", a.setUserDisabled(false))
	h("PUT "+Base+"/users/{id}/password", a.setPassword)
}

// authed requires a valid identity:admin token; the tenant comes from it.
func (a *API) authed(fn func(http.ResponseWriter, *http.Request, uuid.UUID)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, be := a.cfg.Auth.AuthenticateBearer(r, oauth.SelfAudience, Scope)
		if be != nil && be.Status == http.StatusServiceUnavailable {
			// The token could not be checked (the database is down): no
			// challenge, the caller's token may be good.
			httpx.SetRetryAfter(w.Header(), be.RetryAfter)
			problem(w, http.StatusServiceUnavailable, "unavailable", be.Description)
			return
		}
		if be != nil {
			// problem+json with the RFC 6750 challenge: 401 without or with a
			// bad token, 403 without the admin scope.
			httpx.WriteBearerChallenge(w, "passthru-identity", be.Code, be.Description)
			return
		}
		tenant, err := uuid.Parse(c.TenantID)
		if err != nil {
			problem(w, http.StatusUnauthorized, "invalid_token", "the token has no valid tenant")
			return
		}
		fn(w, r, tenant)
	}
}

func problem(w http.ResponseWriter, status int, code, detail string) {
	httpx.WriteProblem(w, httpx.Problem{
		Type: "https://passthru.dev/problems/" + code, Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code,
	})
}

func (a *API) storeError(w http.ResponseWriter, r *http.Request, err error, what string) {
	switch {
	case errors.Is(err, identity.ErrNotFound):
		problem(w, http.StatusNotFound, "not_found", what+" not found")
	case errors.Is(err, identity.ErrConflict):
		problem(w, http.StatusConflict, "conflict", what+" already exists")
	default:
		if ue, ok := db.Unavailable(err); ok {
			a.cfg.Logger.WarnContext(r.Context(), "admin API: database unavailable", "error", err)
			httpx.SetRetryAfter(w.Header(), ue.RetryAfter)
			problem(w, http.StatusServiceUnavailable, "unavailable", "the database cannot serve requests right now ("+ue.Reason+"): retry later")
			return
		}
		a.cfg.Logger.ErrorContext(r.Context(), "admin API", "error", err)
		problem(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// decode reads a JSON body strictly; on false the problem has been written.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := httpx.DecodeJSON(r, v)
	if err == nil {
		return true
	}
	// DecodeJSON's errors are *DecodeError, whose Detail is safe to show.
	var de *httpx.DecodeError
	if !errors.As(err, &de) {
		de = &httpx.DecodeError{Status: http.StatusBadRequest, Detail: "malformed request body"}
	}
	httpx.WriteProblem(w, de.Problem())
	return false
}

// ---- clients ----

// ClientView is a client as the admin API shows it (never the secret hash).
type ClientView struct {
	ClientID               string    `json:"client_id"`
	Name                   string    `json:"name"`
	Kind                   string    `json:"kind"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	GrantTypes             []string  `json:"grant_types"`
	Scopes                 []string  `json:"scopes"`
	Audiences              []string  `json:"audiences"`
	CanIntrospect          bool      `json:"can_introspect"`
	Disabled               bool      `json:"disabled"`
	CreatedAt              time.Time `json:"created_at"`
	ClientSecret           string    `json:"client_secret,omitempty"` // only when just created or rotated
	// TokenEndpointAuthMethod and the SANs are the RFC 7591 / RFC 8705
	// client metadata of the same names; a SAN is shown only when set.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	TLSClientAuthSANURI     string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANDNS     string `json:"tls_client_auth_san_dns,omitempty"`
}

func viewClient(c *identity.Client) ClientView {
	l := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	return ClientView{
		ClientID: c.ClientID, Name: c.Name, Kind: string(c.Kind), RedirectURIs: l(c.RedirectURIs),
		PostLogoutRedirectURIs: l(c.PostLogoutRedirectURIs), GrantTypes: l(c.GrantTypes),
		Scopes: l(c.Scopes), Audiences: l(c.Audiences), CanIntrospect: c.CanIntrospect,
		TokenEndpointAuthMethod: c.AuthMethod(), TLSClientAuthSANURI: c.TLSClientAuthSANURI, TLSClientAuthSANDNS: c.TLSClientAuthSANDNS,
		Disabled: c.Disabled, CreatedAt: c.CreatedAt.UTC(),
	}
}

// CreateClientRequest is the body of POST /clients.
type CreateClientRequest struct {
	ClientID               string   `json:"client_id"`
	Name                   string   `json:"name"`
	Kind                   string   `json:"kind"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	Audiences              []string `json:"audiences"`
	CanIntrospect          bool     `json:"can_introspect"`
	// TokenEndpointAuthMethod defaults to none for public clients and
	// client_secret_basic for the others. tls_client_auth (resource_server
	// and service clients) needs exactly one of the SANs: the client then
	// authenticates with a certificate carrying it, and has no secret.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	TLSClientAuthSANURI     string `json:"tls_client_auth_san_uri"`
	TLSClientAuthSANDNS     string `json:"tls_client_auth_san_dns"`
}

var kinds = map[identity.ClientKind]bool{identity.KindConfidential: true, identity.KindPublic: true, identity.KindService: true, identity.KindResourceServer: true}

func (req *CreateClientRequest) validate() string {
	if req.ClientID != "" {
		if err := identity.ValidateName(req.ClientID); err != nil || strings.ContainsAny(req.ClientID, " :") {
			return "client_id must be a short name without spaces or colons"
		}
	}
	if err := identity.ValidateName(req.Name); err != nil {
		return "name: " + err.Error()
	}
	if !kinds[identity.ClientKind(req.Kind)] {
		return "kind must be confidential, public, service or resource_server"
	}
	for _, g := range req.GrantTypes {
		switch g {
		case oauth.GrantAuthorizationCode, oauth.GrantRefreshToken:
		case oauth.GrantClientCredentials:
			if identity.ClientKind(req.Kind) == identity.KindPublic {
				return "a public client cannot use client_credentials"
			}
		default:
			return "grant type " + g + " is not supported"
		}
	}
	hasCode := slices.Contains(req.GrantTypes, oauth.GrantAuthorizationCode)
	if hasCode && len(req.RedirectURIs) == 0 {
		return "authorization_code needs at least one redirect URI"
	}
	for _, u := range append(append([]string{}, req.RedirectURIs...), req.PostLogoutRedirectURIs...) {
		if msg := checkRedirect(u, identity.ClientKind(req.Kind) == identity.KindPublic); msg != "" {
			return msg
		}
	}
	for _, s := range append(append([]string{}, req.Scopes...), req.Audiences...) {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") || len(s) > 255 {
			return "scopes and audiences are non-empty tokens without spaces or quotes"
		}
	}
	if identity.ClientKind(req.Kind) == identity.KindPublic && req.CanIntrospect {
		return "a public client cannot introspect"
	}
	return req.validateAuthMethod()
}

// validateAuthMethod checks the authentication method and fills in its
// default. A public client has no credential; the others have a secret, or
// for resource servers and service clients a certificate instead.
func (req *CreateClientRequest) validateAuthMethod() string {
	kind := identity.ClientKind(req.Kind)
	if req.TokenEndpointAuthMethod == "" {
		req.TokenEndpointAuthMethod = identity.AuthSecretBasic
		if kind == identity.KindPublic {
			req.TokenEndpointAuthMethod = identity.AuthNone
		}
	}
	switch m := req.TokenEndpointAuthMethod; {
	case kind == identity.KindPublic && m != identity.AuthNone:
		return "a public client has no credential: token_endpoint_auth_method must be none"
	case m == identity.AuthNone && kind != identity.KindPublic:
		return "token_endpoint_auth_method none is for public clients only"
	case m == identity.AuthTLSClientAuth && kind != identity.KindResourceServer && kind != identity.KindService:
		return "tls_client_auth is for resource_server and service clients"
	case m != identity.AuthNone && m != identity.AuthSecretBasic && m != identity.AuthSecretPost && m != identity.AuthTLSClientAuth:
		return "token_endpoint_auth_method must be client_secret_basic, client_secret_post, tls_client_auth or none"
	}
	uri, dns := req.TLSClientAuthSANURI, req.TLSClientAuthSANDNS
	if req.TokenEndpointAuthMethod != identity.AuthTLSClientAuth {
		if uri != "" || dns != "" {
			return "tls_client_auth_san_uri and tls_client_auth_san_dns go with token_endpoint_auth_method tls_client_auth only"
		}
		return ""
	}
	switch {
	case (uri == "") == (dns == ""):
		return "tls_client_auth needs exactly one of tls_client_auth_san_uri and tls_client_auth_san_dns"
	case uri != "":
		// Certificates are matched by the URI's canonical text, so only
		// that form can ever match.
		u, err := url.Parse(uri)
		if err != nil || !u.IsAbs() || u.String() != uri || len(uri) > 2048 || strings.ContainsAny(uri, " \t\r\n") {
			return "tls_client_auth_san_uri must be an absolute URI in canonical form (e.g. spiffe://example.org/kms)"
		}
	default:
		// Certificate DNS names are compared exactly; lower case is how
		// they are issued.
		if tlsx.ValidateFQDN(dns) != nil || strings.ToLower(dns) != dns {
			return "tls_client_auth_san_dns must be a lower-case fully qualified host name"
		}
	}
	return ""
}

func checkRedirect(raw string, public bool) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || strings.ContainsAny(raw, " \t") {
		return "redirect URI " + raw + " must be an absolute URL without fragment"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "::1" && h != "localhost" {
			return "redirect URI " + raw + ": plain http only on loopback"
		}
	default:
		if !public {
			return "redirect URI " + raw + ": https required"
		}
	}
	return ""
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	var req CreateClientRequest
	if !decode(w, r, &req) {
		return
	}
	if msg := req.validate(); msg != "" {
		problem(w, http.StatusBadRequest, "invalid_client_metadata", msg)
		return
	}
	if req.TokenEndpointAuthMethod == identity.AuthTLSClientAuth && !a.cfg.ClientCertificates {
		problem(w, http.StatusBadRequest, "invalid_client_metadata",
			"tls_client_auth needs a listener that asks for client certificates (tls.client_auth optional or required)")
		return
	}
	if req.ClientID == "" {
		req.ClientID = ids.NewEntity().String()
	}
	if len(req.Audiences) == 0 {
		req.Audiences = []string{oauth.SelfAudience}
	}
	c := &identity.Client{
		ClientID: req.ClientID, Name: req.Name, Kind: identity.ClientKind(req.Kind),
		RedirectURIs: req.RedirectURIs, PostLogoutRedirectURIs: req.PostLogoutRedirectURIs,
		GrantTypes: req.GrantTypes, Scopes: req.Scopes,
		Audiences: req.Audiences, CanIntrospect: req.CanIntrospect,
		TokenEndpointAuthMethod: req.TokenEndpointAuthMethod,
		TLSClientAuthSANURI:     req.TLSClientAuthSANURI, TLSClientAuthSANDNS: req.TLSClientAuthSANDNS,
	}
	secret := ""
	if c.UsesSecret() {
		secret = oauth.NewSecret()
		h, err := a.cfg.Hasher.Hash(secret)
		if err != nil {
			a.storeError(w, r, err, "client")
			return
		}
		c.SecretHash = h
	}
	if err := a.cfg.Store.CreateClient(r.Context(), tenant, c); err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	v := viewClient(c)
	v.ClientSecret = secret
	w.Header().Set("Location", Base+"/clients/"+url.PathEscape(c.ClientID))
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusCreated, v)
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	cs, err := a.cfg.Store.Clients(r.Context(), tenant)
	if err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	items := make([]ClientView, 0, len(cs))
	for i := range cs {
		items = append(items, viewClient(cs[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "next_page_token": ""})
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	c, err := a.cfg.Store.TenantClient(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, viewClient(c))
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	if err := a.cfg.Store.DeleteClient(r.Context(), tenant, r.PathValue("id")); err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setClientDisabled(disabled bool) func(http.ResponseWriter, *http.Request, uuid.UUID) {
	return func(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
		c, err := a.cfg.Store.TenantClient(r.Context(), tenant, r.PathValue("id"))
		if err != nil {
			a.storeError(w, r, err, "client")
			return
		}
		c.Disabled = disabled
		if err := a.cfg.Store.UpdateClient(r.Context(), tenant, c); err != nil {
			a.storeError(w, r, err, "client")
			return
		}
		httpx.WriteJSON(w, http.StatusOK, viewClient(c))
	}
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	c, err := a.cfg.Store.TenantClient(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	if c.Public() {
		problem(w, http.StatusBadRequest, "public_client", "a public client has no secret")
		return
	}
	if !c.UsesSecret() {
		problem(w, http.StatusBadRequest, "no_secret", "the client authenticates with "+c.AuthMethod()+" and has no secret")
		return
	}
	secret := oauth.NewSecret()
	if c.SecretHash, err = a.cfg.Hasher.Hash(secret); err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	if err := a.cfg.Store.UpdateClient(r.Context(), tenant, c); err != nil {
		a.storeError(w, r, err, "client")
		return
	}
	v := viewClient(c)
	v.ClientSecret = secret
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, v)
}

// ---- users ----

// UserView is a user as the admin API shows it (never the password hash).
type UserView struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func viewUser(u *identity.User) UserView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return UserView{ID: u.ID.String(), Username: u.Username, Name: u.Name, Email: u.Email, Roles: roles, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC()}
}

// CreateUserRequest is the body of POST /users.
type CreateUserRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// MinPasswordLength is the shortest password the admin API accepts.
const MinPasswordLength = 12

// checkPassword also refuses control characters: the credential verifier
// refuses them when presented, so such a password could never be used.
func checkPassword(p string) string {
	if len(p) < MinPasswordLength || len(p) > 1024 || identity.ValidateText(p) != nil || credential.ValidateSecret(p) != nil {
		return "password must be 12 to 1024 characters, without control characters"
	}
	return ""
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	var req CreateUserRequest
	if !decode(w, r, &req) {
		return
	}
	if err := identity.ValidateName(req.Username); err != nil || strings.ContainsAny(req.Username, " \t") {
		problem(w, http.StatusBadRequest, "invalid_user", "username must be a non-empty name without spaces")
		return
	}
	if msg := checkPassword(req.Password); msg != "" {
		problem(w, http.StatusBadRequest, "invalid_user", msg)
		return
	}
	for _, f := range append([]string{req.Name, req.Email}, req.Roles...) {
		if len(f) > 255 || identity.ValidateText(f) != nil || strings.ContainsAny(f, "\n\r") {
			problem(w, http.StatusBadRequest, "invalid_user", "name, email and roles must be short single-line text")
			return
		}
	}
	for _, role := range req.Roles {
		if role == "" || strings.ContainsAny(role, " \t") {
			problem(w, http.StatusBadRequest, "invalid_user", "roles are non-empty words")
			return
		}
	}
	h, err := a.cfg.Hasher.Hash(req.Password)
	if err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	u := &identity.User{
		ID: ids.NewEntity(), Username: req.Username, PasswordHash: h, Name: req.Name,
		Email: req.Email, Roles: req.Roles,
	}
	if err := a.cfg.Store.CreateUser(r.Context(), tenant, u); err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	w.Header().Set("Location", Base+"/users/"+u.ID.String())
	httpx.WriteJSON(w, http.StatusCreated, viewUser(u))
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	us, err := a.cfg.Store.Users(r.Context(), tenant)
	if err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	items := make([]UserView, 0, len(us))
	for i := range us {
		items = append(items, viewUser(us[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "next_page_token": ""})
}

func (a *API) user(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) *identity.User {
	id, err := ids.ParseEntity(r.PathValue("id"))
	if err != nil {
		problem(w, http.StatusBadRequest, "invalid_id", "user id must be a UUIDv7")
		return nil
	}
	u, err := a.cfg.Store.User(r.Context(), tenant, id)
	if err != nil {
		a.storeError(w, r, err, "user")
		return nil
	}
	return u
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	if u := a.user(w, r, tenant); u != nil {
		httpx.WriteJSON(w, http.StatusOK, viewUser(u))
	}
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	u := a.user(w, r, tenant)
	if u == nil {
		return
	}
	if err := a.cfg.Store.DeleteUser(r.Context(), tenant, u.ID); err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setUserDisabled(disabled bool) func(http.ResponseWriter, *http.Request, uuid.UUID) {
	return func(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
		u := a.user(w, r, tenant)
		if u == nil {
			return
		}
		u.Disabled = disabled
		if err := a.cfg.Store.UpdateUser(r.Context(), tenant, u); err != nil {
			a.storeError(w, r, err, "user")
			return
		}
		httpx.WriteJSON(w, http.StatusOK, viewUser(u))
	}
}

// SetPasswordRequest is the body of PUT /users/{id}/password.
type SetPasswordRequest struct {
	Password string `json:"password"`
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, tenant uuid.UUID) {
	u := a.user(w, r, tenant)
	if u == nil {
		return
	}
	var req SetPasswordRequest
	if !decode(w, r, &req) {
		return
	}
	if msg := checkPassword(req.Password); msg != "" {
		problem(w, http.StatusBadRequest, "invalid_password", msg)
		return
	}
	h, err := a.cfg.Hasher.Hash(req.Password)
	if err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	u.PasswordHash = h
	if err := a.cfg.Store.UpdateUser(r.Context(), tenant, u); err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	// A new password is often a response to a leaked one: whatever the old
	// password opened (sessions, refresh and access tokens) is closed too.
	if err := a.cfg.Store.RevokeUserGrants(r.Context(), tenant, u.ID, a.cfg.Now()); err != nil {
		a.storeError(w, r, err, "user")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
