package conformance_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/conformance"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// TestSuiteOnTheSQLStore runs the suite where it lives, against the store
// the KMS ships, so a change to the suite is checked against a store that
// meets every contract (sqlstore's own tests run it too, for the store).
func TestSuiteOnTheSQLStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		newStore := func(t *testing.T) kms.KeyStore {
			s, err := sqlstore.New(t.Context(), dbtest.Open(t, b))
			require.NoError(t, err)
			return s
		}
		t.Run("contracts", func(t *testing.T) { conformance.Run(t, newStore) })
		t.Run("concurrency", func(t *testing.T) { conformance.RunConcurrency(t, newStore) })
		t.Run("api keys", func(t *testing.T) {
			conformance.RunAPIKeys(t, func(t *testing.T) conformance.APIKeyStore {
				s, err := sqlstore.New(t.Context(), dbtest.Open(t, b))
				require.NoError(t, err)
				return s
			})
		})
	})
}
