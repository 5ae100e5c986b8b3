// Package keys holds the KMS's rules: which key may serve which operation
// (usable), how versions rotate and are retired, what is wrapped by the
// barrier, and that every operation leaves an audit event. Storage is a
// kms.KeyStore; material is wrapped under the tenant's KEK before it is
// stored and unwrapped only to serve operations. Keys used by operations
// are kept, unwrapped, in a bounded cache (see CacheOptions for how soon a
// change is seen), and audit events are written in group commits, each
// request waiting for its own.
//
// Every method takes the tenant explicitly; callers pass the authenticated
// principal's tenant and nothing else. Errors are *kms.Error with a code.
package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms"
)

// DefaultAuditQueue is the default of Options.AuditQueue.
const DefaultAuditQueue = 4096

// Options configures a Service.
type Options struct {
	Store   kms.KeyStore
	Barrier *barrier.Barrier
	Now     func() time.Time
	Logger  *slog.Logger
	// Cache bounds the key cache; the zero value takes the defaults.
	Cache CacheOptions
	// AuditQueue bounds the audit events of one tenant waiting to be
	// written; that tenant's requests beyond it wait for room (other
	// tenants do not). Default DefaultAuditQueue.
	AuditQueue int
}

// Service implements the KMS operations. It is safe for concurrent use.
type Service struct {
	store   kms.KeyStore
	barrier *barrier.Barrier
	now     func() time.Time
	logger  *slog.Logger
	keys    *keyCache
	audit   *auditQueue
}

// New returns the service over opts.Store, whose tables its constructor
// (sqlstore.New) has migrated.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Barrier == nil {
		return nil, errors.New("keys: Store and Barrier are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuditQueue <= 0 {
		opts.AuditQueue = DefaultAuditQueue
	}
	s := &Service{store: opts.Store, barrier: opts.Barrier, now: opts.Now, logger: opts.Logger}
	s.keys = newKeyCache(opts.Store, s.load, opts.Now, opts.Cache)
	s.audit = newAuditQueue(opts.Store, opts.AuditQueue, kms.MaxAuditBatch)
	return s, nil
}

// Close writes the audit events still queued and then refuses new ones
// (operations fail with not_ready). Requests wait for their own event, so
// a server that has stopped serving has nothing left to write; Close
// matters to callers that stop while requests still run.
func (s *Service) Close() {
	s.audit.close()
}

// KeysChanged tells the service that another replica changed tenant's keys
// (uuid.Nil: any tenant's), e.g. from the store's change notifications:
// the next request of the tenant reads its key generation again and so
// drops what it has cached, rather than wait for the next periodic read.
func (s *Service) KeysChanged(tenant uuid.UUID) { s.keys.changedElsewhere(tenant) }

// Actor is who performs an operation, for the audit trail.
type Actor struct {
	Subject string
	Realm   string
	Method  string
	// ClientID is the OAuth client (a bearer token's client_id) or the API
	// key the subject acted through, so that one subject's calls through
	// different clients can be told apart; empty for Basic users.
	ClientID  string
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

// CreateTenant registers a tenant and creates its database. name_taken
// when the name (or the id) is used.
func (s *Service) CreateTenant(ctx context.Context, id uuid.UUID, name string, demo bool) (*kms.Tenant, error) {
	if id.Version() != 4 {
		return nil, kms.New(kms.InvalidRequest, "tenant id must be a UUIDv4")
	}
	if err := kms.ValidateName("tenant", name); err != nil {
		return nil, err
	}
	t := &kms.Tenant{ID: id, Name: name, Demo: demo, CreatedAt: s.now().UTC()}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// EnsureTenant registers tenant id under name unless it is registered already
// (then the stored tenant is returned as it is).
func (s *Service) EnsureTenant(ctx context.Context, id uuid.UUID, name string, demo bool) (*kms.Tenant, error) {
	if t, err := s.Tenant(ctx, id); err == nil {
		return t, nil
	} else if !kms.Is(err, kms.NotFound) {
		return nil, err
	}
	return s.CreateTenant(ctx, id, name, demo)
}

// Tenant returns a registered tenant or a not_found error.
func (s *Service) Tenant(ctx context.Context, id uuid.UUID) (*kms.Tenant, error) {
	return s.store.Tenant(ctx, id)
}

// Tenants lists the registered tenants by name.
func (s *Service) Tenants(ctx context.Context) ([]*kms.Tenant, error) {
	return s.store.Tenants(ctx)
}

// DeleteTenant deletes a tenant for real: its KEK is crypto-shredded in the
// barrier first, so whatever a failure leaves behind is unreadable, then its
// database (schema or file) and its registration are removed.
func (s *Service) DeleteTenant(ctx context.Context, id uuid.UUID) error {
	// Dropped first and again last: a request that filled the cache in
	// between found the tenant still there, and must not outlive it here.
	s.keys.forgetTenant(id)
	defer s.keys.forgetTenant(id)
	if err := s.barrier.DeleteTenant(ctx, id); err != nil {
		return fmt.Errorf("delete tenant key %s: %w", id, err)
	}
	if err := s.store.DeleteTenant(ctx, id); err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	return nil
}

// record writes the audit event of a key operation. opErr decides the outcome.
func (s *Service) record(ctx context.Context, tenant uuid.UUID, op string, keyID, mid string, opErr error) error {
	return s.writeAudit(ctx, &kms.AuditEvent{TenantID: tenant, Operation: op, ElasticKeyID: keyID, MaterialKeyID: mid}, opErr)
}

// writeAudit completes e (id, time, actor, outcome) and stores it.
func (s *Service) writeAudit(ctx context.Context, e *kms.AuditEvent, opErr error) error {
	a := actorFrom(ctx)
	e.ID, e.Time = ids.NewEntity(), s.now().UTC()
	e.Principal, e.Realm, e.Method, e.ClientID, e.RequestID = a.Subject, a.Realm, a.Method, a.ClientID, a.RequestID
	e.Outcome = kms.OutcomeSuccess
	if opErr != nil {
		e.Outcome, e.ErrorCode = kms.OutcomeFailure, string(kms.CodeOf(opErr))
	}
	// The audit write must not be cancelled together with a request whose
	// client went away after the operation happened.
	err := s.audit.append(context.WithoutCancel(ctx), e)
	if kms.Is(err, kms.NotFound) {
		// An unregistered tenant has nowhere to record anything; the
		// operation itself failed with the same not_found.
		return err
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "audit write failed", "tenant", e.TenantID, "operation", e.Operation, "error", err)
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// audited runs fn and records its outcome. fn returns the material key id
// it used (may be empty).
func (s *Service) audited(ctx context.Context, tenant uuid.UUID, op string, keyID string, fn func() (string, error)) error {
	mid, opErr := fn()
	if err := s.record(ctx, tenant, op, keyID, mid, opErr); err != nil && opErr == nil {
		return err
	}
	return opErr
}

// ListAudit lists the tenant's audit events oldest first, optionally for one key.
func (s *Service) ListAudit(ctx context.Context, tenant uuid.UUID, keyID *uuid.UUID, page kms.Page) ([]*kms.AuditEvent, uuid.UUID, error) {
	return s.store.AuditEvents(ctx, tenant, keyID, page)
}

// RecordAdminEvent records an administration event (a realm user or API
// key created, changed, deleted or revoked) about target, the id of that
// user or key (empty when creating failed). opErr decides the outcome.
func (s *Service) RecordAdminEvent(ctx context.Context, tenant uuid.UUID, op, target string, opErr error) error {
	return s.writeAudit(ctx, &kms.AuditEvent{TenantID: tenant, Operation: op, Target: target}, opErr)
}

// RecordDenied records an operation that was refused before it reached the
// service, such as a call without the required scope. keyID may be empty or
// name a key of another tenant; it is recorded as given.
func (s *Service) RecordDenied(ctx context.Context, tenant uuid.UUID, op, keyID string, code kms.Code) error {
	return s.record(ctx, tenant, op, keyID, "", kms.New(code, "denied"))
}
