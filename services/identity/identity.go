// Package identity holds the Identity service's domain: tenants, users,
// OAuth clients, and the grants issued to them (codes, refresh and access
// tokens, consents, browser sessions, pending authorization requests), with
// the typed errors their stores return. The packages that serve OAuth and
// the admin API work with these types; how they are stored (gorm rows, one
// database per tenant) stays in the store package, which converts at its
// boundary.
package identity

import (
	"crypto/x509"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Typed errors of every Identity store; callers test them with errors.Is.
var (
	// ErrNotFound is a tenant, client, user, code, token, session or
	// request that does not exist (or no longer does).
	ErrNotFound = errors.New("not found")
	// ErrConflict is a client_id or username that is taken.
	ErrConflict = errors.New("already exists")
	// ErrAlreadyUsed is a single-use code or refresh token presented after
	// it was consumed (or, for a refresh token, revoked).
	ErrAlreadyUsed = errors.New("already used")
	// ErrInvalid is a value a store cannot keep as given (a list element
	// that is empty or holds whitespace); nothing is stored.
	ErrInvalid = errors.New("invalid value")
)

// Tenant is a registered tenant. Demo tenants are marked so --reset-demo can
// find and wipe exactly them.
type Tenant struct {
	ID        uuid.UUID
	Name      string
	Demo      bool
	CreatedAt time.Time
}

// ClientKind says what an OAuth client is for; the admin API and demo.json
// write it with the same words.
type ClientKind string

// The kinds of client.
const (
	KindConfidential   ClientKind = "confidential"    // a web app with a secret
	KindPublic         ClientKind = "public"          // a native or browser app without one
	KindService        ClientKind = "service"         // a client acting for itself (client_credentials)
	KindResourceServer ClientKind = "resource_server" // an API that introspects tokens
)

// How a client authenticates at the token, introspection and revocation
// endpoints: the token_endpoint_auth_method values of RFC 7591 §2 and
// RFC 8705 §2.1.
const (
	AuthSecretBasic   = "client_secret_basic" // the secret in a Basic header
	AuthSecretPost    = "client_secret_post"  // the secret as a form parameter
	AuthTLSClientAuth = "tls_client_auth"     // a CA-verified client certificate (RFC 8705 §2.1)
	AuthNone          = "none"                // a public client: no credential
)

// Client is an OAuth client of a tenant.
type Client struct {
	ClientID               string
	TenantID               uuid.UUID // the tenant that owns the client
	Name                   string
	Kind                   ClientKind
	SecretHash             string // PBKDF2 hash; empty for public clients
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scopes                 []string
	Audiences              []string // the first is the default audience
	CanIntrospect          bool
	Disabled               bool
	CreatedAt              time.Time
	UpdatedAt              time.Time
	// TokenEndpointAuthMethod is how the client authenticates (one of the
	// Auth* values); empty means the default of AuthMethod.
	TokenEndpointAuthMethod string
	// TLSClientAuthSANURI and TLSClientAuthSANDNS name the certificate of a
	// tls_client_auth client (RFC 8705 §2.1.2): exactly one is set, and the
	// leaf of the verified chain must carry it as a URI or DNS SAN.
	TLSClientAuthSANURI string
	TLSClientAuthSANDNS string
}

// AuthMethod is how the client authenticates. Clients registered before the
// method was recorded have none set: a client with a secret uses it
// (AuthSecretBasic; either secret method is accepted), one without is public.
func (c *Client) AuthMethod() string {
	switch {
	case c.TokenEndpointAuthMethod != "":
		return c.TokenEndpointAuthMethod
	case c.SecretHash == "":
		return AuthNone
	}
	return AuthSecretBasic
}

// Public reports whether the client has no credential at all (native and
// browser apps). A tls_client_auth client has no secret but is not public.
func (c *Client) Public() bool { return c.AuthMethod() == AuthNone }

// UsesSecret reports whether the client authenticates with its secret.
func (c *Client) UsesSecret() bool {
	m := c.AuthMethod()
	return m == AuthSecretBasic || m == AuthSecretPost
}

// UsesTLSClientAuth reports whether the client authenticates with a
// certificate (RFC 8705 tls_client_auth) rather than a secret.
func (c *Client) UsesTLSClientAuth() bool { return c.AuthMethod() == AuthTLSClientAuth }

// CertificateMatches reports whether leaf, the end-entity certificate of a
// chain the TLS layer verified, is the one registered for this
// tls_client_auth client: the registered SAN must equal one of the leaf's
// SANs of that type exactly (RFC 8705 §2.1.2). A client of another method,
// or one with no SAN registered, matches no certificate.
func (c *Client) CertificateMatches(leaf *x509.Certificate) bool {
	if leaf == nil || !c.UsesTLSClientAuth() {
		return false
	}
	switch {
	case c.TLSClientAuthSANURI != "" && c.TLSClientAuthSANDNS == "":
		for _, u := range leaf.URIs {
			if u.String() == c.TLSClientAuthSANURI {
				return true
			}
		}
	case c.TLSClientAuthSANDNS != "" && c.TLSClientAuthSANURI == "":
		return slices.Contains(leaf.DNSNames, c.TLSClientAuthSANDNS)
	}
	return false
}

// AllowsGrant reports whether grant is allowed for the client.
func (c *Client) AllowsGrant(grant string) bool { return slices.Contains(c.GrantTypes, grant) }

// AllowsAudience reports whether the client may ask for tokens for aud.
func (c *Client) AllowsAudience(aud string) bool { return slices.Contains(c.Audiences, aud) }

// DefaultAudience is the audience of tokens when no resource was requested.
func (c *Client) DefaultAudience() string {
	if len(c.Audiences) > 0 {
		return c.Audiences[0]
	}
	return ""
}

// User is an end user of a tenant.
type User struct {
	ID           uuid.UUID // the subject of the user's tokens
	Username     string
	PasswordHash string // PBKDF2 hash
	Name         string
	Email        string
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Consent records that a user approved a client for an exact scope set.
type Consent struct {
	UserID   uuid.UUID
	ClientID string
	ScopeKey string // the scopes sorted and space-separated
}

// AuthCode is an issued authorization code. Stores keep only IDHash, the
// SHA-256 of the code.
type AuthCode struct {
	IDHash        string
	ClientID      string
	UserID        uuid.UUID
	RedirectURI   string
	Scope         string // space-separated, as OAuth writes scopes
	Nonce         string
	CodeChallenge string
	Audience      string
	AuthTime      time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
	// RevokedAt records when a replay revoked what the code produced.
	RevokedAt *time.Time
	CreatedAt time.Time
}

// RefreshToken is an issued refresh token. Stores keep only IDHash, the
// SHA-256 of its value. Tokens rotated from one another share a FamilyID and
// a FamilyStartedAt.
type RefreshToken struct {
	IDHash    string
	FamilyID  uuid.UUID
	ClientID  string
	UserID    uuid.UUID
	Scope     string // space-separated
	Audience  string
	Nonce     string
	AuthTime  time.Time
	CodeHash  string // the code the family started from, if any
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	// FamilyStartedAt is when the family's first token was issued (the
	// original authorization); rotation copies it, and the family's absolute
	// lifetime counts from it. Zero for a token stored before families had
	// a start; read it through FamilyStart.
	FamilyStartedAt time.Time
}

// FamilyStart is when the token's family started. A token without one
// (written by an older version) counts from its own creation, the latest its
// family can have started.
func (r *RefreshToken) FamilyStart() time.Time {
	if r.FamilyStartedAt.IsZero() {
		return r.CreatedAt
	}
	return r.FamilyStartedAt
}

// AccessToken records an issued access token by jti so it can be revoked and
// so introspection and userinfo see revocation.
type AccessToken struct {
	JTI       string
	ClientID  string
	Subject   string    // a user id, or the client_id for client_credentials
	FamilyID  uuid.UUID // the refresh family it was issued with; uuid.Nil for none
	CodeHash  string    // the code it was issued from, if any
	ExpiresAt time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}

// Session is a browser login session. Stores keep only IDHash, the SHA-256
// of the cookie value.
type Session struct {
	IDHash    string
	TenantID  uuid.UUID
	UserID    uuid.UUID
	AuthTime  time.Time
	ExpiresAt time.Time
}

// AuthRequest is a validated authorization request waiting for login and
// consent. Stores keep only IDHash, the SHA-256 of its random handle.
type AuthRequest struct {
	IDHash        string
	TenantID      uuid.UUID
	ClientID      string
	RedirectURI   string
	Scope         string // space-separated
	State         string
	Nonce         string
	CodeChallenge string
	Audience      string
	PromptLogin   bool
	ExpiresAt     time.Time
}

// SigningKey is one token-signing key. The private key is wrapped by the
// barrier; the public key is PKIX DER.
type SigningKey struct {
	KID            string
	Algorithm      string
	PublicDER      []byte
	WrappedPrivate []byte
	PublishedAt    time.Time // appears in the JWKS from here on
	SignsFrom      time.Time // used for new tokens from here on (until a successor takes over)
	CreatedAt      time.Time
}
