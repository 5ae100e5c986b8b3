// Package store persists the Identity service's state with gorm on SQLite or
// PostgreSQL: a small system database (tenant registry, client index, signing
// keys, browser sessions, pending authorization requests) and one database per
// tenant (users, clients, consents, codes, refresh tokens, issued access tokens).
package store

import (
	"slices"
	"strings"
	"time"
)

// Tenant is a registered tenant. Demo tenants are marked so --reset-demo can
// find and wipe exactly them.
type Tenant struct {
	ID        string `gorm:"primaryKey;size:36"`
	Name      string `gorm:"size:255;not null"`
	Demo      bool   `gorm:"not null;default:false"`
	CreatedAt time.Time
}

func (Tenant) TableName() string { return "identity_tenants" }

// clientIndex maps a client_id to its tenant: OAuth requests name a client,
// never a tenant, so the tenant is found through the client.
type clientIndex struct {
	ClientID string `gorm:"primaryKey;size:255"`
	TenantID string `gorm:"size:36;not null;index"`
}

func (clientIndex) TableName() string { return "identity_client_index" }

// SigningKey is one token-signing key. The private key is wrapped by the
// barrier (system scope); the public key is stored as PKIX DER.
type SigningKey struct {
	KID            string    `gorm:"column:kid;primaryKey;size:64"`
	Algorithm      string    `gorm:"size:16;not null"`
	PublicDER      []byte    `gorm:"not null"`
	WrappedPrivate []byte    `gorm:"not null"`
	PublishedAt    time.Time `gorm:"not null"` // appears in the JWKS from here on
	SignsFrom      time.Time `gorm:"not null"` // used for new tokens from here on (until a successor takes over)
	CreatedAt      time.Time
}

func (SigningKey) TableName() string { return "identity_signing_keys" }

// wrappedSecret is a secret of the service shared by all its replicas, such
// as the key of the login forms' CSRF tokens. It is stored wrapped by the
// barrier; the store never sees it in the clear.
type wrappedSecret struct {
	Name      string `gorm:"primaryKey;size:255"`
	Wrapped   []byte `gorm:"not null"`
	CreatedAt time.Time
}

func (wrappedSecret) TableName() string { return "identity_secrets" }

// Session is a browser login session. Only the SHA-256 of the cookie value is stored.
type Session struct {
	IDHash    string    `gorm:"column:id_hash;primaryKey;size:64"`
	TenantID  string    `gorm:"size:36;not null;index"`
	UserID    string    `gorm:"size:36;not null"`
	AuthTime  time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
}

func (Session) TableName() string { return "identity_sessions" }

// AuthRequest is a validated authorization request waiting for login and consent.
// Only the SHA-256 of its random handle is stored.
type AuthRequest struct {
	IDHash        string `gorm:"column:id_hash;primaryKey;size:64"`
	TenantID      string `gorm:"size:36;not null;index"`
	ClientID      string `gorm:"size:255;not null"`
	RedirectURI   string `gorm:"size:2048;not null"`
	Scope         string `gorm:"size:2048;not null"`
	State         string `gorm:"size:2048"`
	Nonce         string `gorm:"size:2048"`
	CodeChallenge string `gorm:"size:128;not null"`
	Audience      string `gorm:"size:2048;not null"`
	PromptLogin   bool
	ExpiresAt     time.Time `gorm:"not null"`
}

func (AuthRequest) TableName() string { return "identity_auth_requests" }

// User is an end user of a tenant.
type User struct {
	ID           string `gorm:"primaryKey;size:36"`
	Username     string `gorm:"size:255;not null;uniqueIndex"`
	PasswordHash string `gorm:"size:255;not null"`
	Name         string `gorm:"size:255"`
	Email        string `gorm:"size:255"`
	Roles        string `gorm:"size:1024"` // space-separated
	Disabled     bool   `gorm:"not null;default:false"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (User) TableName() string { return "users" }

// RoleList returns the user's roles.
func (u *User) RoleList() []string { return strings.Fields(u.Roles) }

// Client kinds (the same words as demo.json).
const (
	KindConfidential   = "confidential"
	KindPublic         = "public"
	KindService        = "service"
	KindResourceServer = "resource_server"
)

// Client is an OAuth client of a tenant. List fields are space-separated
// (URIs and scopes never contain spaces).
type Client struct {
	ClientID               string `gorm:"primaryKey;size:255"`
	TenantID               string `gorm:"-"` // filled on load; the tenant database is the owner
	Name                   string `gorm:"size:255;not null"`
	Kind                   string `gorm:"size:32;not null"`
	SecretHash             string `gorm:"size:255"` // empty for public clients
	RedirectURIs           string `gorm:"size:8192"`
	PostLogoutRedirectURIs string `gorm:"size:8192"`
	GrantTypes             string `gorm:"size:1024"`
	Scopes                 string `gorm:"size:4096"`
	Audiences              string `gorm:"size:4096"` // the first is the default audience
	CanIntrospect          bool   `gorm:"not null;default:false"`
	Disabled               bool   `gorm:"not null;default:false"`
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

func (Client) TableName() string { return "clients" }

// Public reports whether the client has no secret (native and browser apps).
func (c *Client) Public() bool { return c.SecretHash == "" }

// RedirectURIList returns the registered redirect URIs.
func (c *Client) RedirectURIList() []string { return strings.Fields(c.RedirectURIs) }

// PostLogoutRedirectURIList returns the registered post-logout redirect URIs.
func (c *Client) PostLogoutRedirectURIList() []string {
	return strings.Fields(c.PostLogoutRedirectURIs)
}

// GrantTypeList returns the allowed grant types.
func (c *Client) GrantTypeList() []string { return strings.Fields(c.GrantTypes) }

// ScopeList returns the allowed scopes.
func (c *Client) ScopeList() []string { return strings.Fields(c.Scopes) }

// AudienceList returns the allowed audiences, default first.
func (c *Client) AudienceList() []string { return strings.Fields(c.Audiences) }

// AllowsGrant reports whether grant is allowed for the client.
func (c *Client) AllowsGrant(grant string) bool { return slices.Contains(c.GrantTypeList(), grant) }

// AllowsAudience reports whether the client may ask for tokens for aud.
func (c *Client) AllowsAudience(aud string) bool { return slices.Contains(c.AudienceList(), aud) }

// DefaultAudience is the audience of tokens when no resource was requested.
func (c *Client) DefaultAudience() string {
	if l := c.AudienceList(); len(l) > 0 {
		return l[0]
	}
	return ""
}

// Consent records that a user approved a client for an exact scope set.
type Consent struct {
	UserID    string `gorm:"primaryKey;size:36"`
	ClientID  string `gorm:"primaryKey;size:255"`
	ScopeKey  string `gorm:"primaryKey;size:2048"` // sorted, space-separated
	CreatedAt time.Time
}

func (Consent) TableName() string { return "consents" }

// AuthCode is an issued authorization code; only its SHA-256 is stored.
type AuthCode struct {
	IDHash        string `gorm:"column:id_hash;primaryKey;size:64"`
	ClientID      string `gorm:"size:255;not null"`
	UserID        string `gorm:"size:36;not null"`
	RedirectURI   string `gorm:"size:2048;not null"`
	Scope         string `gorm:"size:2048;not null"`
	Nonce         string `gorm:"size:2048"`
	CodeChallenge string `gorm:"size:128;not null"`
	Audience      string `gorm:"size:2048;not null"`
	AuthTime      time.Time
	ExpiresAt     time.Time `gorm:"not null"`
	UsedAt        *time.Time
	// RevokedAt records when a replay revoked what the code produced.
	RevokedAt *time.Time
	CreatedAt time.Time
}

func (AuthCode) TableName() string { return "auth_codes" }

// RefreshToken is an issued refresh token; only its SHA-256 is stored.
// Tokens rotated from one another share a FamilyID and a FamilyStartedAt.
type RefreshToken struct {
	IDHash    string `gorm:"column:id_hash;primaryKey;size:64"`
	FamilyID  string `gorm:"size:36;not null;index"`
	ClientID  string `gorm:"size:255;not null"`
	UserID    string `gorm:"size:36;not null"`
	Scope     string `gorm:"size:2048;not null"`
	Audience  string `gorm:"size:2048;not null"`
	Nonce     string `gorm:"size:2048"`
	AuthTime  time.Time
	CodeHash  string    `gorm:"size:64;index"` // the code the family started from, if any
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time

	// FamilyStartedAt is when the family's first token was issued (the
	// original authorization); rotation copies it, and the family's absolute
	// lifetime counts from it. Nullable only because the column was added to
	// existing tables (tenant migration 3); read it through FamilyStart.
	FamilyStartedAt time.Time
}

func (RefreshToken) TableName() string { return "refresh_tokens" }

// FamilyStart is when the token's family started. A row without one (written
// by a process of an older version still running after the migration's
// backfill) counts from its own creation, the latest its family can have
// started.
func (r *RefreshToken) FamilyStart() time.Time {
	if r.FamilyStartedAt.IsZero() {
		return r.CreatedAt
	}
	return r.FamilyStartedAt
}

// AccessToken records an issued access token by jti so it can be revoked and
// so introspection and userinfo see revocation.
type AccessToken struct {
	JTI       string    `gorm:"column:jti;primaryKey;size:64"`
	ClientID  string    `gorm:"size:255;not null"`
	Subject   string    `gorm:"size:255;not null"`
	FamilyID  string    `gorm:"size:36;index"`
	CodeHash  string    `gorm:"size:64;index"`
	ExpiresAt time.Time `gorm:"not null"`
	RevokedAt *time.Time
	CreatedAt time.Time
}

func (AccessToken) TableName() string { return "access_tokens" }
