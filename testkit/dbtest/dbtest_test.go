package dbtest

import (
	"context"
	"errors"
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

// fakeEngine answers for Docker: reachable or not, which images are
// present, which a pull would bring. It records the questions asked.
type fakeEngine struct {
	t         *testing.T
	down      bool            // no engine answers
	present   map[string]bool // images present locally
	pullable  map[string]bool // images a pull would bring
	forbidden bool            // any question fails the test
	pulls     []string        // images a pull was tried for
}

func (f *fakeEngine) reachable() error {
	if f.forbidden {
		f.t.Error("Docker probed although not needed")
	}
	if f.down {
		return fmt.Errorf("%w: connection refused", ErrNoDocker)
	}
	return nil
}

func (f *fakeEngine) image(image string, pull bool) error {
	if f.forbidden {
		f.t.Error("Docker probed although not needed")
	}
	if f.present[image] {
		return nil
	}
	if !pull {
		return &ImageMissingError{Image: image}
	}
	f.pulls = append(f.pulls, image)
	if f.pullable[image] {
		return nil
	}
	return &ImageMissingError{Image: image, PullErr: errors.New("lookup registry-1.docker.io: no such host")}
}

func TestSelectBackends(t *testing.T) {
	const dsn = "postgres://u:p@127.0.0.1:5432/x"
	const local = "passthru-local/postgres:15"
	withDefault := map[string]bool{DefaultPGImage: true}
	withLocal := map[string]bool{local: true}
	tests := []struct {
		desc      string
		vars      map[string]string
		down      bool            // Docker unreachable
		present   map[string]bool // images present locally
		pullable  map[string]bool
		want      []Backend
		wantNote  []string // substrings of the note; none: no note
		wantErr   []string // substrings of the error
		wantPulls []string
	}{
		// Auto (PASSTHRU_TEST_DB unset).
		{desc: "auto without DSN or Docker runs SQLite and says why and how", down: true, want: []Backend{SQLite},
			wantNote: []string{"PostgreSQL was not run: no PASSTHRU_TEST_PG_DSN and no Docker engine; to run it, set PASSTHRU_TEST_PG_DSN=postgres://", "make images"}},
		{desc: "auto with a DSN runs both, Docker or not", vars: map[string]string{EnvPGDSN: dsn}, down: true, want: []Backend{SQLite, Postgres}},
		{desc: "auto with Docker and the default image runs both", present: withDefault, want: []Backend{SQLite, Postgres}},
		{desc: "auto with Docker and the chosen local image runs both", vars: map[string]string{EnvPGImage: local}, present: withLocal, want: []Backend{SQLite, Postgres}},
		{desc: "auto with Docker but no image runs SQLite, pulls nothing, says how to build it",
			pullable: withDefault, want: []Backend{SQLite},
			wantNote: []string{"PostgreSQL was not run: no PASSTHRU_TEST_PG_DSN, and Docker is reachable but the PostgreSQL image postgres:15-alpine is not present locally",
				"`make images`, then set PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15"}},
		{desc: "auto: the image asked for must be the one present", vars: map[string]string{EnvPGImage: local}, present: withDefault, want: []Backend{SQLite},
			wantNote: []string{"image passthru-local/postgres:15 is not present locally"}},
		// SQLite only.
		{desc: "sqlite only, even with a DSN", vars: map[string]string{EnvDB: "sqlite", EnvPGDSN: dsn}, want: []Backend{SQLite},
			wantNote: []string{"PostgreSQL was not run: PASSTHRU_TEST_DB=sqlite"}},
		// Explicit postgres / all.
		{desc: "postgres with a DSN", vars: map[string]string{EnvDB: "postgres", EnvPGDSN: dsn}, down: true, want: []Backend{Postgres}},
		{desc: "postgres with Docker and the image", vars: map[string]string{EnvDB: "postgres"}, present: withDefault, want: []Backend{Postgres}},
		{desc: "postgres with Docker pulls a missing image once", vars: map[string]string{EnvDB: "postgres"}, pullable: withDefault,
			want: []Backend{Postgres}, wantPulls: []string{DefaultPGImage}},
		{desc: "all with a DSN", vars: map[string]string{EnvDB: "all", EnvPGDSN: dsn}, want: []Backend{SQLite, Postgres}},
		{desc: "all with Docker and the local image", vars: map[string]string{EnvDB: "all", EnvPGImage: local}, present: withLocal, want: []Backend{SQLite, Postgres}},
		{desc: "surrounding spaces are ignored", vars: map[string]string{EnvDB: " all ", EnvPGDSN: dsn}, want: []Backend{SQLite, Postgres}},
		{desc: "postgres without DSN or Docker fails with how-to", vars: map[string]string{EnvDB: "postgres"}, down: true,
			wantErr: []string{"PASSTHRU_TEST_DB=postgres asks for PostgreSQL, but none is available: no PASSTHRU_TEST_PG_DSN and no Docker engine; to run it, set PASSTHRU_TEST_PG_DSN=postgres://"}},
		{desc: "all without DSN or Docker fails with how-to", vars: map[string]string{EnvDB: "all"}, down: true,
			wantErr: []string{"PASSTHRU_TEST_DB=all asks for PostgreSQL, but none is available", "set PASSTHRU_TEST_PG_DSN=postgres://"}},
		{desc: "postgres with Docker but an image that cannot be pulled fails plainly", vars: map[string]string{EnvDB: "postgres"},
			wantPulls: []string{DefaultPGImage},
			wantErr: []string{"PASSTHRU_TEST_DB=postgres asks for PostgreSQL, but none is available: no PASSTHRU_TEST_PG_DSN, and Docker is reachable but the PostgreSQL image postgres:15-alpine is not present locally and could not be pulled (lookup registry-1.docker.io: no such host)",
				"build the local one with `make images`, then set PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15"}},
		{desc: "all with the local image missing says to build it", vars: map[string]string{EnvDB: "all", EnvPGImage: local},
			wantPulls: []string{local},
			wantErr:   []string{"image passthru-local/postgres:15 is not present locally", "`make images`"}},
		{desc: "empty DSN counts as unset", vars: map[string]string{EnvDB: "postgres", EnvPGDSN: ""}, down: true, wantErr: []string{"or start a Docker engine"}},
		{desc: "unknown value", vars: map[string]string{EnvDB: "mysql"}, wantErr: []string{`PASSTHRU_TEST_DB="mysql": want sqlite, postgres or all`}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			eng := &fakeEngine{t: t, down: tc.down, present: tc.present, pullable: tc.pullable}
			sel, err := selectBackends(env(tc.vars), eng)
			assert.Equal(t, tc.wantPulls, eng.pulls, "pulls tried")
			if len(tc.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, sel.backends)
			if len(tc.wantNote) == 0 {
				assert.Empty(t, sel.note)
			}
			for _, w := range tc.wantNote {
				assert.Contains(t, sel.note, w)
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
		{desc: "DSN set, postgres asked for", vars: map[string]string{EnvDB: "postgres", EnvPGDSN: "postgres://x"}},
		{desc: "invalid selection", vars: map[string]string{EnvDB: "nope"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, _ = selectBackends(env(tc.vars), &fakeEngine{t: t, forbidden: true})
		})
	}
}

func TestImageMissingErrorMessage(t *testing.T) {
	tests := []struct {
		desc    string
		err     *ImageMissingError
		want    []string
		notWant []string
	}{
		{
			desc: "default image, no pull tried",
			err:  &ImageMissingError{Image: DefaultPGImage},
			want: []string{
				"Docker is reachable but the PostgreSQL image postgres:15-alpine is not present locally; ",
				"build the local one with `make images`, then set PASSTHRU_TEST_PG_IMAGE=passthru-local/postgres:15",
				"(or `docker pull postgres:15-alpine` where a registry is reachable)",
			},
			notWant: []string{"could not be pulled"},
		},
		{
			desc: "default image whose pull failed",
			err:  &ImageMissingError{Image: DefaultPGImage, PullErr: errors.New("no such host")},
			want: []string{"is not present locally and could not be pulled (no such host); build the local one with `make images`"},
		},
		{
			desc:    "the local image itself is missing: build it",
			err:     &ImageMissingError{Image: LocalPGImage},
			want:    []string{"image passthru-local/postgres:15 is not present locally; build the local one with `make images`"},
			notWant: []string{"docker pull"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			msg := tc.err.Error()
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, msg, w)
			}
			assert.ErrorIs(t, fmt.Errorf("wrapped: %w", tc.err), ErrImageMissing)
			assert.NotErrorIs(t, tc.err, ErrNoDocker)
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

// inGoroutine runs fn in a goroutine of its own and waits for it to end:
// a recorder's Fatalf ends that goroutine (as it ends a test), not the
// caller's.
func inGoroutine(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func runBackends(t *testing.T, vars map[string]string, eng engine) (*fatalRecorder, []Backend) {
	rec := &fatalRecorder{}
	var got []Backend
	inGoroutine(func() { got = backends(rec, env(vars), eng, &sync.Once{}) })
	return rec, got
}

func TestBackendsFailsWhenPostgresRequestedButUnavailable(t *testing.T) {
	tests := []struct {
		desc string
		mode string
		eng  *fakeEngine
		want []string
	}{
		{desc: "PASSTHRU_TEST_DB=postgres, no Docker", mode: "postgres", eng: &fakeEngine{down: true},
			want: []string{"set PASSTHRU_TEST_PG_DSN=postgres://", "Docker"}},
		{desc: "PASSTHRU_TEST_DB=all, no Docker", mode: "all", eng: &fakeEngine{down: true},
			want: []string{"set PASSTHRU_TEST_PG_DSN=postgres://", "Docker"}},
		{desc: "PASSTHRU_TEST_DB=postgres, Docker without the image", mode: "postgres", eng: &fakeEngine{},
			want: []string{"image postgres:15-alpine is not present locally", "`make images`"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			tc.eng.t = t
			rec, got := runBackends(t, map[string]string{EnvDB: tc.mode}, tc.eng)
			assert.Nil(t, got, "no backend may be returned: the test must stop")
			require.NotEmpty(t, rec.fatal, "the test must fail, never skip")
			for _, w := range tc.want {
				assert.Contains(t, rec.fatal, w)
			}
		})
	}
}

func TestBackendsLogsTheNoteOnce(t *testing.T) {
	rec := &fatalRecorder{}
	once := &sync.Once{}
	for range 3 {
		got := backends(rec, env(nil), &fakeEngine{t: t, down: true}, once)
		assert.Equal(t, []Backend{SQLite}, got)
	}
	require.Len(t, rec.logs, 1, "the note is logged once per process, not per test")
	assert.Contains(t, rec.logs[0], "PostgreSQL was not run")
}

func TestBackendsReturnsSelection(t *testing.T) {
	rec, got := runBackends(t, map[string]string{EnvDB: "all", EnvPGDSN: "postgres://x"}, &fakeEngine{t: t, forbidden: true})
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
	inGoroutine(func() { Options(rec, "oracle") })
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
	inGoroutine(func() { Open(rec, SQLite) })
	assert.Contains(t, rec.fatal, "dbtest: open sqlite database")
	assert.Contains(t, rec.fatal, "not a directory")
	assert.Empty(t, rec.cleanups, "nothing to close when the open failed")
}
