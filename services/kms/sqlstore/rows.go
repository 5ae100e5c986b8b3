package sqlstore

import (
	"embed"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/kms"
)

// tenantRow registers a tenant in the system database.
type tenantRow struct {
	ID        string `gorm:"primaryKey;size:36"`
	Name      string `gorm:"size:255;not null;uniqueIndex:ux_kms_tenants_name"`
	Demo      bool   `gorm:"not null"`
	CreatedAt time.Time
}

func (tenantRow) TableName() string { return "kms_tenants" }

// migrationFiles hold the versioned schema of the system tables
// (migrations/system) and of every tenant database (migrations/tenant), one
// directory per dialect (see db.SQLMigrations). A change to a row struct
// below needs a new migration there; the schema test compares the two.
//
//go:embed migrations
var migrationFiles embed.FS

var systemMigrations = db.MustSQLMigrations(migrationFiles, "migrations/system")

// elasticKeyRow lives in the tenant's database.
type elasticKeyRow struct {
	ID                string `gorm:"primaryKey;size:36"`
	Name              string `gorm:"size:255;not null;uniqueIndex:ux_kms_elastic_keys_name"`
	Description       string `gorm:"not null;default:''"`
	Algorithm         string `gorm:"size:32;not null"`
	Purpose           string `gorm:"size:16;not null"`
	Status            string `gorm:"size:16;not null"`
	VersioningAllowed bool   `gorm:"not null"`
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (elasticKeyRow) TableName() string { return "kms_elastic_keys" }

// materialKeyRow is one version. Wrapped is the barrier-wrapped private or
// secret JWK; nil once destroyed.
type materialKeyRow struct {
	ID           string `gorm:"primaryKey;size:36"`
	ElasticKeyID string `gorm:"size:36;not null;uniqueIndex:ux_kms_material_keys_version,priority:1"`
	Version      int    `gorm:"not null;uniqueIndex:ux_kms_material_keys_version,priority:2"`
	Status       string `gorm:"size:16;not null"`
	PublicJWK    string `gorm:"not null;default:''"`
	Wrapped      []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (materialKeyRow) TableName() string { return "kms_material_keys" }

type auditEventRow struct {
	ID            string    `gorm:"primaryKey;size:36"`
	Time          time.Time `gorm:"not null"`
	Principal     string    `gorm:"size:255;not null"`
	Realm         string    `gorm:"size:128;not null;default:''"`
	Method        string    `gorm:"size:16;not null;default:''"`
	ClientID      string    `gorm:"size:255;not null;default:''"`
	ElasticKeyID  string    `gorm:"size:36;not null;default:'';index"`
	MaterialKeyID string    `gorm:"size:36;not null;default:''"`
	Operation     string    `gorm:"size:64;not null"`
	Outcome       string    `gorm:"size:16;not null"`
	ErrorCode     string    `gorm:"size:64;not null;default:''"`
	RequestID     string    `gorm:"size:128;not null;default:''"`
	Target        string    `gorm:"size:64;not null;default:''"`
}

func (auditEventRow) TableName() string { return "kms_audit_events" }

// keyGenerationRow is the tenant's one-row key generation counter: every
// change to a key or a version increases it in the same transaction, so a
// replica caching keys learns with one read whether any key changed.
type keyGenerationRow struct {
	ID         int64 `gorm:"primaryKey;autoIncrement:false"`
	Generation int64 `gorm:"not null"`
}

func (keyGenerationRow) TableName() string { return "kms_key_generation" }

var tenantMigrations = db.MustSQLMigrations(migrationFiles, "migrations/tenant")

func (r *tenantRow) domain() *kms.Tenant {
	return &kms.Tenant{ID: uuid.MustParse(r.ID), Name: r.Name, Demo: r.Demo, CreatedAt: r.CreatedAt.UTC()}
}

// keyView is a key row read together with its primary version, computed by
// a subquery in the same statement.
type keyView struct {
	Key            elasticKeyRow `gorm:"embedded"`
	PrimaryVersion int
}

func keyRowOf(k *kms.ElasticKey) *elasticKeyRow {
	return &elasticKeyRow{
		ID: k.ID.String(), Name: k.Name, Description: k.Description, Algorithm: string(k.Algorithm),
		Purpose: string(k.Purpose), Status: string(k.Status), VersioningAllowed: k.VersioningAllowed,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
	}
}

func (v *keyView) domain(tenant uuid.UUID) *kms.ElasticKey {
	r := &v.Key
	return &kms.ElasticKey{
		ID: uuid.MustParse(r.ID), TenantID: tenant, Name: r.Name, Description: r.Description,
		Algorithm: kms.Algorithm(r.Algorithm), Purpose: kms.Purpose(r.Purpose), Status: kms.Status(r.Status),
		VersioningAllowed: r.VersioningAllowed, PrimaryVersion: v.PrimaryVersion,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// versionView is a version row read together with its key's primary version.
type versionView struct {
	Version        materialKeyRow `gorm:"embedded"`
	PrimaryVersion int
}

func versionRowOf(keyID uuid.UUID, m *kms.MaterialKey) *materialKeyRow {
	return &materialKeyRow{
		ID: m.ID.String(), ElasticKeyID: keyID.String(), Version: m.Version, Status: string(m.Status),
		PublicJWK: string(m.PublicJWK), Wrapped: m.Wrapped, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
}

func (v *versionView) domain() *kms.MaterialKey {
	r := &v.Version
	m := &kms.MaterialKey{
		ID: uuid.MustParse(r.ID), ElasticKeyID: uuid.MustParse(r.ElasticKeyID), Version: r.Version,
		Status: kms.Status(r.Status), Primary: r.Version == v.PrimaryVersion && kms.Status(r.Status) == kms.StatusEnabled,
		Wrapped: r.Wrapped, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.PublicJWK != "" {
		m.PublicJWK = json.RawMessage(r.PublicJWK)
	}
	return m
}

func auditRowOf(e *kms.AuditEvent) *auditEventRow {
	return &auditEventRow{
		ID: e.ID.String(), Time: e.Time.UTC(), Principal: e.Principal, Realm: e.Realm, Method: e.Method,
		ClientID: e.ClientID, ElasticKeyID: e.ElasticKeyID, MaterialKeyID: e.MaterialKeyID, Operation: e.Operation, Outcome: e.Outcome,
		ErrorCode: e.ErrorCode, RequestID: e.RequestID, Target: e.Target,
	}
}

func (r *auditEventRow) domain(tenant uuid.UUID) *kms.AuditEvent {
	return &kms.AuditEvent{
		ID: uuid.MustParse(r.ID), Time: r.Time.UTC(), Principal: r.Principal, Realm: r.Realm, Method: r.Method,
		ClientID: r.ClientID, TenantID: tenant, ElasticKeyID: r.ElasticKeyID, MaterialKeyID: r.MaterialKeyID, Operation: r.Operation,
		Outcome: r.Outcome, ErrorCode: r.ErrorCode, RequestID: r.RequestID, Target: r.Target,
	}
}
