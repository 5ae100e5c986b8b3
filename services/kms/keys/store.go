package keys

import (
	"embed"
	"time"

	"github.com/passthru-dev/passthru/services/infra/db"
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
	ElasticKeyID  string    `gorm:"size:36;not null;default:'';index"`
	MaterialKeyID string    `gorm:"size:36;not null;default:''"`
	Operation     string    `gorm:"size:64;not null"`
	Outcome       string    `gorm:"size:16;not null"`
	ErrorCode     string    `gorm:"size:64;not null;default:''"`
	RequestID     string    `gorm:"size:128;not null;default:''"`
	Target        string    `gorm:"size:64;not null;default:''"`
}

func (auditEventRow) TableName() string { return "kms_audit_events" }

var tenantMigrations = db.MustSQLMigrations(migrationFiles, "migrations/tenant")
