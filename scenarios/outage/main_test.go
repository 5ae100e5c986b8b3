package outage_test

import (
	"os"
	"testing"

	"github.com/passthru-dev/passthru/testkit/procs"
)

// TestMain lets the test binary run as a KMS process (TestSQLiteReadOnly).
func TestMain(m *testing.M) {
	procs.RunIfChild()
	os.Exit(m.Run())
}
