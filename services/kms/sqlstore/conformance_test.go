package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/conformance"
	"github.com/passthru-dev/passthru/services/kms/sqlstore"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// newStore returns a store on a fresh database of backend b.
func newStore(b dbtest.Backend) conformance.NewStore {
	return func(t *testing.T) kms.KeyStore {
		s, err := sqlstore.New(t.Context(), dbtest.Open(t, b))
		require.NoError(t, err)
		return s
	}
}

func TestConformance(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) { conformance.Run(t, newStore(b)) })
}

func TestConcurrency(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) { conformance.RunConcurrency(t, newStore(b)) })
}

func TestAPIKeyConformance(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		conformance.RunAPIKeys(t, func(t *testing.T) conformance.APIKeyStore {
			s, err := sqlstore.New(t.Context(), dbtest.Open(t, b))
			require.NoError(t, err)
			return s
		})
	})
}
