// Package sqlstore is the KMS's kms.KeyStore on gorm, for SQLite and
// PostgreSQL. Tenants are registered in the system database; each tenant's
// keys, versions and audit events live in the tenant's own database (a file
// on SQLite, a schema on PostgreSQL), migrated on first use. Rows stay in
// this package: callers see only kms types.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/kms"
)

var _ kms.KeyStore = (*Store)(nil)

// Store implements kms.KeyStore. It is safe for concurrent use.
type Store struct {
	db      *db.DB
	tenants *db.TenantMigrator // tenant handles, migrated on first use
}

// New migrates the system tables of d and returns the store.
func New(ctx context.Context, d *db.DB) (*Store, error) {
	if d == nil {
		return nil, errors.New("sqlstore: a database is required")
	}
	if err := db.Migrate(ctx, d.Gorm(), "kms-system", systemMigrations); err != nil {
		return nil, fmt.Errorf("migrate kms system tables: %w", err)
	}
	return &Store{db: d, tenants: db.NewTenantMigrator(d, "kms-tenant", tenantMigrations)}, nil
}

// CreateTenant implements kms.TenantStore.
func (s *Store) CreateTenant(ctx context.Context, t *kms.Tenant) error {
	row := tenantRow{ID: t.ID.String(), Name: t.Name, Demo: t.Demo, CreatedAt: t.CreatedAt.UTC()}
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&tenantRow{}).Where("name = ? OR id = ?", row.Name, row.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return kms.New(kms.NameTaken, "tenant %q already exists", row.Name)
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		if kms.CodeOf(err) != kms.Internal {
			return err
		}
		return fmt.Errorf("register tenant %s: %w", t.ID, err)
	}
	if err := s.db.CreateTenant(ctx, t.ID); err != nil {
		return fmt.Errorf("create tenant database %s: %w", t.ID, err)
	}
	_, err = s.tenantDB(ctx, t.ID)
	return err
}

// Tenant implements kms.TenantStore.
func (s *Store) Tenant(ctx context.Context, id uuid.UUID) (*kms.Tenant, error) {
	var row tenantRow
	err := s.db.Gorm().WithContext(ctx).Where("id = ?", id.String()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "tenant not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return row.domain(), nil
}

// Tenants implements kms.TenantStore.
func (s *Store) Tenants(ctx context.Context) ([]*kms.Tenant, error) {
	var rows []tenantRow
	if err := s.db.Gorm().WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]*kms.Tenant, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].domain())
	}
	return out, nil
}

// DeleteTenant implements kms.TenantStore.
func (s *Store) DeleteTenant(ctx context.Context, id uuid.UUID) error {
	s.tenants.Forget(id)
	// The tenant's API keys go first: a key must never outlive its tenant.
	if err := s.deleteTenantAPIKeys(ctx, id); err != nil {
		return err
	}
	if err := s.db.DropTenant(ctx, id); err != nil && !errors.Is(err, db.ErrUnknownTenant) {
		return fmt.Errorf("drop tenant database %s: %w", id, err)
	}
	if err := s.db.Gorm().WithContext(ctx).Delete(&tenantRow{}, "id = ?", id.String()).Error; err != nil {
		return fmt.Errorf("unregister tenant %s: %w", id, err)
	}
	return nil
}

// tenantDB returns the tenant's database, migrated. An unknown tenant is not_found.
func (s *Store) tenantDB(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	g, err := s.tenants.Tenant(ctx, tenant)
	if errors.Is(err, db.ErrUnknownTenant) {
		return nil, kms.Wrap(err, kms.NotFound, "tenant not registered")
	}
	return g, err
}

// AppendAudit implements kms.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, tenant uuid.UUID, events ...*kms.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if e.TenantID != tenant {
			return kms.New(kms.InvalidRequest, "audit event %s belongs to another tenant", e.ID)
		}
	}
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return err
	}
	if len(events) <= kms.MaxAuditBatch {
		// One multi-row INSERT is atomic by itself: no BEGIN and COMMIT
		// around it, two more round trips on the path every request takes.
		err = insertAudit(g, events)
	} else {
		err = g.Transaction(func(tx *gorm.DB) error {
			for chunk := range slices.Chunk(events, kms.MaxAuditBatch) {
				if err := insertAudit(tx, chunk); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("write %d audit events: %w", len(events), err)
	}
	return nil
}

// insertAudit writes events with one INSERT, written out rather than
// through gorm's Create: every KMS request runs it, and Create reflects over
// the rows on each call.
func insertAudit(g *gorm.DB, events []*kms.AuditEvent) error {
	args := make([]any, 0, len(events)*auditColumnCount)
	for _, e := range events {
		r := auditRowOf(e)
		args = append(args, r.ID, r.Time, r.Principal, r.Realm, r.Method, r.ClientID, r.ElasticKeyID,
			r.MaterialKeyID, r.Operation, r.Outcome, r.ErrorCode, r.RequestID, r.Target)
	}
	return g.Exec(auditInsert(len(events)), args...).Error
}

// The INSERT of insertAudit: every column of auditEventRow, in the order
// insertAudit gives the values.
const (
	auditInsertHead  = `INSERT INTO "kms_audit_events" ("id", "time", "principal", "realm", "method", "client_id", "elastic_key_id", "material_key_id", "operation", "outcome", "error_code", "request_id", "target") VALUES `
	auditValues      = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	auditColumnCount = 13
	// auditInsertOne is the statement of a lone request, the common case:
	// the same text every time, so it is prepared once per connection.
	auditInsertOne = auditInsertHead + auditValues
)

// auditInsert is the INSERT of n rows.
func auditInsert(n int) string {
	if n == 1 {
		return auditInsertOne
	}
	var b strings.Builder
	b.Grow(len(auditInsertHead) + n*(len(auditValues)+2))
	b.WriteString(auditInsertHead)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(auditValues)
	}
	return b.String()
}

// KeyGeneration implements kms.KeyStore.
func (s *Store) KeyGeneration(ctx context.Context, tenant uuid.UUID) (int64, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return 0, err
	}
	var row keyGenerationRow
	if err := g.Take(&row, "id = ?", keyGenerationID).Error; err != nil {
		return 0, fmt.Errorf("read key generation: %w", err)
	}
	return row.Generation, nil
}

// keyGenerationID is the id of the one row of kms_key_generation, created
// by its migration.
const keyGenerationID = 1

// bumpGeneration increases the tenant's key generation inside tx, the
// transaction of a key change, and notifies the other replicas of the
// change at its commit (WatchKeyChanges). It runs last in that
// transaction: on PostgreSQL the row stays locked until the commit, so it
// should be held for as short a time as possible.
func (s *Store) bumpGeneration(tx *gorm.DB, tenant uuid.UUID) error {
	res := tx.Model(&keyGenerationRow{}).Where("id = ?", keyGenerationID).
		Update("generation", gorm.Expr("generation + 1"))
	if res.Error != nil {
		return fmt.Errorf("bump key generation: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return errors.New("bump key generation: the counter row is missing")
	}
	return s.db.Notify(tx, keyChanges, tenant.String())
}

// keyChanges is the notification channel of key changes; the payload is
// the tenant id.
const keyChanges = "key-changes"

// WatchKeyChanges calls fn with the tenant of each key change that any
// replica on the database commits, until ctx ends, so that caches need not
// wait for their next read of the generation to see it; fn(uuid.Nil) means
// that changes may have been missed (any tenant's keys may have changed).
// Notifications are a hint (see db.Listen): KeyGeneration stays the
// authority. On SQLite, whose database one process owns, it returns at
// once.
func (s *Store) WatchKeyChanges(ctx context.Context, fn func(tenant uuid.UUID)) {
	s.db.Listen(ctx, keyChanges, func(payload string) {
		tenant, err := uuid.Parse(payload)
		if err != nil {
			tenant = uuid.Nil // "" after a reconnect, or a payload of another version: everything
		}
		fn(tenant)
	})
}

// AuditEvents implements kms.AuditLog.
func (s *Store) AuditEvents(ctx context.Context, tenant uuid.UUID, keyID *uuid.UUID, page kms.Page) ([]*kms.AuditEvent, uuid.UUID, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, uuid.Nil, err
	}
	q := g.Model(&auditEventRow{})
	if keyID != nil {
		q = q.Where("elastic_key_id = ?", keyID.String())
	}
	if page.After != uuid.Nil {
		q = q.Where("id > ?", page.After.String())
	}
	var rows []auditEventRow
	if err := q.Order("id").Limit(page.Size + 1).Find(&rows).Error; err != nil {
		return nil, uuid.Nil, fmt.Errorf("list audit events: %w", err)
	}
	rows, next := cut(rows, page.Size, func(r *auditEventRow) string { return r.ID })
	out := make([]*kms.AuditEvent, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].domain(tenant))
	}
	return out, next, nil
}

// cut trims rows read with limit size+1 to size and returns the cursor of
// the next page: the id of the last row kept, uuid.Nil on the last page.
func cut[R any](rows []R, size int, id func(*R) string) ([]R, uuid.UUID) {
	if len(rows) <= size {
		return rows, uuid.Nil
	}
	rows = rows[:size]
	return rows, uuid.MustParse(id(&rows[len(rows)-1]))
}

// keys selects keys with their primary version, computed in the same
// statement so that reading a key costs one query.
func keys(g *gorm.DB) *gorm.DB {
	return g.Model(&elasticKeyRow{}).Select("kms_elastic_keys.*, (SELECT COALESCE(MAX(p.version), 0) FROM kms_material_keys p "+
		"WHERE p.elastic_key_id = kms_elastic_keys.id AND p.status = ?) AS primary_version", string(kms.StatusEnabled))
}

// versions selects versions with their key's primary version.
func versions(g *gorm.DB) *gorm.DB {
	return g.Model(&materialKeyRow{}).Select("kms_material_keys.*, (SELECT COALESCE(MAX(p.version), 0) FROM kms_material_keys p "+
		"WHERE p.elastic_key_id = kms_material_keys.elastic_key_id AND p.status = ?) AS primary_version", string(kms.StatusEnabled))
}

// key reads key id from g (a tenant database or a transaction on it).
func key(g *gorm.DB, id uuid.UUID) (*keyView, error) {
	var v keyView
	err := keys(g).Where("id = ?", id.String()).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "elastic key %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	return &v, nil
}

// lockedKey reads the key inside tx and holds its row lock until the
// transaction ends (SELECT ... FOR UPDATE on PostgreSQL; SQLite write
// transactions are IMMEDIATE and so already exclusive). Every change to a
// key or its versions takes this lock first; see kms.KeyStore.
func lockedKey(tx *gorm.DB, id uuid.UUID) (*keyView, error) {
	return key(tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}), id)
}

func version(g *gorm.DB, keyID, id uuid.UUID) (*versionView, error) {
	var v versionView
	err := versions(g).Where("id = ? AND elastic_key_id = ?", id.String(), keyID.String()).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "material key %s of key %s not found", id, keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("get version %s: %w", id, err)
	}
	return &v, nil
}

// CreateKey implements kms.KeyStore.
func (s *Store) CreateKey(ctx context.Context, tenant uuid.UUID, k *kms.ElasticKey, v *kms.MaterialKey) error {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return err
	}
	return g.Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&elasticKeyRow{}).Where("name = ?", k.Name).Count(&n).Error; err != nil {
			return fmt.Errorf("check key name: %w", err)
		}
		if n > 0 {
			return kms.New(kms.NameTaken, "a key named %q already exists", k.Name)
		}
		if err := tx.Create(keyRowOf(k)).Error; err != nil {
			return fmt.Errorf("insert key: %w", err)
		}
		if err := tx.Create(versionRowOf(k.ID, v)).Error; err != nil {
			return fmt.Errorf("insert material key: %w", err)
		}
		return s.bumpGeneration(tx, tenant)
	})
}

// Key implements kms.KeyStore.
func (s *Store) Key(ctx context.Context, tenant, id uuid.UUID) (*kms.ElasticKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	v, err := key(g, id)
	if err != nil {
		return nil, err
	}
	return v.domain(tenant), nil
}

// Keys implements kms.KeyStore.
func (s *Store) Keys(ctx context.Context, tenant uuid.UUID, f kms.KeyFilter, page kms.Page) ([]*kms.ElasticKey, uuid.UUID, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, uuid.Nil, err
	}
	q := keys(g)
	if f.Algorithm != "" {
		q = q.Where("algorithm = ?", f.Algorithm)
	}
	if f.Purpose != "" {
		q = q.Where("purpose = ?", f.Purpose)
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.NamePrefix != "" {
		// Compared with substr rather than LIKE, so % and _ in a prefix are
		// literal on both SQLite and PostgreSQL.
		q = q.Where("substr(name, 1, ?) = ?", len([]rune(f.NamePrefix)), f.NamePrefix)
	}
	if page.After != uuid.Nil {
		q = q.Where("id > ?", page.After.String())
	}
	var rows []keyView
	if err := q.Order("id").Limit(page.Size + 1).Find(&rows).Error; err != nil {
		return nil, uuid.Nil, fmt.Errorf("list keys: %w", err)
	}
	rows, next := cut(rows, page.Size, func(r *keyView) string { return r.Key.ID })
	out := make([]*kms.ElasticKey, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].domain(tenant))
	}
	return out, next, nil
}

// UpdateKey implements kms.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, tenant, id uuid.UUID, update func(*kms.ElasticKey) error) (*kms.ElasticKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out *kms.ElasticKey
	err = g.Transaction(func(tx *gorm.DB) error {
		v, err := lockedKey(tx, id)
		if err != nil {
			return err
		}
		k := v.domain(tenant)
		if err := update(k); err != nil {
			return err
		}
		now := k.UpdatedAt.UTC()
		if k.Status == kms.StatusDestroyed {
			err = tx.Model(&materialKeyRow{}).Where("elastic_key_id = ?", v.Key.ID).
				Updates(map[string]any{"status": string(kms.StatusDestroyed), "wrapped": nil, "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("erase material of key %s: %w", id, err)
			}
		}
		err = tx.Model(&elasticKeyRow{}).Where("id = ?", v.Key.ID).
			Updates(map[string]any{"description": k.Description, "status": string(k.Status), "updated_at": now}).Error
		if err != nil {
			return fmt.Errorf("update key %s: %w", id, err)
		}
		if v, err = key(tx, id); err != nil {
			return err
		}
		out = v.domain(tenant)
		return s.bumpGeneration(tx, tenant)
	})
	return out, err
}

// AddVersion implements kms.KeyStore.
func (s *Store) AddVersion(ctx context.Context, tenant, keyID uuid.UUID, check func(*kms.ElasticKey) error, m *kms.MaterialKey) (*kms.MaterialKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out *kms.MaterialKey
	err = g.Transaction(func(tx *gorm.DB) error {
		v, err := lockedKey(tx, keyID)
		if err != nil {
			return err
		}
		if err := check(v.domain(tenant)); err != nil {
			return err
		}
		var maxV int
		if err := tx.Model(&materialKeyRow{}).Select("COALESCE(MAX(version), 0)").Where("elastic_key_id = ?", v.Key.ID).Scan(&maxV).Error; err != nil {
			return fmt.Errorf("latest version of %s: %w", keyID, err)
		}
		row := versionRowOf(keyID, m)
		row.Version = maxV + 1
		if err := tx.Create(row).Error; err != nil {
			return fmt.Errorf("insert version %d of %s: %w", row.Version, keyID, err)
		}
		primary := v.PrimaryVersion
		if kms.Status(row.Status) == kms.StatusEnabled {
			primary = row.Version
		}
		out = (&versionView{Version: *row, PrimaryVersion: primary}).domain()
		return s.bumpGeneration(tx, tenant)
	})
	return out, err
}

// Version implements kms.KeyStore.
func (s *Store) Version(ctx context.Context, tenant, keyID, id uuid.UUID) (*kms.MaterialKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	v, err := version(g, keyID, id)
	if err != nil {
		return nil, err
	}
	return v.domain(), nil
}

// keyWithPrimarySQL reads a key and its primary version (NULL columns
// when none is enabled) in one statement.
const keyWithPrimarySQL = `SELECT k.*, m.id AS m_id, m.version AS m_version, m.status AS m_status,
	m.public_jwk AS m_public_jwk, m.wrapped AS m_wrapped, m.created_at AS m_created_at, m.updated_at AS m_updated_at
FROM kms_elastic_keys k LEFT JOIN kms_material_keys m ON m.elastic_key_id = k.id AND m.version =
	(SELECT MAX(p.version) FROM kms_material_keys p WHERE p.elastic_key_id = k.id AND p.status = ?)
WHERE k.id = ?`

// keyWithPrimaryView is a row of keyWithPrimarySQL; the version's columns
// are pointers because the join leaves them NULL without an enabled version.
type keyWithPrimaryView struct {
	Key        elasticKeyRow `gorm:"embedded"`
	MID        *string       `gorm:"column:m_id"`
	MVersion   *int          `gorm:"column:m_version"`
	MStatus    *string       `gorm:"column:m_status"`
	MPublicJWK *string       `gorm:"column:m_public_jwk"`
	MWrapped   []byte        `gorm:"column:m_wrapped"`
	MCreatedAt *time.Time    `gorm:"column:m_created_at"`
	MUpdatedAt *time.Time    `gorm:"column:m_updated_at"`
}

// KeyWithPrimary implements kms.KeyStore.
func (s *Store) KeyWithPrimary(ctx context.Context, tenant, keyID uuid.UUID) (*kms.ElasticKey, *kms.MaterialKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	// Scanned into one struct, not a slice: on this path a slice's backing
	// array is the largest allocation of the request.
	r := &keyWithPrimaryView{}
	res := g.Raw(keyWithPrimarySQL, string(kms.StatusEnabled), keyID.String()).Scan(r)
	if res.Error != nil {
		return nil, nil, fmt.Errorf("get key %s with its primary version: %w", keyID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil, kms.New(kms.NotFound, "elastic key %s not found", keyID)
	}
	if r.MID == nil || r.MVersion == nil || r.MStatus == nil || r.MCreatedAt == nil || r.MUpdatedAt == nil {
		return (&keyView{Key: r.Key}).domain(tenant), nil, nil
	}
	v := versionView{PrimaryVersion: *r.MVersion, Version: materialKeyRow{
		ID: *r.MID, ElasticKeyID: r.Key.ID, Version: *r.MVersion, Status: *r.MStatus, Wrapped: r.MWrapped,
		CreatedAt: *r.MCreatedAt, UpdatedAt: *r.MUpdatedAt,
	}}
	if r.MPublicJWK != nil {
		v.Version.PublicJWK = *r.MPublicJWK
	}
	return (&keyView{Key: r.Key, PrimaryVersion: *r.MVersion}).domain(tenant), v.domain(), nil
}

// Versions implements kms.KeyStore.
func (s *Store) Versions(ctx context.Context, tenant, keyID uuid.UUID, page kms.Page) ([]*kms.MaterialKey, uuid.UUID, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, uuid.Nil, err
	}
	q := versions(g).Where("elastic_key_id = ?", keyID.String())
	if page.After != uuid.Nil {
		// Versions are ordered by number, not id: ids are generated before
		// the number is assigned, so they need not sort the same way.
		after, err := version(g, keyID, page.After)
		if kms.Is(err, kms.NotFound) {
			return nil, uuid.Nil, kms.New(kms.InvalidRequest, "invalid page_token")
		}
		if err != nil {
			return nil, uuid.Nil, err
		}
		q = q.Where("version < ?", after.Version.Version)
	}
	var rows []versionView
	if err := q.Order("version DESC").Limit(page.Size + 1).Find(&rows).Error; err != nil {
		return nil, uuid.Nil, fmt.Errorf("list versions of %s: %w", keyID, err)
	}
	rows, next := cut(rows, page.Size, func(r *versionView) string { return r.Version.ID })
	return domainVersions(rows), next, nil
}

// EnabledVersions implements kms.KeyStore.
func (s *Store) EnabledVersions(ctx context.Context, tenant, keyID uuid.UUID) ([]*kms.MaterialKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var rows []versionView
	err = versions(g).Where("elastic_key_id = ? AND status = ?", keyID.String(), string(kms.StatusEnabled)).
		Order("version DESC").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("enabled versions of %s: %w", keyID, err)
	}
	return domainVersions(rows), nil
}

func domainVersions(rows []versionView) []*kms.MaterialKey {
	out := make([]*kms.MaterialKey, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].domain())
	}
	return out
}

// UpdateVersion implements kms.KeyStore.
func (s *Store) UpdateVersion(ctx context.Context, tenant, keyID, id uuid.UUID, update func(*kms.ElasticKey, *kms.MaterialKey) error) (*kms.MaterialKey, error) {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out *kms.MaterialKey
	err = g.Transaction(func(tx *gorm.DB) error {
		k, err := lockedKey(tx, keyID)
		if err != nil {
			return err
		}
		v, err := version(tx, keyID, id)
		if err != nil {
			return err
		}
		m := v.domain()
		if err := update(k.domain(tenant), m); err != nil {
			return err
		}
		changes := map[string]any{"status": string(m.Status), "updated_at": m.UpdatedAt.UTC()}
		if m.Status == kms.StatusDestroyed {
			changes["wrapped"] = nil
		}
		if err := tx.Model(&materialKeyRow{}).Where("id = ?", v.Version.ID).Updates(changes).Error; err != nil {
			return fmt.Errorf("update version %s: %w", id, err)
		}
		if v, err = version(tx, keyID, id); err != nil {
			return err
		}
		out = v.domain()
		return s.bumpGeneration(tx, tenant)
	})
	return out, err
}
