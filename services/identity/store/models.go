// Package store persists the Identity service's state with gorm on SQLite or
// PostgreSQL: a small system database (tenant registry, client index, signing
// keys, browser sessions, pending authorization requests) and one database per
// tenant (users, clients, consents, codes, refresh tokens, issued access tokens).
//
// Its methods take and return the domain types of package identity; the gorm
// rows below are private and convert at this boundary, so a column's layout
// (space-separated lists, ids as varchar(36)) never reaches the callers.
package store

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
)

// Columns holding a uuid.UUID are tagged type:string;size:36 so gorm maps
// them as it mapped the string columns they replaced (varchar(36) on
// PostgreSQL, text on SQLite): uuid.UUID is written and read as its text
// form (driver.Valuer, sql.Scanner), and the stored schema does not change.

// tenantRow is a registered tenant.
type tenantRow struct {
	ID        uuid.UUID `gorm:"primaryKey;type:string;size:36"`
	Name      string    `gorm:"size:255;not null"`
	Demo      bool      `gorm:"not null;default:false"`
	CreatedAt time.Time
}

func (tenantRow) TableName() string { return "identity_tenants" }

func (r *tenantRow) domain() identity.Tenant {
	return identity.Tenant{ID: r.ID, Name: r.Name, Demo: r.Demo, CreatedAt: r.CreatedAt}
}

// clientIndex maps a client_id to its tenant: OAuth requests name a client,
// never a tenant, so the tenant is found through the client.
type clientIndex struct {
	ClientID string    `gorm:"primaryKey;size:255"`
	TenantID uuid.UUID `gorm:"type:string;size:36;not null;index"`
}

func (clientIndex) TableName() string { return "identity_client_index" }

// signingKeyRow is one token-signing key.
type signingKeyRow struct {
	KID            string    `gorm:"column:kid;primaryKey;size:64"`
	Algorithm      string    `gorm:"size:16;not null"`
	PublicDER      []byte    `gorm:"not null"`
	WrappedPrivate []byte    `gorm:"not null"`
	PublishedAt    time.Time `gorm:"not null"`
	SignsFrom      time.Time `gorm:"not null"`
	CreatedAt      time.Time
}

func (signingKeyRow) TableName() string { return "identity_signing_keys" }

func (r *signingKeyRow) domain() identity.SigningKey { return identity.SigningKey(*r) }

// wrappedSecret is a secret of the service shared by all its replicas, such
// as the key of the login forms' CSRF tokens. It is stored wrapped by the
// barrier; the store never sees it in the clear.
type wrappedSecret struct {
	Name      string `gorm:"primaryKey;size:255"`
	Wrapped   []byte `gorm:"not null"`
	CreatedAt time.Time
}

func (wrappedSecret) TableName() string { return "identity_secrets" }

// sessionRow is a browser login session.
type sessionRow struct {
	IDHash    string    `gorm:"column:id_hash;primaryKey;size:64"`
	TenantID  uuid.UUID `gorm:"type:string;size:36;not null;index"`
	UserID    uuid.UUID `gorm:"type:string;size:36;not null"`
	AuthTime  time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
}

func (sessionRow) TableName() string { return "identity_sessions" }

func (r *sessionRow) domain() *identity.Session {
	s := identity.Session(*r)
	return &s
}

// authRequestRow is a validated authorization request waiting for login and consent.
type authRequestRow struct {
	IDHash        string    `gorm:"column:id_hash;primaryKey;size:64"`
	TenantID      uuid.UUID `gorm:"type:string;size:36;not null;index"`
	ClientID      string    `gorm:"size:255;not null"`
	RedirectURI   string    `gorm:"size:2048;not null"`
	Scope         string    `gorm:"size:2048;not null"`
	State         string    `gorm:"size:2048"`
	Nonce         string    `gorm:"size:2048"`
	CodeChallenge string    `gorm:"size:128;not null"`
	Audience      string    `gorm:"size:2048;not null"`
	PromptLogin   bool
	ExpiresAt     time.Time `gorm:"not null"`
}

func (authRequestRow) TableName() string { return "identity_auth_requests" }

func (r *authRequestRow) domain() *identity.AuthRequest {
	a := identity.AuthRequest(*r)
	return &a
}

// userRow is an end user of a tenant.
type userRow struct {
	ID           uuid.UUID `gorm:"primaryKey;type:string;size:36"`
	Username     string    `gorm:"size:255;not null;uniqueIndex"`
	PasswordHash string    `gorm:"size:255;not null"`
	Name         string    `gorm:"size:255"`
	Email        string    `gorm:"size:255"`
	Roles        string    `gorm:"size:1024"` // space-separated
	Disabled     bool      `gorm:"not null;default:false"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (userRow) TableName() string { return "users" }

func newUserRow(u *identity.User) (*userRow, error) {
	if err := checkList("roles", u.Roles); err != nil {
		return nil, err
	}
	return &userRow{ID: u.ID, Username: u.Username, PasswordHash: u.PasswordHash, Name: u.Name, Email: u.Email,
		Roles: joinList(u.Roles), Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}, nil
}

func (r *userRow) domain() *identity.User {
	return &identity.User{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash, Name: r.Name, Email: r.Email,
		Roles: strings.Fields(r.Roles), Disabled: r.Disabled, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// clientRow is an OAuth client of a tenant. List columns are space-separated
// (URIs, grant types, scopes and audiences never contain spaces; the admin
// API refuses them).
type clientRow struct {
	ClientID               string `gorm:"primaryKey;size:255"`
	Name                   string `gorm:"size:255;not null"`
	Kind                   string `gorm:"size:32;not null"`
	SecretHash             string `gorm:"size:255"`
	RedirectURIs           string `gorm:"size:8192"`
	PostLogoutRedirectURIs string `gorm:"size:8192"`
	GrantTypes             string `gorm:"size:1024"`
	Scopes                 string `gorm:"size:4096"`
	Audiences              string `gorm:"size:4096"`
	CanIntrospect          bool   `gorm:"not null;default:false"`
	Disabled               bool   `gorm:"not null;default:false"`
	CreatedAt              time.Time
	UpdatedAt              time.Time
	// Added by tenant migration 4; nullable, as columns added to a filled
	// table are (see the migration).
	TokenEndpointAuthMethod string `gorm:"size:32"`
	TLSClientAuthSANURI     string `gorm:"column:tls_client_auth_san_uri;size:2048"`
	TLSClientAuthSANDNS     string `gorm:"column:tls_client_auth_san_dns;size:255"`
}

func (clientRow) TableName() string { return "clients" }

// newClientRow records the client's authentication method even when the
// caller left it to the default, so every row says how its client
// authenticates.
func newClientRow(c *identity.Client) (*clientRow, error) {
	for _, l := range []struct {
		name string
		list []string
	}{{"redirect URIs", c.RedirectURIs}, {"post-logout redirect URIs", c.PostLogoutRedirectURIs},
		{"grant types", c.GrantTypes}, {"scopes", c.Scopes}, {"audiences", c.Audiences}} {
		if err := checkList(l.name, l.list); err != nil {
			return nil, err
		}
	}
	return &clientRow{ClientID: c.ClientID, Name: c.Name, Kind: string(c.Kind), SecretHash: c.SecretHash,
		RedirectURIs: joinList(c.RedirectURIs), PostLogoutRedirectURIs: joinList(c.PostLogoutRedirectURIs),
		GrantTypes: joinList(c.GrantTypes), Scopes: joinList(c.Scopes), Audiences: joinList(c.Audiences),
		CanIntrospect: c.CanIntrospect, Disabled: c.Disabled, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		TokenEndpointAuthMethod: c.AuthMethod(), TLSClientAuthSANURI: c.TLSClientAuthSANURI, TLSClientAuthSANDNS: c.TLSClientAuthSANDNS}, nil
}

// domain returns the client; the tenant database it was read from is its owner.
func (r *clientRow) domain(tenant uuid.UUID) *identity.Client {
	return &identity.Client{ClientID: r.ClientID, TenantID: tenant, Name: r.Name, Kind: identity.ClientKind(r.Kind), SecretHash: r.SecretHash,
		RedirectURIs: strings.Fields(r.RedirectURIs), PostLogoutRedirectURIs: strings.Fields(r.PostLogoutRedirectURIs),
		GrantTypes: strings.Fields(r.GrantTypes), Scopes: strings.Fields(r.Scopes), Audiences: strings.Fields(r.Audiences),
		CanIntrospect: r.CanIntrospect, Disabled: r.Disabled, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		TokenEndpointAuthMethod: r.TokenEndpointAuthMethod, TLSClientAuthSANURI: r.TLSClientAuthSANURI, TLSClientAuthSANDNS: r.TLSClientAuthSANDNS}
}

// joinList writes a list column. The order is kept: a client's first
// audience is its default.
func joinList(l []string) string { return strings.Join(l, " ") }

// checkList refuses what a list column cannot give back as it was given: an
// empty element, or one holding whitespace, would split or vanish on read.
func checkList(name string, l []string) error {
	for _, v := range l {
		if v == "" || strings.ContainsFunc(v, unicode.IsSpace) {
			return fmt.Errorf("%s: element %q is empty or holds whitespace: %w", name, v, identity.ErrInvalid)
		}
	}
	return nil
}

// consentRow records that a user approved a client for an exact scope set.
type consentRow struct {
	UserID    uuid.UUID `gorm:"primaryKey;type:string;size:36"`
	ClientID  string    `gorm:"primaryKey;size:255"`
	ScopeKey  string    `gorm:"primaryKey;size:2048"` // sorted, space-separated
	CreatedAt time.Time
}

func (consentRow) TableName() string { return "consents" }

// authCodeRow is an issued authorization code; only its SHA-256 is stored.
type authCodeRow struct {
	IDHash        string    `gorm:"column:id_hash;primaryKey;size:64"`
	ClientID      string    `gorm:"size:255;not null"`
	UserID        uuid.UUID `gorm:"type:string;size:36;not null"`
	RedirectURI   string    `gorm:"size:2048;not null"`
	Scope         string    `gorm:"size:2048;not null"`
	Nonce         string    `gorm:"size:2048"`
	CodeChallenge string    `gorm:"size:128;not null"`
	Audience      string    `gorm:"size:2048;not null"`
	AuthTime      time.Time
	ExpiresAt     time.Time `gorm:"not null"`
	UsedAt        *time.Time
	RevokedAt     *time.Time
	CreatedAt     time.Time
}

func (authCodeRow) TableName() string { return "auth_codes" }

func (r *authCodeRow) domain() *identity.AuthCode {
	c := identity.AuthCode(*r)
	return &c
}

// refreshTokenRow is an issued refresh token; only its SHA-256 is stored.
type refreshTokenRow struct {
	IDHash    string    `gorm:"column:id_hash;primaryKey;size:64"`
	FamilyID  uuid.UUID `gorm:"type:string;size:36;not null;index"`
	ClientID  string    `gorm:"size:255;not null"`
	UserID    uuid.UUID `gorm:"type:string;size:36;not null"`
	Scope     string    `gorm:"size:2048;not null"`
	Audience  string    `gorm:"size:2048;not null"`
	Nonce     string    `gorm:"size:2048"`
	AuthTime  time.Time
	CodeHash  string    `gorm:"size:64;index"`
	ExpiresAt time.Time `gorm:"not null"`
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	// FamilyStartedAt is nullable only because the column was added to
	// existing tables (tenant migration 3); identity.RefreshToken's
	// FamilyStart reads around a row without one.
	FamilyStartedAt time.Time
}

func (refreshTokenRow) TableName() string { return "refresh_tokens" }

func (r *refreshTokenRow) domain() *identity.RefreshToken {
	t := identity.RefreshToken(*r)
	return &t
}

// accessTokenRow records an issued access token by jti.
type accessTokenRow struct {
	JTI      string `gorm:"column:jti;primaryKey;size:64"`
	ClientID string `gorm:"size:255;not null"`
	Subject  string `gorm:"size:255;not null"`
	// FamilyID stays a string: a token without a refresh family
	// (client_credentials) has always been stored with an empty one.
	FamilyID  string    `gorm:"size:36;index"`
	CodeHash  string    `gorm:"size:64;index"`
	ExpiresAt time.Time `gorm:"not null"`
	RevokedAt *time.Time
	CreatedAt time.Time
}

func (accessTokenRow) TableName() string { return "access_tokens" }

func (r *accessTokenRow) domain() (*identity.AccessToken, error) {
	family := uuid.Nil
	if r.FamilyID != "" {
		var err error
		if family, err = uuid.Parse(r.FamilyID); err != nil {
			return nil, fmt.Errorf("access token %s: family id: %w", r.JTI, err)
		}
	}
	return &identity.AccessToken{JTI: r.JTI, ClientID: r.ClientID, Subject: r.Subject, FamilyID: family,
		CodeHash: r.CodeHash, ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, CreatedAt: r.CreatedAt}, nil
}

// familyColumn is how access_tokens.family_id holds a family: empty for none.
func familyColumn(f uuid.UUID) string {
	if f == uuid.Nil {
		return ""
	}
	return f.String()
}

// generationRow is a tenant's change generation (see changes.go): one row,
// id 1, whose value every change that withdraws a token, a client or a
// user's standing raises in its own transaction.
type generationRow struct {
	ID    int64 `gorm:"primaryKey;autoIncrement:false"`
	Value int64 `gorm:"not null"`
}

func (generationRow) TableName() string { return "change_generation" }
