package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/infra/db"
)

// The store's typed errors are the domain's (see package identity), named
// here too for the store's own callers.
var (
	ErrNotFound    = identity.ErrNotFound
	ErrConflict    = identity.ErrConflict
	ErrAlreadyUsed = identity.ErrAlreadyUsed
	ErrInvalid     = identity.ErrInvalid
)

// Store is the Identity service's persistence. It is safe for concurrent use.
type Store struct {
	db      *db.DB
	tenants *db.TenantMigrator // tenant handles, migrated on first use
	changes changeCounters     // see changes.go
}

// migrationFiles hold the versioned schema of the system database
// (migrations/system) and of every tenant database (migrations/tenant), one
// directory per dialect (see db.SQLMigrations). A change to a row struct in
// models.go needs a new migration there; the schema test compares the two.
//
//go:embed migrations
var migrationFiles embed.FS

var (
	systemMigrations = db.MustSQLMigrations(migrationFiles, "migrations/system")
	tenantMigrations = db.MustSQLMigrations(migrationFiles, "migrations/tenant")
)

// New migrates the system database and returns a Store over d.
func New(ctx context.Context, d *db.DB) (*Store, error) {
	if err := db.Migrate(ctx, d.Gorm(), "identity-system", systemMigrations); err != nil {
		return nil, fmt.Errorf("migrate identity system database: %w", err)
	}
	return &Store{db: d, tenants: db.NewTenantMigrator(d, "identity-tenant", tenantMigrations)}, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

func (s *Store) sys(ctx context.Context) *gorm.DB { return s.db.Gorm().WithContext(ctx) }

// tenant returns the migrated handle of a registered tenant: inside WithTx
// (ctx carries its transaction) the transaction itself.
func (s *Store) tenant(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	if tx := s.txOf(ctx); tx != nil {
		if tx.tenant != tenant {
			return nil, fmt.Errorf("tenant %s inside a transaction on tenant %s: %w", tenant, tx.tenant, errOtherTenant)
		}
		return tx.g.WithContext(ctx), nil
	}
	g, err := s.tenants.Tenant(ctx, tenant)
	if errors.Is(err, db.ErrUnknownTenant) {
		return nil, fmt.Errorf("tenant %s: %w", tenant, ErrNotFound)
	}
	return g, err
}

// errOtherTenant refuses a tenant's method called inside another tenant's
// transaction: each tenant has its own database, and a transaction lives in
// one of them.
var errOtherTenant = errors.New("a transaction spans one tenant's database")

// txKey is the context key of the transaction WithTx runs in.
type txKey struct{}

// tenantTx is a transaction WithTx opened on one tenant's database.
type tenantTx struct {
	store  *Store // another Store (another database) does not join it
	tenant uuid.UUID
	g      *gorm.DB
	// changed is set by a change (see change) made in the transaction: the
	// generation is raised before it commits.
	changed bool
}

func (s *Store) txOf(ctx context.Context) *tenantTx {
	if tx, ok := ctx.Value(txKey{}).(*tenantTx); ok && tx.store == s {
		return tx
	}
	return nil
}

// WithTx runs fn in one transaction on tenant's database. Every method of
// the store that fn calls with the context it is given, for that tenant,
// runs inside the transaction: all of it is committed when fn returns nil,
// none of it when fn returns an error or panics (fn's error is returned as
// is). Methods for another tenant with that context fail, and the system
// database (sessions, authorization requests, signing keys, the tenant
// registry) is not part of the transaction. WithTx inside WithTx for the
// same tenant joins the outer transaction.
//
// Concurrent transactions that touch the same row are serialised: on
// PostgreSQL the second waits for the first's row lock (ConsumeCode,
// RefreshForUpdate) until it commits or rolls back; on SQLite the whole
// transaction holds the database's write lock from its start.
func (s *Store) WithTx(ctx context.Context, tenant uuid.UUID, fn func(ctx context.Context) error) error {
	if tx := s.txOf(ctx); tx != nil {
		if tx.tenant != tenant {
			return fmt.Errorf("transaction on tenant %s inside one on tenant %s: %w", tenant, tx.tenant, errOtherTenant)
		}
		return fn(ctx)
	}
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	var fnErr error
	ttx := &tenantTx{store: s, tenant: tenant}
	err = g.Transaction(func(tx *gorm.DB) error {
		ttx.g = tx
		if fnErr = fn(context.WithValue(ctx, txKey{}, ttx)); fnErr != nil {
			return fnErr
		}
		if ttx.changed {
			// Last, so the generation's row lock is held for no more than
			// the commit.
			return raiseGeneration(tx)
		}
		return nil
	})
	if ttx.changed {
		s.changes.add(tenant)
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("transaction on tenant %s: %w", tenant, err)
	}
	return nil
}

// CreateTenant registers a tenant and creates its database.
func (s *Store) CreateTenant(ctx context.Context, id uuid.UUID, name string, demo bool) error {
	if err := s.db.CreateTenant(ctx, id); err != nil {
		return fmt.Errorf("create tenant %s: %w", id, err)
	}
	if _, err := s.tenant(ctx, id); err != nil {
		return err
	}
	row := tenantRow{ID: id, Name: name, Demo: demo}
	if err := s.sys(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("register tenant %s: %w", id, err)
	}
	return nil
}

// Tenants lists registered tenants, demo ones only when demoOnly.
func (s *Store) Tenants(ctx context.Context, demoOnly bool) ([]identity.Tenant, error) {
	var rows []tenantRow
	q := s.sys(ctx).Order("created_at, id")
	if demoOnly {
		q = q.Where("demo = ?", true)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]identity.Tenant, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// DeleteTenant drops a tenant's database and every system row that refers to it.
func (s *Store) DeleteTenant(ctx context.Context, id uuid.UUID) error {
	err := s.sys(ctx).Transaction(func(tx *gorm.DB) error {
		for _, m := range []any{&clientIndex{}, &sessionRow{}, &authRequestRow{}} {
			if err := tx.Where("tenant_id = ?", id.String()).Delete(m).Error; err != nil {
				return err
			}
		}
		return tx.Where("id = ?", id.String()).Delete(&tenantRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	if err := s.db.DropTenant(ctx, id); err != nil && !errors.Is(err, db.ErrUnknownTenant) {
		return fmt.Errorf("drop tenant %s: %w", id, err)
	}
	s.tenants.Forget(id)
	s.changes.add(id)
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ---- clients ----

// CreateClient stores a new client in tenant and sets its TenantID. The
// client_id must be unique across all tenants (ErrConflict otherwise); a
// list element that is empty or holds whitespace is ErrInvalid.
func (s *Store) CreateClient(ctx context.Context, tenant uuid.UUID, c *identity.Client) error {
	row, err := newClientRow(c)
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, err)
	}
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	// The index row goes first: its primary key is the global uniqueness check.
	var n int64
	if err := s.sys(ctx).Model(&clientIndex{}).Where("client_id = ?", c.ClientID).Count(&n).Error; err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("client %q: %w", c.ClientID, ErrConflict)
	}
	if err := s.sys(ctx).Create(&clientIndex{ClientID: c.ClientID, TenantID: tenant}).Error; err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, err)
	}
	if err := g.Create(row).Error; err != nil {
		s.sys(ctx).Where("client_id = ?", c.ClientID).Delete(&clientIndex{})
		return fmt.Errorf("create client %q: %w", c.ClientID, err)
	}
	c.TenantID, c.CreatedAt, c.UpdatedAt = tenant, row.CreatedAt, row.UpdatedAt
	return nil
}

// Client finds a client by client_id in any tenant.
func (s *Store) Client(ctx context.Context, clientID string) (*identity.Client, error) {
	var idx clientIndex
	if err := s.sys(ctx).Where("client_id = ?", clientID).Take(&idx).Error; err != nil {
		return nil, notFound(err, "client")
	}
	return s.TenantClient(ctx, idx.TenantID, clientID)
}

// TenantClient finds a client of one tenant.
func (s *Store) TenantClient(ctx context.Context, tenant uuid.UUID, clientID string) (*identity.Client, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var row clientRow
	if err := g.Where("client_id = ?", clientID).Take(&row).Error; err != nil {
		return nil, notFound(err, "client")
	}
	return row.domain(tenant), nil
}

// Clients lists the clients of a tenant in client_id order.
func (s *Store) Clients(ctx context.Context, tenant uuid.UUID) ([]*identity.Client, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var rows []clientRow
	if err := g.Order("client_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out := make([]*identity.Client, len(rows))
	for i := range rows {
		out[i] = rows[i].domain(tenant)
	}
	return out, nil
}

// UpdateClient saves every field of an existing client (lists as
// CreateClient checks them).
func (s *Store) UpdateClient(ctx context.Context, tenant uuid.UUID, c *identity.Client) error {
	row, err := newClientRow(c)
	if err != nil {
		return fmt.Errorf("update client %q: %w", c.ClientID, err)
	}
	return s.change(ctx, tenant, func(tx *gorm.DB) error {
		res := tx.Model(&clientRow{}).Where("client_id = ?", c.ClientID).Select("*").Omit("created_at").Updates(row)
		if res.Error != nil {
			return fmt.Errorf("update client %q: %w", c.ClientID, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("client %q: %w", c.ClientID, ErrNotFound)
		}
		return nil
	})
}

// DeleteClient removes a client, its consents and its outstanding grants.
func (s *Store) DeleteClient(ctx context.Context, tenant uuid.UUID, clientID string) error {
	err := s.change(ctx, tenant, func(tx *gorm.DB) error {
		res := tx.Where("client_id = ?", clientID).Delete(&clientRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		for _, m := range []any{&consentRow{}, &authCodeRow{}, &refreshTokenRow{}} {
			if err := tx.Where("client_id = ?", clientID).Delete(m).Error; err != nil {
				return err
			}
		}
		now := time.Now().UTC()
		return tx.Model(&accessTokenRow{}).Where("client_id = ? AND revoked_at IS NULL", clientID).Update("revoked_at", now).Error
	})
	if err != nil {
		return fmt.Errorf("delete client %q: %w", clientID, err)
	}
	if err := s.sys(ctx).Where("client_id = ? AND tenant_id = ?", clientID, tenant.String()).Delete(&clientIndex{}).Error; err != nil {
		return fmt.Errorf("delete client %q index: %w", clientID, err)
	}
	return nil
}

// ---- users ----

// CreateUser stores a new user; a taken username is ErrConflict, a role
// that is empty or holds whitespace ErrInvalid.
func (s *Store) CreateUser(ctx context.Context, tenant uuid.UUID, u *identity.User) error {
	row, err := newUserRow(u)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	return g.Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&userRow{}).Where("username = ?", u.Username).Count(&n).Error; err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("user %q: %w", u.Username, ErrConflict)
		}
		if err := tx.Create(row).Error; err != nil {
			return fmt.Errorf("create user %q: %w", u.Username, err)
		}
		u.CreatedAt, u.UpdatedAt = row.CreatedAt, row.UpdatedAt
		return nil
	})
}

// UserByUsername finds a user of tenant by username.
func (s *Store) UserByUsername(ctx context.Context, tenant uuid.UUID, username string) (*identity.User, error) {
	return s.findUser(ctx, tenant, "username = ?", username)
}

// User finds a user of tenant by id.
func (s *Store) User(ctx context.Context, tenant uuid.UUID, id uuid.UUID) (*identity.User, error) {
	return s.findUser(ctx, tenant, "id = ?", id)
}

func (s *Store) findUser(ctx context.Context, tenant uuid.UUID, cond string, arg any) (*identity.User, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var row userRow
	if err := g.Where(cond, arg).Take(&row).Error; err != nil {
		return nil, notFound(err, "user")
	}
	return row.domain(), nil
}

// Users lists the users of a tenant in id (creation) order.
func (s *Store) Users(ctx context.Context, tenant uuid.UUID) ([]*identity.User, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var rows []userRow
	if err := g.Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]*identity.User, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// UpdateUser saves every field of an existing user (roles as CreateUser
// checks them).
func (s *Store) UpdateUser(ctx context.Context, tenant uuid.UUID, u *identity.User) error {
	row, err := newUserRow(u)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	return s.change(ctx, tenant, func(tx *gorm.DB) error {
		res := tx.Model(&userRow{}).Where("id = ?", u.ID).Select("*").Omit("created_at").Updates(row)
		if res.Error != nil {
			return fmt.Errorf("update user %s: %w", u.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("user %s: %w", u.ID, ErrNotFound)
		}
		return nil
	})
}

// DeleteUser removes a user with their consents, grants and sessions.
func (s *Store) DeleteUser(ctx context.Context, tenant uuid.UUID, id uuid.UUID) error {
	err := s.change(ctx, tenant, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&userRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		for _, m := range []any{&consentRow{}, &authCodeRow{}, &refreshTokenRow{}} {
			if err := tx.Where("user_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return tx.Model(&accessTokenRow{}).Where("subject = ? AND revoked_at IS NULL", id).Update("revoked_at", time.Now().UTC()).Error
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	if err := s.sys(ctx).Where("tenant_id = ? AND user_id = ?", tenant.String(), id).Delete(&sessionRow{}).Error; err != nil {
		return fmt.Errorf("delete user %s sessions: %w", id, err)
	}
	return nil
}

// RevokeUserGrants ends everything a user's old credentials produced, for a
// password change: browser sessions are deleted, unused codes removed, and
// refresh and access tokens revoked. Consents stay.
func (s *Store) RevokeUserGrants(ctx context.Context, tenant uuid.UUID, userID uuid.UUID, now time.Time) error {
	if _, err := s.tenant(ctx, tenant); err != nil {
		return err
	}
	now = now.UTC()
	if err := s.sys(ctx).Where("tenant_id = ? AND user_id = ?", tenant.String(), userID).Delete(&sessionRow{}).Error; err != nil {
		return fmt.Errorf("revoke user %s sessions: %w", userID, err)
	}
	// Refresh tokens are revoked twice for a grant in flight, as in
	// revokeFamily: the first pass waits for a rotation or redemption that
	// holds one of the user's rows, and the statements after it see the
	// tokens that grant committed.
	err := s.change(ctx, tenant, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ? AND used_at IS NULL", userID).Delete(&authCodeRow{}).Error; err != nil {
			return err
		}
		for _, step := range []struct {
			model any
			owner string // the column naming the user
		}{{&refreshTokenRow{}, "user_id"}, {&accessTokenRow{}, "subject"}, {&refreshTokenRow{}, "user_id"}} {
			if err := tx.Model(step.model).Where(step.owner+" = ? AND revoked_at IS NULL", userID).Update("revoked_at", now).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke user %s grants: %w", userID, err)
	}
	return nil
}

// ---- consents ----

// HasConsent reports whether user approved client for exactly scopeKey.
func (s *Store) HasConsent(ctx context.Context, tenant uuid.UUID, userID uuid.UUID, clientID, scopeKey string) (bool, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return false, err
	}
	var n int64
	if err := g.Model(&consentRow{}).Where("user_id = ? AND client_id = ? AND scope_key = ?", userID, clientID, scopeKey).Count(&n).Error; err != nil {
		return false, fmt.Errorf("check consent: %w", err)
	}
	return n > 0, nil
}

// SaveConsent remembers a consent (idempotent).
func (s *Store) SaveConsent(ctx context.Context, tenant uuid.UUID, c *identity.Consent) error {
	ok, err := s.HasConsent(ctx, tenant, c.UserID, c.ClientID, c.ScopeKey)
	if err != nil || ok {
		return err
	}
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	if err := g.Create(&consentRow{UserID: c.UserID, ClientID: c.ClientID, ScopeKey: c.ScopeKey}).Error; err != nil {
		return fmt.Errorf("save consent: %w", err)
	}
	return nil
}

// ---- authorization codes ----

// SaveCode stores an issued code.
func (s *Store) SaveCode(ctx context.Context, tenant uuid.UUID, c *identity.AuthCode) error {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	if err := g.Create((*authCodeRow)(c)).Error; err != nil {
		return fmt.Errorf("save code: %w", err)
	}
	return nil
}

// ConsumeCode marks a code used and returns it. Of concurrent callers
// exactly one finds it unused; inside WithTx the code's row stays locked
// until the transaction ends, so a concurrent ConsumeCode waits: it wins if
// the transaction rolls back, and gets ErrAlreadyUsed if it commits. A code
// used before gives ErrAlreadyUsed, an unknown (or purged) one ErrNotFound.
func (s *Store) ConsumeCode(ctx context.Context, tenant uuid.UUID, hash string, now time.Time) (*identity.AuthCode, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	res := g.Model(&authCodeRow{}).Where("id_hash = ? AND used_at IS NULL", hash).Update("used_at", now.UTC())
	if res.Error != nil {
		return nil, fmt.Errorf("consume code: %w", res.Error)
	}
	var c authCodeRow
	if err := g.Where("id_hash = ?", hash).Take(&c).Error; err != nil {
		return nil, notFound(err, "code")
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("code: %w", ErrAlreadyUsed)
	}
	return c.domain(), nil
}

// RevokeCodeGrants revokes every token issued from a code, for a replay:
// its access tokens, and the refresh-token families it started with all
// their access tokens. It records when on the code.
//
// Called after ConsumeCode found the code used, in the same transaction, it
// also finds the tokens of a redemption that was still in flight: that
// ConsumeCode waited for the redemption's transaction to commit, and each
// statement here (READ COMMITTED on PostgreSQL; SQLite runs one transaction
// at a time) sees everything committed before it started.
func (s *Store) RevokeCodeGrants(ctx context.Context, tenant uuid.UUID, codeHash string, now time.Time) error {
	now = now.UTC()
	return s.change(ctx, tenant, func(g *gorm.DB) error {
		if err := g.Model(&authCodeRow{}).Where("id_hash = ? AND revoked_at IS NULL", codeHash).Update("revoked_at", now).Error; err != nil {
			return fmt.Errorf("revoke code grants: %w", err)
		}
		if err := g.Model(&accessTokenRow{}).Where("code_hash = ? AND revoked_at IS NULL", codeHash).Update("revoked_at", now).Error; err != nil {
			return fmt.Errorf("revoke code grants: %w", err)
		}
		var families []uuid.UUID
		if err := g.Model(&refreshTokenRow{}).Where("code_hash = ?", codeHash).Distinct().Pluck("family_id", &families).Error; err != nil {
			return fmt.Errorf("revoke code grants: %w", err)
		}
		for _, f := range families {
			if err := revokeFamily(g, f, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- refresh tokens ----

// SaveRefresh stores an issued refresh token.
func (s *Store) SaveRefresh(ctx context.Context, tenant uuid.UUID, r *identity.RefreshToken) error {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	if err := g.Create((*refreshTokenRow)(r)).Error; err != nil {
		return fmt.Errorf("save refresh token: %w", err)
	}
	return nil
}

// Refresh finds a refresh token by hash.
func (s *Store) Refresh(ctx context.Context, tenant uuid.UUID, hash string) (*identity.RefreshToken, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var r refreshTokenRow
	if err := g.Where("id_hash = ?", hash).Take(&r).Error; err != nil {
		return nil, notFound(err, "refresh token")
	}
	return r.domain(), nil
}

// errNeedsTx refuses a locking read outside WithTx, where the lock would
// end with the statement and protect nothing.
var errNeedsTx = errors.New("must run inside WithTx")

// RefreshForUpdate finds a refresh token by hash and locks it until the
// transaction of WithTx, which it must run in, ends: a concurrent
// RefreshForUpdate of the same token waits, then reads what this
// transaction committed. ErrNotFound when there is no such token.
func (s *Store) RefreshForUpdate(ctx context.Context, tenant uuid.UUID, hash string) (*identity.RefreshToken, error) {
	if s.txOf(ctx) == nil {
		return nil, fmt.Errorf("lock refresh token: %w", errNeedsTx)
	}
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var r refreshTokenRow
	// SQLite ignores the locking clause: its transactions hold the write
	// lock from BEGIN IMMEDIATE, so they never interleave.
	if err := g.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id_hash = ?", hash).Take(&r).Error; err != nil {
		return nil, notFound(err, "refresh token")
	}
	return r.domain(), nil
}

// ConsumeRefresh marks a live refresh token used; of concurrent callers
// exactly one succeeds. A token already used or revoked gives
// ErrAlreadyUsed, as does one that does not exist.
func (s *Store) ConsumeRefresh(ctx context.Context, tenant uuid.UUID, hash string, now time.Time) error {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	res := g.Model(&refreshTokenRow{}).Where("id_hash = ? AND used_at IS NULL AND revoked_at IS NULL", hash).Update("used_at", now.UTC())
	if res.Error != nil {
		return fmt.Errorf("consume refresh token: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("refresh token: %w", ErrAlreadyUsed)
	}
	return nil
}

// RevokeFamily revokes every refresh token of a family and every access token
// issued from it.
func (s *Store) RevokeFamily(ctx context.Context, tenant uuid.UUID, familyID uuid.UUID, now time.Time) error {
	return s.change(ctx, tenant, func(tx *gorm.DB) error { return revokeFamily(tx, familyID, now.UTC()) })
}

// revokeFamily also catches a rotation of the family in flight, whose new
// tokens are not committed yet. Its first statement reaches the token the
// rotation locked (RefreshForUpdate) and waits until the rotation commits;
// the next two statements start after that commit, so they see, and
// revoke, the new access and refresh tokens. A rotation that locks its
// token after the first statement finds it revoked and refuses.
func revokeFamily(g *gorm.DB, familyID uuid.UUID, now time.Time) error {
	if familyID == uuid.Nil {
		// Tokens outside any family (client_credentials) have an empty
		// family_id: never match them all.
		return nil
	}
	for _, m := range []any{&refreshTokenRow{}, &accessTokenRow{}, &refreshTokenRow{}} {
		if err := g.Model(m).Where("family_id = ? AND revoked_at IS NULL", familyID).Update("revoked_at", now).Error; err != nil {
			return fmt.Errorf("revoke family %s: %w", familyID, err)
		}
	}
	return nil
}

// ---- access tokens ----

// SaveAccess records an issued access token.
func (s *Store) SaveAccess(ctx context.Context, tenant uuid.UUID, a *identity.AccessToken) error {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return err
	}
	created := a.CreatedAt
	if created.IsZero() {
		created = time.Now().UTC()
	}
	// Every client_credentials grant runs this: one INSERT written out,
	// rather than gorm's Create, which reflects over the row on each call
	// (and would wrap the statement in BEGIN and COMMIT of its own; one
	// INSERT is atomic by itself, and inside WithTx the grant's
	// transaction holds it anyway).
	err = g.Exec(insertAccess, a.JTI, a.ClientID, a.Subject, familyColumn(a.FamilyID), a.CodeHash, a.ExpiresAt, a.RevokedAt, created).Error
	if err != nil {
		return fmt.Errorf("save access token: %w", err)
	}
	a.CreatedAt = created
	return nil
}

// insertAccess is the INSERT of SaveAccess: every column of accessTokenRow.
const insertAccess = `INSERT INTO "access_tokens" ("jti", "client_id", "subject", "family_id", "code_hash", "expires_at", "revoked_at", "created_at") ` +
	`VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// Access finds an issued access token by jti.
func (s *Store) Access(ctx context.Context, tenant uuid.UUID, jti string) (*identity.AccessToken, error) {
	g, err := s.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var a accessTokenRow
	if err := g.Where("jti = ?", jti).Take(&a).Error; err != nil {
		return nil, notFound(err, "access token")
	}
	return a.domain()
}

// RevokeAccess revokes one access token by jti (idempotent).
func (s *Store) RevokeAccess(ctx context.Context, tenant uuid.UUID, jti string, now time.Time) error {
	return s.change(ctx, tenant, func(tx *gorm.DB) error {
		if err := tx.Model(&accessTokenRow{}).Where("jti = ? AND revoked_at IS NULL", jti).Update("revoked_at", now.UTC()).Error; err != nil {
			return fmt.Errorf("revoke access token: %w", err)
		}
		return nil
	})
}

// ---- system: sessions, authorization requests, signing keys ----

// SaveSession stores a login session.
func (s *Store) SaveSession(ctx context.Context, sess *identity.Session) error {
	if err := s.sys(ctx).Create((*sessionRow)(sess)).Error; err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// Session finds a session by the hash of its cookie value.
func (s *Store) Session(ctx context.Context, hash string) (*identity.Session, error) {
	var sess sessionRow
	if err := s.sys(ctx).Where("id_hash = ?", hash).Take(&sess).Error; err != nil {
		return nil, notFound(err, "session")
	}
	return sess.domain(), nil
}

// DeleteSession ends a session (idempotent).
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if err := s.sys(ctx).Where("id_hash = ?", hash).Delete(&sessionRow{}).Error; err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// SaveAuthRequest stores a pending authorization request.
func (s *Store) SaveAuthRequest(ctx context.Context, r *identity.AuthRequest) error {
	if err := s.sys(ctx).Create((*authRequestRow)(r)).Error; err != nil {
		return fmt.Errorf("save authorization request: %w", err)
	}
	return nil
}

// AuthRequest finds a pending authorization request by the hash of its handle.
func (s *Store) AuthRequest(ctx context.Context, hash string) (*identity.AuthRequest, error) {
	var r authRequestRow
	if err := s.sys(ctx).Where("id_hash = ?", hash).Take(&r).Error; err != nil {
		return nil, notFound(err, "authorization request")
	}
	return r.domain(), nil
}

// DeleteAuthRequest removes a finished authorization request; false when it
// was already gone (so a request completes at most once).
func (s *Store) DeleteAuthRequest(ctx context.Context, hash string) (bool, error) {
	res := s.sys(ctx).Where("id_hash = ?", hash).Delete(&authRequestRow{})
	if res.Error != nil {
		return false, fmt.Errorf("delete authorization request: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// StoreSecretOnce stores candidate, a wrapped secret, under name unless a
// secret is stored there already, and returns the stored one. Every caller,
// in every process on the database, gets the same bytes: the first insert
// wins and the others read it back.
func (s *Store) StoreSecretOnce(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	row := wrappedSecret{Name: name, Wrapped: candidate, CreatedAt: time.Now().UTC()}
	if err := s.sys(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, fmt.Errorf("store secret %s: %w", name, err)
	}
	var stored wrappedSecret
	if err := s.sys(ctx).Where("name = ?", name).Take(&stored).Error; err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return stored.Wrapped, nil
}

// SigningKeys lists every stored signing key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]identity.SigningKey, error) {
	var rows []signingKeyRow
	if err := s.sys(ctx).Order("signs_from, kid").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	out := make([]identity.SigningKey, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// SaveSigningKey stores k unless the newest stored key (the last in the
// order of SigningKeys) is no longer the one named after ("" for none): see
// tokens.KeyStore. The check and the insert run under a lock of the
// service's namespace, so replicas adding a key at the same moment run one
// after the other and the second finds the first's key.
func (s *Store) SaveSigningKey(ctx context.Context, k *identity.SigningKey, after string) (bool, error) {
	saved := false
	err := s.sys(ctx).Transaction(func(tx *gorm.DB) error {
		if err := db.LockTx(tx, "passthru/signing-keys/", ""); err != nil {
			return err
		}
		var newest []signingKeyRow
		if err := tx.Select("kid").Order("signs_from DESC, kid DESC").Limit(1).Find(&newest).Error; err != nil {
			return err
		}
		if len(newest) == 0 && after != "" || len(newest) == 1 && newest[0].KID != after {
			return nil
		}
		saved = true
		return tx.Create((*signingKeyRow)(k)).Error
	})
	if err != nil {
		return false, fmt.Errorf("save signing key: %w", err)
	}
	return saved, nil
}

// DeleteSigningKey removes a key that no longer verifies anything.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	if err := s.sys(ctx).Where("kid = ?", kid).Delete(&signingKeyRow{}).Error; err != nil {
		return fmt.Errorf("delete signing key: %w", err)
	}
	return nil
}

// PurgeExpired deletes what can no longer be used: sessions and pending
// authorization requests past their expiry, and in every tenant access-token
// records and refresh tokens past theirs. Used codes are kept for keep after
// their expiry, so a late replay still revokes what the code produced.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, keep time.Duration) error {
	now = now.UTC()
	for _, m := range []any{&sessionRow{}, &authRequestRow{}} {
		if err := s.sys(ctx).Where("expires_at < ?", now).Delete(m).Error; err != nil {
			return fmt.Errorf("purge expired: %w", err)
		}
	}
	tenants, err := s.Tenants(ctx, false)
	if err != nil {
		return err
	}
	for _, t := range tenants {
		id := t.ID
		g, err := s.tenant(ctx, id)
		if err != nil {
			return err
		}
		err = g.Transaction(func(tx *gorm.DB) error {
			if err := tx.Where("expires_at < ?", now).Delete(&accessTokenRow{}).Error; err != nil {
				return err
			}
			if err := tx.Where("expires_at < ?", now).Delete(&refreshTokenRow{}).Error; err != nil {
				return err
			}
			return tx.Where("expires_at < ?", now.Add(-keep)).Delete(&authCodeRow{}).Error
		})
		if err != nil {
			return fmt.Errorf("purge expired in tenant %s: %w", id, err)
		}
	}
	return nil
}
