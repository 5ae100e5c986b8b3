package procs_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/procs"
)

func TestMain(m *testing.M) {
	procs.RunIfChild()
	os.Exit(m.Run())
}

// get is GET path on p, returning the status; a transport error fails.
func get(t *testing.T, p *procs.Proc, path string) int {
	t.Helper()
	status, err := tryGet(t.Context(), p, path)
	require.NoError(t, err)
	return status
}

func tryGet(ctx context.Context, p *procs.Proc, path string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// TestSystemLifecycle starts both services as processes, kills, stops and
// restarts them, and starts a replica of each: every restart keeps the
// URL, the CA and the demo tenants, and a killed process is gone.
func TestSystemLifecycle(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		sys := procs.StartSystem(t, b)
		assert.Equal(t, sys.Identity.CAFile, sys.KMS.CAFile, "one demo CA for both")
		idDemo, kmsDemo := sys.Identity.Demo(t), sys.KMS.Demo(t)
		require.Len(t, kmsDemo.Tenants, len(idDemo.Tenants))
		for i := range idDemo.Tenants {
			assert.Equal(t, idDemo.Tenants[i].ID, kmsDemo.Tenants[i].ID, "the KMS takes Identity's tenant ids")
		}
		assert.Equal(t, http.StatusOK, get(t, sys.KMS, "/readyz"))

		pid := sys.KMS.PID()
		require.NotZero(t, pid)
		sys.KMS.Kill(t)
		assert.Zero(t, sys.KMS.PID())
		assert.Error(t, sys.KMS.ExitErr(), "SIGKILL is no clean exit")
		_, err := tryGet(t.Context(), sys.KMS, "/readyz")
		require.Error(t, err, "nothing answers after the kill")
		sys.KMS.Restart(t)
		assert.NotEqual(t, pid, sys.KMS.PID())
		assert.Equal(t, kmsDemo.Tenants, sys.KMS.Demo(t).Tenants, "a restart keeps the demo data")
		assert.Contains(t, sys.KMS.Log(), "--- procs: kms start 2 ---", "the log holds every start")
		assert.Equal(t, procs.KMS, sys.KMS.Options().Service)

		sys.Identity.Stop(t)
		require.NoError(t, sys.Identity.ExitErr(), "SIGTERM is a clean exit")
		sys.Identity.Restart(t)
		assert.Equal(t, idDemo.Tenants, sys.Identity.Demo(t).Tenants)
		assert.Equal(t, http.StatusOK, get(t, sys.Identity, "/readyz"))

		if b != dbtest.Postgres {
			return // replicas share a database server; SQLite is one process's
		}
		kms2 := procs.Replica(t, sys.KMS, "kms-2")
		id2 := procs.Replica(t, sys.Identity, "identity-2")
		assert.NotEqual(t, sys.KMS.URL, kms2.URL)
		assert.Equal(t, sys.Identity.Issuer(), id2.Issuer())
		assert.Equal(t, http.StatusOK, get(t, kms2, "/readyz"))
		assert.Equal(t, http.StatusOK, get(t, id2, "/readyz"))
		assert.Equal(t, kmsDemo.Tenants, kms2.Demo(t).Tenants, "a replica finds the seeded demo data")
	})
}
