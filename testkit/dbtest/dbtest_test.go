package dbtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
)

// env builds a lookup function over a fixed environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestSelectBackends(t *testing.T) {
	const dsn = "postgres://u:p@127.0.0.1:5432/x"
	tests := []struct {
		desc     string
		vars     map[string]string
		docker   bool
		want     []Backend
		wantNote string
		wantErr  string
	}{
		{desc: "default without PostgreSQL runs SQLite and says PostgreSQL was not run", want: []Backend{SQLite},
			wantNote: "PostgreSQL was not run: no PASSTHRU_TEST_PG_DSN and no Docker engine; to run it, set PASSTHRU_TEST_PG_DSN=postgres://"},
		{desc: "default with a DSN runs both", vars: map[string]string{EnvPGDSN: dsn}, want: []Backend{SQLite, Postgres}},
		{desc: "default with Docker runs both", docker: true, want: []Backend{SQLite, Postgres}},
		{desc: "sqlite only, even with a DSN", vars: map[string]string{EnvDB: "sqlite", EnvPGDSN: dsn}, want: []Backend{SQLite},
			wantNote: "PostgreSQL was not run: PASSTHRU_TEST_DB=sqlite"},
		{desc: "postgres with a DSN", vars: map[string]string{EnvDB: "postgres", EnvPGDSN: dsn}, want: []Backend{Postgres}},
		{desc: "postgres with Docker", vars: map[string]string{EnvDB: "postgres"}, docker: true, want: []Backend{Postgres}},
		{desc: "all with a DSN", vars: map[string]string{EnvDB: "all", EnvPGDSN: dsn}, want: []Backend{SQLite, Postgres}},
		{desc: "surrounding spaces are ignored", vars: map[string]string{EnvDB: " all ", EnvPGDSN: dsn}, want: []Backend{SQLite, Postgres}},
		{desc: "postgres requested without DSN or Docker fails with how-to", vars: map[string]string{EnvDB: "postgres"},
			wantErr: "PASSTHRU_TEST_DB=postgres asks for PostgreSQL, but none is available: set PASSTHRU_TEST_PG_DSN=postgres://"},
		{desc: "all requested without DSN or Docker fails with how-to", vars: map[string]string{EnvDB: "all"},
			wantErr: "PASSTHRU_TEST_DB=all asks for PostgreSQL, but none is available: set PASSTHRU_TEST_PG_DSN=postgres://"},
		{desc: "empty DSN counts as unset", vars: map[string]string{EnvDB: "postgres", EnvPGDSN: ""}, wantErr: "or start a Docker engine"},
		{desc: "unknown value", vars: map[string]string{EnvDB: "mysql"}, wantErr: `PASSTHRU_TEST_DB="mysql": want sqlite, postgres or all`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			sel, err := selectBackends(env(tc.vars), func() bool { return tc.docker })
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, sel.backends)
			if tc.wantNote == "" {
				assert.Empty(t, sel.note)
			} else {
				assert.Contains(t, sel.note, tc.wantNote)
			}
		})
	}
}

func TestSelectBackendsProbesDockerOnlyWhenNeeded(t *testing.T) {
	tests := []struct {
		desc string
		vars map[string]string
	}{
		{desc: "sqlite only", vars: map[string]string{EnvDB: "sqlite"}},
		{desc: "DSN set", vars: map[string]string{EnvPGDSN: "postgres://x"}},
		{desc: "invalid selection", vars: map[string]string{EnvDB: "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, _ = selectBackends(env(tc.vars), func() bool {
				t.Error("Docker probed although not needed")
				return false
			})
		})
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine like the real one, so the failing path of backends can be
// observed without failing this test.
type fatalRecorder struct {
	testing.TB
	fatal    string
	errors   []string
	logs     []string
	cleanups []func()
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fatalRecorder) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// runCleanups runs the registered cleanups last-in first-out, like testing.
func (f *fatalRecorder) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Log(args ...any) { f.logs = append(f.logs, fmt.Sprint(args...)) }

func runBackends(vars map[string]string, docker bool) (*fatalRecorder, []Backend) {
	rec := &fatalRecorder{}
	var got []Backend
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = backends(rec, env(vars), func() bool { return docker }, &sync.Once{})
	}()
	<-done
	return rec, got
}

func TestBackendsFailsWhenPostgresRequestedButUnavailable(t *testing.T) {
	tests := []struct {
		desc string
		mode string
	}{
		{desc: "PASSTHRU_TEST_DB=postgres", mode: "postgres"},
		{desc: "PASSTHRU_TEST_DB=all", mode: "all"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			rec, got := runBackends(map[string]string{EnvDB: tc.mode}, false)
			assert.Nil(t, got, "no backend may be returned: the test must stop")
			require.NotEmpty(t, rec.fatal, "the test must fail, never skip")
			assert.Contains(t, rec.fatal, "set PASSTHRU_TEST_PG_DSN=postgres://")
			assert.Contains(t, rec.fatal, "Docker")
		})
	}
}

func TestBackendsLogsTheNoteOnce(t *testing.T) {
	rec := &fatalRecorder{}
	once := &sync.Once{}
	for range 3 {
		got := backends(rec, env(nil), func() bool { return false }, once)
		assert.Equal(t, []Backend{SQLite}, got)
	}
	require.Len(t, rec.logs, 1, "the note is logged once per process, not per test")
	assert.Contains(t, rec.logs[0], "PostgreSQL was not run")
}

func TestDockerProbeIsCached(t *testing.T) {
	// Whether an engine is reachable depends on the machine; what must hold
	// everywhere is that the (slow) probe runs once and answers consistently.
	first := dockerReachable()
	assert.Equal(t, first, dockerReachable())
}

func TestBackendsReturnsSelection(t *testing.T) {
	rec, got := runBackends(map[string]string{EnvDB: "all", EnvPGDSN: "postgres://x"}, false)
	assert.Empty(t, rec.fatal)
	assert.Equal(t, []Backend{SQLite, Postgres}, got)
}

func TestPostgresSkippedNote(t *testing.T) {
	tests := []struct {
		desc string
		db   string
		dsn  string
		want string
	}{
		{desc: "sqlite selected", db: "sqlite", dsn: "postgres://x", want: "PostgreSQL was not run: PASSTHRU_TEST_DB=sqlite"},
		{desc: "DSN set", db: "", dsn: "postgres://x", want: ""},
		{desc: "bad selection is reported too", db: "bogus", dsn: "postgres://x", want: "PostgreSQL was not run: PASSTHRU_TEST_DB=\"bogus\""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv(EnvDB, tc.db)
			t.Setenv(EnvPGDSN, tc.dsn)
			got := PostgresSkippedNote()
			if tc.want == "" {
				assert.Empty(t, got)
			} else {
				assert.True(t, strings.HasPrefix(got, tc.want), "got %q", got)
			}
		})
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		desc    string
		dsn     string
		want    string
		wantErr bool
	}{
		{desc: "URL form", dsn: "postgres://u:p@127.0.0.1:5432/passthru?sslmode=disable", want: "postgres://u:p@127.0.0.1:5432/test_x?sslmode=disable"},
		{desc: "URL form without database", dsn: "postgresql://u@h", want: "postgresql://u@h/test_x"},
		{desc: "keyword/value form", dsn: "host=127.0.0.1 user=u dbname=passthru ", want: "host=127.0.0.1 user=u dbname=passthru dbname=test_x"},
		{desc: "malformed URL hides the password", dsn: "postgres://u:secretpw@h:port/x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := withDatabase(tc.dsn, "test_x")
			if tc.wantErr {
				require.Error(t, err)
				assert.NotContains(t, err.Error(), "secretpw")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			if !strings.Contains(tc.dsn, "://") {
				cfg, err := pgx.ParseConfig(got)
				require.NoError(t, err)
				assert.Equal(t, "test_x", cfg.Database, "a later dbname must win")
			}
		})
	}
}

func TestRunNamesSubtestsByBackend(t *testing.T) {
	var names []string
	Run(t, func(t *testing.T, b Backend) {
		names = append(names, t.Name())
		d := Open(t, b)
		assert.Equal(t, db.Driver(b), d.Driver())
		require.NoError(t, d.Ping(t.Context()))
	})
	// One subtest per selected backend, in order, named db=<backend>.
	var want []string
	for _, b := range Backends(t) {
		want = append(want, t.Name()+"/db="+string(b))
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, names)
}

func TestOptionsSQLite(t *testing.T) {
	opts := Options(t, SQLite)
	assert.Equal(t, db.DriverSQLite, opts.Driver)
	assert.DirExists(t, opts.Dir)
	entries, err := os.ReadDir(opts.Dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a fresh directory")
	assert.NotNil(t, opts.Logger)
}

func TestOptionsUnknownBackend(t *testing.T) {
	rec := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Options(rec, "oracle")
	}()
	<-done
	assert.Contains(t, rec.fatal, `unknown backend "oracle"`)
}

// brokenDirRecorder is a fatalRecorder whose TempDir cannot hold a database
// (it lies under a regular file), to observe Open's failure path.
type brokenDirRecorder struct {
	fatalRecorder
	dir string
}

func (f *brokenDirRecorder) TempDir() string          { return f.dir }
func (f *brokenDirRecorder) Output() io.Writer        { return io.Discard }
func (f *brokenDirRecorder) Context() context.Context { return context.Background() }

func TestOpenFailsTheTestWithTheCause(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	rec := &brokenDirRecorder{dir: filepath.Join(file, "db")}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Open(rec, SQLite)
	}()
	<-done
	assert.Contains(t, rec.fatal, "dbtest: open sqlite database")
	assert.Contains(t, rec.fatal, "not a directory")
	assert.Empty(t, rec.cleanups, "nothing to close when the open failed")
}
