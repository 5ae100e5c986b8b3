package procs

import (
	"path/filepath"
	"testing"

	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// System is an Identity provider and a KMS that trusts it, each its own
// process, as the compose stack's demo profile runs them: one demo CA, the
// KMS taking Identity's demo tenant ids and accepting its tokens.
type System struct {
	Identity, KMS *Proc
}

// StartSystem starts Identity, then the KMS, each on a fresh database of
// backend b (dbtest: PostgreSQL databases are dropped when the test ends;
// SQLite lives in the data directory) and its own data directory, sharing
// one PKI directory.
func StartSystem(t testing.TB, b dbtest.Backend) *System {
	t.Helper()
	pki := filepath.Join(t.TempDir(), "tls")
	idp := Start(t, Options{Service: Identity, PKIDir: pki, DSN: dsn(t, b)})
	kms := Start(t, Options{Service: KMS, PKIDir: pki, DSN: dsn(t, b), IdentityDemoFile: idp.DemoFile})
	return &System{Identity: idp, KMS: kms}
}

// dsn is a fresh PostgreSQL database for Postgres, "" (SQLite in the data
// directory) for SQLite.
func dsn(t testing.TB, b dbtest.Backend) string {
	t.Helper()
	if b != dbtest.Postgres {
		return ""
	}
	return dbtest.Options(t, b).DSN
}

// Replica starts another process of p's service on p's data directory, PKI
// directory and database, on its own port, as the compose stack's ci
// profile runs a second replica. An Identity replica keeps p's issuer.
// The replica seeds nothing new: it finds the demo data p seeded.
func Replica(t testing.TB, p *Proc, name string) *Proc {
	t.Helper()
	o := p.Options()
	o.Name, o.Listen, o.Config = name, "", cloneConfig(o.Config)
	if o.Service == Identity {
		o.Issuer = p.Issuer()
	}
	return Start(t, o)
}

func cloneConfig(c map[string]any) map[string]any {
	if c == nil {
		return nil
	}
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}
