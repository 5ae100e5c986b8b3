package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
)

// Options configures a Service.
type Options struct {
	DB      *db.DB
	Barrier *barrier.Barrier
	Now     func() time.Time
	Logger  *slog.Logger
}

// Service implements the KMS operations. It is safe for concurrent use.
type Service struct {
	db      *db.DB
	barrier *barrier.Barrier
	now     func() time.Time
	logger  *slog.Logger

	mu       sync.Mutex // serialises first-use migration of tenant databases
	migrated map[uuid.UUID]bool
}

// New migrates the system tables and returns the service.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.DB == nil || opts.Barrier == nil {
		return nil, errors.New("keys: DB and Barrier are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := db.Migrate(ctx, opts.DB.Gorm(), "kms-system", systemMigrations); err != nil {
		return nil, fmt.Errorf("migrate kms system tables: %w", err)
	}
	return &Service{db: opts.DB, barrier: opts.Barrier, now: opts.Now, logger: opts.Logger, migrated: map[uuid.UUID]bool{}}, nil
}

// Actor is who performs an operation, for the audit trail.
type Actor struct {
	Subject   string
	Realm     string
	Method    string
	RequestID string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor recorded in audit events.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

func actorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Subject: "system", Method: "internal"}
}

// CreateTenant registers a tenant and creates its database. ErrNameTaken
// (code name_taken) when the name is used.
func (s *Service) CreateTenant(ctx context.Context, id uuid.UUID, name string, demo bool) (*Tenant, error) {
	if id.Version() != 4 {
		return nil, kms.New(kms.InvalidRequest, "tenant id must be a UUIDv4")
	}
	if err := db.ValidateName(name); err != nil {
		return nil, kms.Wrap(err, kms.InvalidRequest, "invalid tenant name")
	}
	row := tenantRow{ID: id.String(), Name: name, Demo: demo, CreatedAt: s.now().UTC()}
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&tenantRow{}).Where("name = ? OR id = ?", name, row.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return kms.New(kms.NameTaken, "tenant %q already exists", name)
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		if kms.CodeOf(err) != kms.Internal {
			return nil, err
		}
		return nil, fmt.Errorf("register tenant %s: %w", id, err)
	}
	if err := s.db.CreateTenant(ctx, id); err != nil {
		return nil, fmt.Errorf("create tenant database %s: %w", id, err)
	}
	if _, err := s.tenantDB(ctx, id); err != nil {
		return nil, err
	}
	return row.tenant(), nil
}

func (r *tenantRow) tenant() *Tenant {
	return &Tenant{ID: uuid.MustParse(r.ID), Name: r.Name, Demo: r.Demo, CreatedAt: r.CreatedAt.UTC()}
}

// EnsureTenant registers tenant id under name unless it is registered already
// (then the stored tenant is returned as it is).
func (s *Service) EnsureTenant(ctx context.Context, id uuid.UUID, name string, demo bool) (*Tenant, error) {
	if t, err := s.Tenant(ctx, id); err == nil {
		return t, nil
	} else if !kms.Is(err, kms.NotFound) {
		return nil, err
	}
	return s.CreateTenant(ctx, id, name, demo)
}

// Tenant returns a registered tenant or a not_found error.
func (s *Service) Tenant(ctx context.Context, id uuid.UUID) (*Tenant, error) {
	var row tenantRow
	err := s.db.Gorm().WithContext(ctx).Where("id = ?", id.String()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, kms.New(kms.NotFound, "tenant not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return row.tenant(), nil
}

// Tenants lists the registered tenants by name.
func (s *Service) Tenants(ctx context.Context) ([]*Tenant, error) {
	var rows []tenantRow
	if err := s.db.Gorm().WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]*Tenant, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].tenant())
	}
	return out, nil
}

// DeleteTenant deletes a tenant for real: its database (schema or file) is
// dropped, its KEK crypto-shredded in the barrier and its registration removed.
func (s *Service) DeleteTenant(ctx context.Context, id uuid.UUID) error {
	s.mu.Lock()
	delete(s.migrated, id)
	s.mu.Unlock()
	if err := s.db.DropTenant(ctx, id); err != nil && !errors.Is(err, db.ErrUnknownTenant) {
		return fmt.Errorf("drop tenant database %s: %w", id, err)
	}
	if err := s.barrier.DeleteTenant(ctx, id); err != nil {
		return fmt.Errorf("delete tenant key %s: %w", id, err)
	}
	if err := s.db.Gorm().WithContext(ctx).Delete(&tenantRow{}, "id = ?", id.String()).Error; err != nil {
		return fmt.Errorf("unregister tenant %s: %w", id, err)
	}
	return nil
}

// tenantDB returns the tenant's database, migrated. An unknown tenant is not_found.
func (s *Service) tenantDB(ctx context.Context, tenant uuid.UUID) (*gorm.DB, error) {
	g, err := s.db.Tenant(ctx, tenant)
	if errors.Is(err, db.ErrUnknownTenant) {
		return nil, kms.Wrap(err, kms.NotFound, "tenant not registered")
	}
	if err != nil {
		return nil, fmt.Errorf("open tenant database %s: %w", tenant, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.migrated[tenant] {
		if err := db.Migrate(ctx, g, "kms-tenant", tenantMigrations); err != nil {
			return nil, fmt.Errorf("migrate tenant database %s: %w", tenant, err)
		}
		s.migrated[tenant] = true
	}
	return g.WithContext(ctx), nil
}

// record writes the audit event of a key operation. opErr decides the outcome.
func (s *Service) record(ctx context.Context, g *gorm.DB, tenant uuid.UUID, op string, keyID, mid string, opErr error) error {
	return s.writeAudit(ctx, g, tenant, auditEventRow{Operation: op, ElasticKeyID: keyID, MaterialKeyID: mid}, opErr)
}

// writeAudit completes row (id, time, actor, outcome) and stores it.
func (s *Service) writeAudit(ctx context.Context, g *gorm.DB, tenant uuid.UUID, row auditEventRow, opErr error) error {
	a := actorFrom(ctx)
	row.ID, row.Time = ids.NewEntity().String(), s.now().UTC()
	row.Principal, row.Realm, row.Method, row.RequestID = a.Subject, a.Realm, a.Method, a.RequestID
	row.Outcome = "success"
	if opErr != nil {
		row.Outcome, row.ErrorCode = "failure", string(kms.CodeOf(opErr))
	}
	// The audit write must not be cancelled together with a request whose
	// client went away after the operation happened.
	if err := g.WithContext(context.WithoutCancel(ctx)).Create(&row).Error; err != nil {
		s.logger.ErrorContext(ctx, "audit write failed", "tenant", tenant, "operation", row.Operation, "error", err)
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// audited runs fn against the tenant database and records its outcome.
// fn returns the material key id it used (may be empty).
func (s *Service) audited(ctx context.Context, tenant uuid.UUID, op string, keyID string, fn func(g *gorm.DB) (string, error)) error {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return err
	}
	mid, opErr := fn(g)
	if err := s.record(ctx, g, tenant, op, keyID, mid, opErr); err != nil && opErr == nil {
		return err
	}
	return opErr
}

// ListAudit lists the tenant's audit events oldest first, optionally for one key.
func (s *Service) ListAudit(ctx context.Context, tenant uuid.UUID, keyID *uuid.UUID, page Page) ([]*AuditEvent, uuid.UUID, error) {
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
	next := uuid.Nil
	if len(rows) > page.Size {
		rows = rows[:page.Size]
		next = uuid.MustParse(rows[len(rows)-1].ID)
	}
	out := make([]*AuditEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, &AuditEvent{
			ID: uuid.MustParse(r.ID), Time: r.Time.UTC(), Principal: r.Principal, Realm: r.Realm, Method: r.Method,
			TenantID: tenant, ElasticKeyID: r.ElasticKeyID, MaterialKeyID: r.MaterialKeyID, Operation: r.Operation,
			Outcome: r.Outcome, ErrorCode: r.ErrorCode, RequestID: r.RequestID, Target: r.Target,
		})
	}
	return out, next, nil
}

// RecordUserEvent records a realm user administration event about the user
// target (its id; empty when creating failed). opErr decides the outcome.
func (s *Service) RecordUserEvent(ctx context.Context, tenant uuid.UUID, op, target string, opErr error) error {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return err
	}
	return s.writeAudit(ctx, g, tenant, auditEventRow{Operation: op, Target: target}, opErr)
}

// RecordDenied records an operation that was refused before it reached the
// service, such as a call without the required scope. keyID may be empty or
// name a key of another tenant; it is recorded as given.
func (s *Service) RecordDenied(ctx context.Context, tenant uuid.UUID, op, keyID string, code kms.Code) error {
	g, err := s.tenantDB(ctx, tenant)
	if err != nil {
		return err
	}
	return s.record(ctx, g, tenant, op, keyID, "", kms.New(code, "denied"))
}
