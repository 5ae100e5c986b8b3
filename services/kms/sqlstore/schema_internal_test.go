package sqlstore

import (
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/schematest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestSchemaMatchesMigrations fails when a row struct changes the schema
// without a migration, or a migration changes it without the golden file.
func TestSchemaMatchesMigrations(t *testing.T) {
	schematest.Run(t, "testdata", *update,
		schematest.Set{Name: "kms-system", Migrations: systemMigrations, Models: []any{&tenantRow{}, &apiKeyRow{}, &secretRow{}}},
		schematest.Set{Name: "kms-tenant", Migrations: tenantMigrations, Tenant: true,
			Models: []any{&elasticKeyRow{}, &materialKeyRow{}, &auditEventRow{}, &keyGenerationRow{}}},
	)
}

// TestAuditInsertNamesEveryColumn keeps AppendAudit's written-out INSERT in
// step with auditEventRow: a column added to the row must be added there.
func TestAuditInsertNamesEveryColumn(t *testing.T) {
	schematest.CheckInsert(t, &auditEventRow{}, auditInsertOne)
	assert.Equal(t, auditColumnCount, strings.Count(auditValues, "?"))
	assert.Equal(t, auditInsertOne+", "+auditValues+", "+auditValues, auditInsert(3))
}

// tenantRowWithRegion is tenantRow after a field was added without a
// migration.
type tenantRowWithRegion struct {
	tenantRow
	Region string `gorm:"size:32;not null;default:''"`
}

func (tenantRowWithRegion) TableName() string { return tenantRow{}.TableName() }

// TestSchemaCheckCatchesAnUnmigratedField shows that TestSchemaMatchesMigrations
// can fail: the migrated kms_tenants table does not match a copy of its
// struct with one more field, and the report names the column.
func TestSchemaCheckCatchesAnUnmigratedField(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		d := dbtest.Open(t, b)
		require.NoError(t, db.Migrate(t.Context(), d.Gorm(), "kms-system", systemMigrations))
		diff, err := schematest.ModelDiff(t.Context(), d.Gorm(), schematest.Scratch(t, d), &tenantRow{})
		require.NoError(t, err)
		assert.Empty(t, diff, "the real struct matches")
		diff, err = schematest.ModelDiff(t.Context(), d.Gorm(), schematest.Scratch(t, d), &tenantRowWithRegion{})
		require.NoError(t, err)
		assert.Contains(t, diff, "+ structs:  kms_tenants: column region ")
	})
}
