// Package oauth serves the Identity service's OAuth 2.1 and OpenID Connect
// endpoints: discovery, authorize, the login/consent/logout pages, token,
// introspection, revocation, JWKS and userinfo.
package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/password"
)

// SelfAudience is the audience of tokens meant for this service itself
// (userinfo and the admin API).
const SelfAudience = "identity"

// Paths of the endpoints (discovery advertises exactly these).
const (
	PathOpenIDConfiguration = "/.well-known/openid-configuration"
	PathOAuthMetadata       = "/.well-known/oauth-authorization-server"
	PathAuthorize           = "/oauth2/v1/authorize"
	PathToken               = "/oauth2/v1/token"
	PathIntrospect          = "/oauth2/v1/introspect"
	PathIntrospectBatch     = "/oauth2/v1/introspect/batch" // a Passthru extension: several tokens per request
	PathRevoke              = "/oauth2/v1/revoke"
	PathJWKS                = "/oauth2/v1/jwks"
	PathLogin               = "/oidc/v1/login"
	PathConsent             = "/oidc/v1/consent"
	PathLogout              = "/oidc/v1/logout"
	PathUserinfo            = "/oidc/v1/userinfo"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// Config wires the endpoints to their collaborators.
type Config struct {
	Issuer string // e.g. https://127.0.0.1:8082, no trailing slash
	// ClientCertificates says the listener asks for client certificates
	// (tls.client_auth optional or required). Without them tls_client_auth
	// cannot succeed, so it is not advertised.
	ClientCertificates bool
	Store              Store
	// Grants stores what the token endpoint's grants consume and issue;
	// nil means Store.
	Grants GrantStore
	Tokens *tokens.Issuer
	// CSRFKey signs the CSRF tokens of the login, consent and logout forms;
	// every replica behind one issuer needs the same (see LoadCSRFKey).
	CSRFKey []byte
	// Hasher spends the cost of a password check for unknown users and
	// clients, so they cost the same as wrong secrets.
	Hasher password.Hasher
	// Credentials checks user passwords and client secrets: cache, lockout,
	// pool. Nil means one with the defaults, Hasher and Now.
	Credentials *credential.Verifier
	Now         func() time.Time
	Logger      *slog.Logger

	AccessTokenTTL  time.Duration // default 10m
	IDTokenTTL      time.Duration // default 10m
	RefreshTokenTTL time.Duration // default 24h
	CodeTTL         time.Duration // default 60s
	SessionTTL      time.Duration // default 8h
	RequestTTL      time.Duration // pending authorization requests; default 10m

	// RefreshFamilyTTL bounds a refresh-token family from its start: no
	// rotation extends it. Default 30 days (or RefreshTokenTTL if longer);
	// shorter than RefreshTokenTTL is refused.
	RefreshFamilyTTL time.Duration

	// ChangeCheckInterval is how often the caches of verified access
	// tokens and of client records read a tenant's change generation from
	// the database: the longest a revocation, or a client or user change,
	// made by another replica goes unseen here (changes made through this
	// replica's store count at once). Default 1s.
	ChangeCheckInterval time.Duration
	// TokenCacheSize and ClientCacheSize bound those caches (entries);
	// default 10,000 each.
	TokenCacheSize  int
	ClientCacheSize int
}

// Server holds the endpoints.
type Server struct {
	cfg     Config
	csrfKey []byte
	pages   *pages
	grants  GrantStore
	creds   *credential.Verifier
	changes *changeTracker
	tokens  *tokenCache
	clients *clientCache
}

// Lifetimes New fills in for zero Config fields; the Identity service's
// configuration defaults are these.
const (
	DefaultAccessTokenTTL   = 10 * time.Minute
	DefaultIDTokenTTL       = 10 * time.Minute
	DefaultRefreshTokenTTL  = 24 * time.Hour
	DefaultRefreshFamilyTTL = 30 * 24 * time.Hour
	DefaultCodeTTL          = 60 * time.Second
	DefaultSessionTTL       = 8 * time.Hour

	DefaultChangeCheckInterval = time.Second
	DefaultCacheSize           = 10_000
)

// New checks cfg, fills defaults and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" || strings.HasSuffix(cfg.Issuer, "/") {
		return nil, errors.New("oauth: issuer must be set and must not end with a slash")
	}
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("oauth: store and token issuer are required")
	}
	if len(cfg.CSRFKey) < csrfKeySize {
		return nil, fmt.Errorf("oauth: the CSRF key must have at least %d bytes", csrfKeySize)
	}
	if cfg.Grants == nil {
		cfg.Grants = cfg.Store
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.AccessTokenTTL, DefaultAccessTokenTTL)
	def(&cfg.IDTokenTTL, DefaultIDTokenTTL)
	def(&cfg.RefreshTokenTTL, DefaultRefreshTokenTTL)
	// The default must not undercut a longer configured refresh lifetime
	// (the service's config validation refuses a family shorter than it).
	def(&cfg.RefreshFamilyTTL, max(DefaultRefreshFamilyTTL, cfg.RefreshTokenTTL))
	if cfg.RefreshFamilyTTL < cfg.RefreshTokenTTL {
		return nil, errors.New("oauth: the refresh family lifetime must not be shorter than the refresh token lifetime")
	}
	def(&cfg.CodeTTL, DefaultCodeTTL)
	def(&cfg.SessionTTL, DefaultSessionTTL)
	def(&cfg.RequestTTL, 10*time.Minute)
	def(&cfg.ChangeCheckInterval, DefaultChangeCheckInterval)
	if cfg.ChangeCheckInterval < 0 || cfg.TokenCacheSize < 0 || cfg.ClientCacheSize < 0 {
		return nil, errors.New("oauth: the change check interval and the cache sizes must not be negative")
	}
	if cfg.TokenCacheSize == 0 {
		cfg.TokenCacheSize = DefaultCacheSize
	}
	if cfg.ClientCacheSize == 0 {
		cfg.ClientCacheSize = DefaultCacheSize
	}
	if cfg.Credentials == nil {
		creds, err := credential.New(credential.Options{Hasher: cfg.Hasher, Now: cfg.Now})
		if err != nil {
			return nil, fmt.Errorf("oauth: %w", err)
		}
		cfg.Credentials = creds
	}
	p, err := newPages()
	if err != nil {
		return nil, err
	}
	changes := newChangeTracker(cfg.Store, cfg.Now, cfg.ChangeCheckInterval)
	return &Server{
		cfg: cfg, csrfKey: cfg.CSRFKey, pages: p, grants: cfg.Grants, creds: cfg.Credentials, changes: changes,
		tokens: newTokenCache(cfg.TokenCacheSize), clients: newClientCache(changes, cfg.Store, cfg.ClientCacheSize),
	}, nil
}

// PasswordChecks counts the PBKDF2 verifications (real and dummy) of user
// passwords and client secrets since start: for tests and benchmarks. A
// credential answered from the verifier's cache costs none.
func (s *Server) PasswordChecks() int64 { return s.creds.Checks() }

// Register adds every endpoint to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathOpenIDConfiguration, s.discovery)
	mux.HandleFunc("GET "+PathOAuthMetadata, s.discovery)
	mux.HandleFunc("GET "+PathAuthorize, s.authorize)
	mux.HandleFunc("POST "+PathAuthorize, s.authorize)
	mux.HandleFunc("GET "+PathLogin, s.loginPage)
	mux.HandleFunc("POST "+PathLogin, s.loginSubmit)
	mux.HandleFunc("GET "+PathConsent, s.consentPage)
	mux.HandleFunc("POST "+PathConsent, s.consentSubmit)
	mux.HandleFunc("GET "+PathLogout, s.logout)
	mux.HandleFunc("POST "+PathLogout, s.logout)
	mux.HandleFunc("POST "+PathToken, s.token)
	mux.HandleFunc("POST "+PathIntrospect, s.introspect)
	mux.HandleFunc("POST "+PathIntrospectBatch, s.introspectBatch)
	mux.HandleFunc("POST "+PathRevoke, s.revoke)
	mux.HandleFunc("GET "+PathJWKS, s.jwks)
	mux.HandleFunc("GET "+PathUserinfo, s.userinfo)
	mux.HandleFunc("POST "+PathUserinfo, s.userinfo)
}

// Error is an OAuth error (RFC 6749 §5.2 and friends). Code and Description
// are safe to show; Cause is for logs only.
type Error struct {
	Status      int
	Code        string
	Description string
	Cause       error
	// RetryAfter, when set, becomes the Retry-After header (429 and 503).
	RetryAfter time.Duration
	// basic asks for a Basic challenge (client authenticated with Basic).
	basic bool
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

func oauthErr(status int, code, desc string) *Error {
	return &Error{Status: status, Code: code, Description: desc}
}

func badRequest(code, desc string) *Error { return oauthErr(http.StatusBadRequest, code, desc) }

// serverError is the answer to a failure that is not the client's: 503
// temporarily_unavailable with Retry-After when the database cannot serve
// (the client may retry as it is), 500 server_error otherwise.
func serverError(cause error) *Error {
	if ue, ok := db.Unavailable(cause); ok {
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Cause: cause, RetryAfter: ue.RetryAfter,
			Description: "the server cannot serve requests right now (" + ue.Reason + "): retry later"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error", Cause: cause}
}

// writeError writes the OAuth JSON error body; the one place OAuth errors
// become HTTP responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = serverError(err)
	}
	switch {
	case e.Status >= 500 && e.RetryAfter == 0: // a busy refusal is load shedding, not a failure
		s.cfg.Logger.ErrorContext(r.Context(), "oauth endpoint failed", "path", r.URL.Path, "error", e.Error())
	case errors.Is(e, db.ErrUnavailable): // not this service's fault, but an operator wants to know
		s.cfg.Logger.WarnContext(r.Context(), "oauth endpoint: database unavailable", "path", r.URL.Path, "error", e.Error())
	default:
		s.cfg.Logger.InfoContext(r.Context(), "oauth request refused", "path", r.URL.Path, "error", e.Code, "description", e.Description)
	}
	if e.Status == http.StatusUnauthorized && e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="passthru-identity", charset="UTF-8"`)
	}
	if e.RetryAfter > 0 {
		httpx.SetRetryAfter(w.Header(), e.RetryAfter)
	}
	httpx.WriteOAuthError(w, e.Status, e.Code, e.Description)
}

// noStore marks a successful token-bearing answer uncacheable (RFC 6749
// §5.1); httpx.WriteOAuthError does the same for errors.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return b
}

// newOpaque returns a 256-bit random token (codes, refresh tokens, handles).
func newOpaque() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// hashOpaque is how opaque tokens are stored: SHA-256, hex.
func hashOpaque(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func (s *Server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// parseScope splits a scope parameter, dropping duplicates.
func parseScope(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range strings.Fields(s) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// scopeKey is the canonical (sorted) form of a scope set.
func scopeKey(scopes []string) string {
	return strings.Join(slices.Sorted(slices.Values(scopes)), " ")
}

func subset(want, allowed []string) (string, bool) {
	for _, w := range want {
		if !slices.Contains(allowed, w) {
			return w, false
		}
	}
	return "", true
}

// NewSecret returns a fresh client secret (256 random bits, base64url).
func NewSecret() string { return newOpaque() }
