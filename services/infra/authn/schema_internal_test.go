package authn

import (
	"flag"
	"testing"

	"github.com/passthru-dev/passthru/testkit/schematest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestSchemaMatchesMigrations fails when realmUserRow changes the schema
// without a migration, or a migration changes it without the golden file.
func TestSchemaMatchesMigrations(t *testing.T) {
	schematest.Run(t, "testdata", *update,
		schematest.Set{Name: "authn-realm-users", Migrations: userMigrations, Models: []any{&realmUserRow{}}},
	)
}
