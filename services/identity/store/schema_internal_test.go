package store

import (
	"flag"
	"testing"

	"github.com/passthru-dev/passthru/testkit/schematest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestSchemaMatchesMigrations fails when a row struct changes the schema
// without a migration, or a migration changes it without the golden file.
func TestSchemaMatchesMigrations(t *testing.T) {
	schematest.Run(t, "testdata", *update,
		schematest.Set{Name: "identity-system", Migrations: systemMigrations,
			Models: []any{&tenantRow{}, &clientIndex{}, &signingKeyRow{}, &wrappedSecret{}, &sessionRow{}, &authRequestRow{}}},
		schematest.Set{Name: "identity-tenant", Migrations: tenantMigrations, Tenant: true,
			Models: []any{&userRow{}, &clientRow{}, &consentRow{}, &authCodeRow{}, &refreshTokenRow{}, &accessTokenRow{}, &generationRow{}}},
	)
}

// TestInsertAccessNamesEveryColumn keeps SaveAccess's written-out INSERT in
// step with accessTokenRow: a column added to the row must be added there.
func TestInsertAccessNamesEveryColumn(t *testing.T) {
	schematest.CheckInsert(t, &accessTokenRow{}, insertAccess)
}
