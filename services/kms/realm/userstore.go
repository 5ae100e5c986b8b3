package realm

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/kms"
)

// realmUserRow is a database realm user. Unique on (realm, username): a
// username identifies one user of a realm across all tenants, because a
// Basic credential carries no tenant.
type realmUserRow struct {
	ID           string `gorm:"primaryKey;size:36"`
	Realm        string `gorm:"size:128;not null;uniqueIndex:ux_kms_realm_users_realm_username,priority:1"`
	Username     string `gorm:"size:128;not null;uniqueIndex:ux_kms_realm_users_realm_username,priority:2"`
	PasswordHash string `gorm:"not null"`
	Roles        string `gorm:"not null"` // JSON array of role names
	TenantID     string `gorm:"size:36;not null;index"`
	Enabled      bool   `gorm:"not null"`
	Email        string `gorm:"not null;default:''"`
	DisplayName  string `gorm:"not null;default:''"`
	Metadata     string `gorm:"not null;default:''"` // JSON object or ""
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (realmUserRow) TableName() string { return "kms_realm_users" }

// migrationFiles hold the versioned schema of kms_realm_users, one
// directory per dialect (see db.SQLMigrations). A change to realmUserRow
// needs a new migration there; the schema test compares the two.
//
//go:embed migrations
var migrationFiles embed.FS

var userMigrations = db.MustSQLMigrations(migrationFiles, "migrations/realm_users")

// migrationSet is the name schema_migrations records the versions of
// kms_realm_users under. It predates this package (the table was once kept
// by the shared authn package) and must never change: a database migrated
// under the old name would otherwise run version 1 again on an existing table.
const migrationSet = "authn-realm-users"

// UserStoreOptions configures a UserStore.
type UserStoreOptions struct {
	Hasher password.Hasher
	Roles  *Roles
	Now    func() time.Time
	// Reserved reports usernames that other (file) realms hold; Create
	// refuses them. nil reserves nothing.
	Reserved func(username string) bool
	// TenantName returns the name of a tenant. A username with an "@"
	// must end in "@" and the name of the tenant it is created in: an
	// administrator may not take names that read as another tenant's (they
	// would block that tenant from them, and the conflict it then got would
	// tell it about this tenant's users). nil refuses usernames with "@".
	TenantName func(ctx context.Context, tenant uuid.UUID) (string, error)
}

// UserStore keeps database realm users in table kms_realm_users of the
// system database. Every read and write of one user is scoped to a tenant:
// a caller sees and changes only the users of its own tenant.
//
// Whoever remembers users (the Basic authenticator's cache of verified
// credentials) registers with the store, which tells it after every change
// to a user, so that the change takes effect at once in this process.
type UserStore struct {
	g    *gorm.DB
	opts UserStoreOptions

	mu       sync.Mutex
	watchers []userWatcher
}

// userWatcher remembers users; the store tells it which changed.
type userWatcher interface {
	Forget(username string)
	ForgetAll()
}

// watch registers w to be told about every later change to a user.
func (s *UserStore) watch(w userWatcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, w)
}

// changed tells the watchers, after the change committed, that username
// ("" for any user) changed. After the commit, not before: a request that
// read the old row meanwhile is then kept from caching it (see
// credential.AccountCache.Forget), and one reading later sees the new row.
func (s *UserStore) changed(username string) {
	s.mu.Lock()
	watchers := slices.Clone(s.watchers)
	s.mu.Unlock()
	for _, w := range watchers {
		if username == "" {
			w.ForgetAll()
		} else {
			w.Forget(username)
		}
	}
}

// NewUserStore migrates the table in g and returns the store.
func NewUserStore(ctx context.Context, g *gorm.DB, opts UserStoreOptions) (*UserStore, error) {
	if opts.Roles == nil {
		return nil, errors.New("user store: roles required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := db.Migrate(ctx, g, migrationSet, userMigrations); err != nil {
		return nil, fmt.Errorf("migrate realm users: %w", err)
	}
	return &UserStore{g: g, opts: opts}, nil
}

// NewUser is what Create needs.
type NewUser struct {
	Realm       string
	Username    string
	Password    string
	Roles       []string
	TenantID    uuid.UUID
	Enabled     bool
	Email       string
	DisplayName string
	Metadata    json.RawMessage
}

// UserPatch changes the non-nil fields of a user.
type UserPatch struct {
	Roles       *[]string
	Enabled     *bool
	Email       *string
	DisplayName *string
	Metadata    *json.RawMessage
}

func validateProfile(email, displayName string, meta json.RawMessage) error {
	if len(email) > 320 || !kms.ValidText(email) {
		return fmt.Errorf("%w: email must be valid UTF-8 of at most 320 bytes", ErrInvalidUser)
	}
	if len(displayName) > 255 || !kms.ValidText(displayName) {
		return fmt.Errorf("%w: display name must be valid UTF-8 of at most 255 bytes", ErrInvalidUser)
	}
	if len(meta) > 0 {
		// Size first: an oversized document is refused without parsing it.
		if len(meta) > 16<<10 {
			return fmt.Errorf("%w: metadata must be at most 16 KiB", ErrInvalidUser)
		}
		var obj map[string]any
		if err := json.Unmarshal(meta, &obj); err != nil || obj == nil {
			return fmt.Errorf("%w: metadata must be a JSON object", ErrInvalidUser)
		}
	}
	return nil
}

// ValidatePassword accepts passwords of 8..1024 bytes of valid UTF-8
// without control characters (which no one could present: see
// credential.ValidateSecret).
func ValidatePassword(p string) error {
	if len(p) < 8 || len(p) > 1024 || !kms.ValidText(p) || credential.ValidateSecret(p) != nil {
		return fmt.Errorf("%w: password must be 8 to 1024 bytes of valid UTF-8 without control characters", ErrInvalidUser)
	}
	return nil
}

// Create stores a new user with a hashed password. ErrUserExists when any
// realm already has the username (see Reserved); ErrInvalidUser for bad
// fields, and for an "@tenant" part that is not the tenant's name (see
// UserStoreOptions.TenantName).
func (s *UserStore) Create(ctx context.Context, nu NewUser) (*User, error) {
	if nu.Realm == "" {
		return nil, fmt.Errorf("%w: realm required", ErrInvalidUser)
	}
	if err := ValidateUsername(nu.Username); err != nil {
		return nil, err
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return nil, err
	}
	if err := s.opts.Roles.Check(nu.Roles); err != nil {
		return nil, err
	}
	if nu.TenantID == uuid.Nil {
		return nil, fmt.Errorf("%w: tenant required", ErrInvalidUser)
	}
	if err := validateProfile(nu.Email, nu.DisplayName, nu.Metadata); err != nil {
		return nil, err
	}
	if err := s.checkTenantSuffix(ctx, nu.TenantID, nu.Username); err != nil {
		return nil, err
	}
	// A username is unique across every realm, not only its own: Basic
	// credentials carry no realm or tenant, and the first realm that knows a
	// username decides. A same-named user in an earlier realm would shadow
	// (lock out) the real one, possibly another tenant's. Checked before the
	// PBKDF2 hash, which a refused request need not pay for.
	if s.opts.Reserved != nil && s.opts.Reserved(nu.Username) {
		return nil, fmt.Errorf("create user %q in realm %s: %w", nu.Username, nu.Realm, ErrUserExists)
	}
	hash, err := s.opts.Hasher.Hash(nu.Password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	roles, _ := json.Marshal(nonNil(nu.Roles))
	now := s.opts.Now().UTC()
	row := realmUserRow{
		ID: ids.NewEntity().String(), Realm: nu.Realm, Username: nu.Username, PasswordHash: hash,
		Roles: string(roles), TenantID: nu.TenantID.String(), Enabled: nu.Enabled, Email: nu.Email,
		DisplayName: nu.DisplayName, Metadata: string(nu.Metadata), CreatedAt: now, UpdatedAt: now,
	}
	err = s.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&realmUserRow{}).Where("username = ?", nu.Username).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUserExists
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		if errors.Is(err, ErrUserExists) {
			return nil, fmt.Errorf("create user %q in realm %s: %w", nu.Username, nu.Realm, err)
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return row.user()
}

// checkTenantSuffix refuses a username whose "@tenant" part (after the
// last "@") is not the name of tenant. Checked before any lookup of the
// name, so the refusal is the same whether or not another tenant has it.
func (s *UserStore) checkTenantSuffix(ctx context.Context, tenant uuid.UUID, username string) error {
	i := strings.LastIndexByte(username, '@')
	if i < 0 {
		return nil
	}
	if s.opts.TenantName == nil {
		return fmt.Errorf("%w: username: no \"@tenant\" part is accepted here", ErrInvalidUser)
	}
	name, err := s.opts.TenantName(ctx, tenant)
	if err != nil {
		return fmt.Errorf("create user: tenant %s: %w", tenant, err)
	}
	if name == "" || username[i+1:] != name {
		return fmt.Errorf("%w: username: the part after \"@\" must be the tenant's name %q", ErrInvalidUser, name)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (r *realmUserRow) user() (*User, error) {
	id, err := uuid.Parse(r.ID)
	if err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", r.ID, err)
	}
	tenant, err := uuid.Parse(r.TenantID)
	if err != nil {
		return nil, fmt.Errorf("stored tenant id %q: %w", r.TenantID, err)
	}
	var roles []string
	if err := json.Unmarshal([]byte(r.Roles), &roles); err != nil {
		return nil, fmt.Errorf("stored roles of %s: %w", r.ID, err)
	}
	u := &User{
		ID: id, Realm: r.Realm, Username: r.Username, PasswordHash: r.PasswordHash, Roles: roles,
		TenantID: tenant, Enabled: r.Enabled, Email: r.Email, DisplayName: r.DisplayName,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.Metadata != "" {
		u.Metadata = json.RawMessage(r.Metadata)
	}
	return u, nil
}

func (s *UserStore) row(ctx context.Context, tx *gorm.DB, tenant, id uuid.UUID) (*realmUserRow, error) {
	var row realmUserRow
	err := tx.WithContext(ctx).Where("id = ? AND tenant_id = ?", id.String(), tenant.String()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("user %s: %w", id, ErrUserNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	return &row, nil
}

// Get returns the user id of tenant, or ErrUserNotFound (also for another tenant's user).
func (s *UserStore) Get(ctx context.Context, tenant, id uuid.UUID) (*User, error) {
	row, err := s.row(ctx, s.g, tenant, id)
	if err != nil {
		return nil, err
	}
	return row.user()
}

// List returns up to limit users of tenant ordered by id, after the id
// after (uuid.Nil: from the start). UUIDv7 ids make this creation order.
func (s *UserStore) List(ctx context.Context, tenant uuid.UUID, after uuid.UUID, limit int) ([]*User, error) {
	q := s.g.WithContext(ctx).Where("tenant_id = ?", tenant.String())
	if after != uuid.Nil {
		q = q.Where("id > ?", after.String())
	}
	var rows []realmUserRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]*User, 0, len(rows))
	for i := range rows {
		u, err := rows[i].user()
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (s *UserStore) update(ctx context.Context, tenant, id uuid.UUID, change func(*realmUserRow) error) (*User, error) {
	var out *realmUserRow
	err := s.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, err := s.row(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if err := change(row); err != nil {
			return err
		}
		row.UpdatedAt = s.opts.Now().UTC()
		if err := tx.Save(row).Error; err != nil {
			return fmt.Errorf("save user %s: %w", id, err)
		}
		out = row
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(out.Username)
	return out.user()
}

// Update applies p.
func (s *UserStore) Update(ctx context.Context, tenant, id uuid.UUID, p UserPatch) (*User, error) {
	if p.Roles != nil {
		if err := s.opts.Roles.Check(*p.Roles); err != nil {
			return nil, err
		}
	}
	return s.update(ctx, tenant, id, func(row *realmUserRow) error {
		email, name, meta := row.Email, row.DisplayName, json.RawMessage(row.Metadata)
		if p.Email != nil {
			email = *p.Email
		}
		if p.DisplayName != nil {
			name = *p.DisplayName
		}
		if p.Metadata != nil {
			meta = *p.Metadata
		}
		if err := validateProfile(email, name, meta); err != nil {
			return err
		}
		row.Email, row.DisplayName, row.Metadata = email, name, string(meta)
		if p.Roles != nil {
			roles, _ := json.Marshal(nonNil(*p.Roles))
			row.Roles = string(roles)
		}
		if p.Enabled != nil {
			row.Enabled = *p.Enabled
		}
		return nil
	})
}

// Disable disables the user. Its credentials stop working at once in this
// process, and in others within Basic's freshness interval.
func (s *UserStore) Disable(ctx context.Context, tenant, id uuid.UUID) (*User, error) {
	f := false
	return s.Update(ctx, tenant, id, UserPatch{Enabled: &f})
}

// ChangePassword sets a new password. The old one stops working at once in
// this process, and in others within Basic's freshness interval: a cached
// credential is bound to the stored hash it was verified against.
func (s *UserStore) ChangePassword(ctx context.Context, tenant, id uuid.UUID, plain string) (*User, error) {
	if err := ValidatePassword(plain); err != nil {
		return nil, err
	}
	hash, err := s.opts.Hasher.Hash(plain)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return s.update(ctx, tenant, id, func(row *realmUserRow) error {
		row.PasswordHash = hash
		return nil
	})
}

// Delete removes the user. Its credentials stop working at once in this
// process, and in others within Basic's freshness interval.
func (s *UserStore) Delete(ctx context.Context, tenant, id uuid.UUID) error {
	var username string
	err := s.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, err := s.row(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if err := tx.Delete(&realmUserRow{}, "id = ?", row.ID).Error; err != nil {
			return fmt.Errorf("delete user %s: %w", id, err)
		}
		username = row.Username
		return nil
	})
	if err != nil {
		return err
	}
	s.changed(username)
	return nil
}

// DeleteTenant removes every user of tenant (all realms). Being rare, it
// ends every remembered user rather than reading the names first.
func (s *UserStore) DeleteTenant(ctx context.Context, tenant uuid.UUID) error {
	if err := s.g.WithContext(ctx).Where("tenant_id = ?", tenant.String()).Delete(&realmUserRow{}).Error; err != nil {
		return fmt.Errorf("delete users of tenant %s: %w", tenant, err)
	}
	s.changed("")
	return nil
}

// Realm returns the database realm called name, backed by this store.
func (s *UserStore) Realm(name string) Realm { return &dbRealm{s: s, name: name} }

type dbRealm struct {
	s    *UserStore
	name string
}

func (r *dbRealm) Name() string { return r.name }

func (r *dbRealm) Lookup(ctx context.Context, username string) (*User, error) {
	var row realmUserRow
	err := r.s.g.WithContext(ctx).Where("realm = ? AND username = ?", r.name, username).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up user: %w", err)
	}
	return row.user()
}
