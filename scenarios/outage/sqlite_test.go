package outage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver of the integrity check
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
	"github.com/passthru-dev/passthru/testkit/fsfault"
	"github.com/passthru-dev/passthru/testkit/procs"
)

// Bounds of the SQLite tests.
const (
	// tmpfsSize holds the demo databases and their WAL files with room to
	// spare, and fills in a moment.
	tmpfsSize = 64 << 20
	// ackedKeys is how many keys are created (and used) before the storage
	// fails; each must still be there and usable afterwards.
	ackedKeys = 3
	// maxFailingWrites bounds the writes sent while the storage is failing.
	maxFailingWrites = 60
	// unavailableSeen is how many 503 answers of each kind of write end
	// that phase early.
	unavailableSeen = 3
	// storageRecovery bounds how long after the space or write access is
	// back the writes must succeed again.
	storageRecovery = 5 * time.Second
)

// requireSQLite returns when this run tests SQLite; the PostgreSQL-only leg
// skips (the SQLite leg of the same run covers these tests).
func requireSQLite(t *testing.T) {
	t.Helper()
	if !slices.Contains(dbtest.Backends(t), dbtest.SQLite) {
		t.Skip("the SQLite storage tests run on the SQLite leg (PASSTHRU_TEST_DB=sqlite or all)")
	}
}

// sqliteEnv is a KMS whose data directory and SQLite directory are on a
// tmpfs of their own, and what it acknowledged.
type sqliteEnv struct {
	fs     *fsfault.FS
	dbDir  string
	client *http.Client
	url    string
	writer demofile.User
	// keys are the ids of the keys created with a 2xx answer; sealed are
	// the ciphertexts an encrypt acknowledged, with their key and
	// plaintext.
	keys   []string
	sealed []sealed
}

type sealed struct{ keyID, plaintext, ciphertext string }

// startKMSOnTmpfs starts an in-process KMS with its data directory and
// SQLite directory on a tmpfs.
func startKMSOnTmpfs(t *testing.T) *sqliteEnv {
	t.Helper()
	fs := fsfault.Tmpfs(t, tmpfsSize)
	e := &sqliteEnv{fs: fs, dbDir: filepath.Join(fs.Dir, "db")}
	k := fixture.StartKMS(t, dbtest.SQLite,
		fixture.WithKMSDataDir(filepath.Join(fs.Dir, "data")),
		fixture.WithKMSDB(db.Options{Driver: db.DriverSQLite, Namespace: "kms", Dir: e.dbDir}))
	e.client, e.url, e.writer = k.Client, k.URL, k.User(t, 0, "writer")
	return e
}

// startKMSProcessOnExt4 starts the KMS as a process of its own (its SQLite
// database under its data directory) on an ext4 filesystem. A process,
// because SQLite maps its -shm file into memory, and a write to such a
// mapping on a filesystem the kernel has made read-only may be answered
// with SIGBUS: that must end the KMS (and fail the test), not the test
// binary.
func startKMSProcessOnExt4(t *testing.T) (*sqliteEnv, *procs.Proc) {
	t.Helper()
	fs := fsfault.Ext4(t, tmpfsSize)
	p := procs.Start(t, procs.Options{Service: procs.KMS, DataDir: filepath.Join(fs.Dir, "kms")})
	e := &sqliteEnv{fs: fs, client: p.Client, url: p.URL}
	tn := p.Demo(t).Tenants[0]
	var err error
	if e.writer, err = tn.User(kmsserver.DemoUsername("writer", tn.Name)); err != nil {
		t.Fatalf("kms demo: %v", err)
	}
	// Wherever the binary puts its SQLite files under the data directory.
	err = filepath.WalkDir(p.Options().DataDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "system.db" {
			e.dbDir = filepath.Dir(path)
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, e.dbDir, "the KMS process's system.db under %s", p.Options().DataDir)
	return e, p
}

// createKey asks for a new key; a 201 puts it in the ledger.
func (e *sqliteEnv) createKey(ctx context.Context) result {
	r := createKeyEndpoint(e.client, e.url, e.writer).do(ctx)
	if ok2xx(r) {
		var k struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.body, &k); err != nil || k.ID == "" {
			r.err = fmt.Errorf("a %d answer to create key without an id: %s", r.status, r.body)
			return r
		}
		e.keys = append(e.keys, k.ID)
	}
	return r
}

// encrypt encrypts a fresh plaintext with keyID; a 200 puts the
// ciphertext in the ledger.
func (e *sqliteEnv) encrypt(ctx context.Context, keyID string) result {
	plaintext := rand.Text()
	r := kmsEndpoint("kms encrypt", e.client, e.writer, http.MethodPost, e.keyURL(keyID, "/encrypt"),
		func() any { return map[string]any{"plaintext": []byte(plaintext)} }).do(ctx)
	if ok2xx(r) {
		var out struct {
			Ciphertext string `json:"ciphertext"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil || out.Ciphertext == "" {
			r.err = fmt.Errorf("a %d answer to encrypt without a ciphertext: %s", r.status, r.body)
			return r
		}
		e.sealed = append(e.sealed, sealed{keyID: keyID, plaintext: plaintext, ciphertext: out.Ciphertext})
	}
	return r
}

func (e *sqliteEnv) keyURL(keyID, suffix string) string {
	return e.url + "/api/v1/elastic-keys/" + keyID + suffix
}

// acknowledge creates ackedKeys keys and encrypts with each, all of which
// must succeed.
func (e *sqliteEnv) acknowledge(t *testing.T, ctx context.Context) {
	t.Helper()
	for range ackedKeys {
		if r := e.createKey(ctx); !ok2xx(r) {
			t.Fatalf("before the storage fails, create key must succeed; got %s", r)
		}
		if r := e.encrypt(ctx, e.keys[len(e.keys)-1]); !ok2xx(r) {
			t.Fatalf("before the storage fails, encrypt must succeed; got %s", r)
		}
	}
}

// writeWhileFailing sends create-key and encrypt requests, alternately,
// while the storage is failing (how is said by state), until each kind had
// unavailableSeen answers of 503 or maxFailingWrites were sent. Every
// answer must come within a second, and every one that is not a success
// must be the contract's 503; at least one of each kind must be. A write
// that still succeeds (it found room SQLite had already allocated) is
// acknowledged like any other and checked afterwards.
func (e *sqliteEnv) writeWhileFailing(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	seen := map[string]int{}
	var bad []string
	for i := range maxFailingWrites {
		var r result
		if i%2 == 0 {
			r = e.createKey(ctx)
		} else {
			r = e.encrypt(ctx, e.keys[0])
		}
		switch err := kmsUnavailable(r); {
		case err == nil:
			seen[r.endpoint]++
		case !ok2xx(r):
			bad = append(bad, err.Error())
		}
		if r.latency() > maxOutageLatency {
			t.Errorf("%s with the storage %s: want an answer within %s, got %s", r.endpoint, state, maxOutageLatency, r)
		}
		if seen["kms create key"] >= unavailableSeen && seen["kms encrypt"] >= unavailableSeen {
			break
		}
	}
	for _, b := range bad[:min(len(bad), 3)] {
		t.Errorf("with the storage %s: %s", state, b)
	}
	if len(bad) > 3 {
		t.Errorf("with the storage %s: %d more answers were not the contract's", state, len(bad)-3)
	}
	for _, kind := range []string{"kms create key", "kms encrypt"} {
		if seen[kind] == 0 {
			t.Errorf("%s with the storage %s: want 503 problem+json code unavailable with Retry-After, none came in %d writes", kind, state, maxFailingWrites)
		}
	}
}

// requireWritesRecover: within storageRecovery both kinds of write succeed
// again, and then keep succeeding.
func (e *sqliteEnv) requireWritesRecover(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	deadline := time.Now().Add(storageRecovery)
	var last result
	for {
		last = e.createKey(ctx)
		if ok2xx(last) {
			if last = e.encrypt(ctx, e.keys[len(e.keys)-1]); ok2xx(last) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the storage %s, writes must succeed again within %s; the last answer: %s", state, storageRecovery, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 3 {
		if r := e.encrypt(ctx, e.keys[0]); !ok2xx(r) {
			t.Fatalf("with the storage %s, writes must keep succeeding; got %s", state, r)
		}
	}
}

// verify: every acknowledged key is there and encrypts, every
// acknowledged ciphertext decrypts to its plaintext.
func (e *sqliteEnv) verify(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, id := range e.keys {
		get := kmsEndpoint("kms get key", e.client, e.writer, http.MethodGet, e.keyURL(id, ""), nil).do(ctx)
		if get.status != http.StatusOK {
			t.Errorf("acknowledged key %s: want 200 from get, got %s", id, get)
			continue
		}
		if r := e.encrypt(ctx, id); !ok2xx(r) {
			t.Errorf("acknowledged key %s: want it to encrypt, got %s", id, r)
		}
	}
	for _, s := range e.sealed {
		r := kmsEndpoint("kms decrypt", e.client, e.writer, http.MethodPost, e.keyURL(s.keyID, "/decrypt"),
			func() any { return map[string]any{"ciphertext": s.ciphertext} }).do(ctx)
		var out struct {
			Plaintext []byte `json:"plaintext"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil || !bytes.Equal(out.Plaintext, []byte(s.plaintext)) {
			t.Errorf("acknowledged ciphertext of key %s: want 200 with its plaintext, got %s", s.keyID, r)
		}
	}
	t.Logf("%d acknowledged keys and %d acknowledged ciphertexts checked", len(e.keys), len(e.sealed))
}

// databaseFiles are the KMS's SQLite files: system.db and one per tenant.
func (e *sqliteEnv) databaseFiles(t *testing.T) []string {
	t.Helper()
	tenants, err := filepath.Glob(filepath.Join(e.dbDir, "tenants", "*.db"))
	require.NoError(t, err)
	files := append([]string{filepath.Join(e.dbDir, "system.db")}, tenants...)
	require.Greater(t, len(files), 1, "the demo tenants' databases are in %s", e.dbDir)
	return files
}

// withEachDatabase runs fn on a connection of its own to each database
// file (beside the server's, as WAL allows).
func (e *sqliteEnv) withEachDatabase(t *testing.T, fn func(path string, conn *sql.DB)) {
	t.Helper()
	for _, path := range e.databaseFiles(t) {
		conn, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
		require.NoError(t, err)
		fn(path, conn)
		require.NoError(t, conn.Close())
	}
}

// requireIntact runs SQLite's integrity check on every database file.
func (e *sqliteEnv) requireIntact(t *testing.T) {
	t.Helper()
	e.withEachDatabase(t, func(path string, conn *sql.DB) {
		rows, err := conn.Query("PRAGMA integrity_check")
		require.NoError(t, err, "integrity check of %s", path)
		var lines []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			lines = append(lines, line)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		if !slices.Equal(lines, []string{"ok"}) {
			t.Errorf("PRAGMA integrity_check on %s: want \"ok\", got %q", path, lines)
		}
	})
}

// truncateWALs checkpoints every database and truncates its WAL file to
// nothing, so that the next write must allocate space: without it, a
// write may land in WAL space allocated before the filesystem filled up,
// and succeed.
func (e *sqliteEnv) truncateWALs(t *testing.T) {
	t.Helper()
	e.withEachDatabase(t, func(path string, conn *sql.DB) {
		for range 20 {
			var busy, logFrames, checkpointed int
			require.NoError(t, conn.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed), "checkpoint %s", path)
			if busy == 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("checkpoint of %s stayed busy", path)
	})
}

// TestSQLiteStorageFull fills the filesystem of the KMS's data directory:
// creating a key and encrypting (which writes an audit event) get 503
// "unavailable" with Retry-After, never 500; once the space is freed the
// same writes succeed, every key acknowledged before is there and usable,
// and every database file passes SQLite's integrity check.
func TestSQLiteStorageFull(t *testing.T) {
	requireSQLite(t)
	e := startKMSOnTmpfs(t)
	ctx := fixture.ITContext(t)
	e.acknowledge(t, ctx)

	e.truncateWALs(t)
	filled := e.fs.Fill(t)
	t.Logf("filesystem of %d bytes filled with %d bytes", e.fs.Size, filled)
	e.writeWhileFailing(t, ctx, "full")

	e.fs.Free(t)
	e.requireWritesRecover(t, ctx, "freed")
	e.verify(t, ctx)
	e.requireIntact(t)
}

// TestSQLiteReadOnly: the kernel makes the filesystem of the KMS's data
// directory read-only under it, as errors=remount-ro does when ext4 finds an
// error (the files the KMS has open for writing included; a plain
// `mount -o remount,ro` is refused while they are open): writes get 503
// "unavailable" with Retry-After, never 500, and the KMS keeps running.
// Then what an operator does: stop the KMS, unmount, e2fsck, mount again
// read-write, start the KMS; the same writes succeed, every key
// acknowledged before is there and usable, and every database file passes
// SQLite's integrity check.
func TestSQLiteReadOnly(t *testing.T) {
	requireSQLite(t)
	e, p := startKMSProcessOnExt4(t)
	ctx := fixture.ITContext(t)
	e.acknowledge(t, ctx)

	e.fs.ForceReadOnly(t)
	e.writeWhileFailing(t, ctx, "read-only")
	if r := readyzEndpoint("kms readyz", e.client, e.url).do(ctx); r.err != nil {
		t.Errorf("the KMS must keep answering with its storage read-only; /readyz got %s (process exit: %v)", r, p.ExitErr())
	}

	p.Stop(t)
	e.fs.Repair(t)
	p.Restart(t)
	e.requireWritesRecover(t, ctx, "read-write again")
	e.verify(t, ctx)
	e.requireIntact(t)
}
