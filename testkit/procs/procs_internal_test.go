package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunServiceRefusesAnUnknownService(t *testing.T) {
	var stderr strings.Builder
	assert.Equal(t, 2, runService("nope", nil, &stderr, &stderr))
	assert.Contains(t, stderr.String(), `"nope"`)
}

func TestLinkPKIDir(t *testing.T) {
	t.Run("default is the data dir's own", func(t *testing.T) {
		data, pki := t.TempDir(), ""
		require.NoError(t, linkPKIDir(data, &pki))
		assert.Equal(t, filepath.Join(data, "tls"), pki)
	})
	t.Run("another dir is linked, and the same link kept", func(t *testing.T) {
		data, pki := t.TempDir(), filepath.Join(t.TempDir(), "shared")
		want := pki
		require.NoError(t, linkPKIDir(data, &pki))
		assert.Equal(t, want, pki)
		target, err := os.Readlink(filepath.Join(data, "tls"))
		require.NoError(t, err)
		assert.Equal(t, want, target)
		require.NoError(t, linkPKIDir(data, &pki), "a restart or replica finds its link")
	})
	t.Run("a link elsewhere is refused", func(t *testing.T) {
		data := t.TempDir()
		first, second := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
		require.NoError(t, linkPKIDir(data, &first))
		err := linkPKIDir(data, &second)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "already links to")
	})
	t.Run("a directory of its own is refused", func(t *testing.T) {
		data := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(data, "tls"), 0o700))
		pki := t.TempDir()
		err := linkPKIDir(data, &pki)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is not a link")
	})
}

func TestNewProcRefusesAnUnknownService(t *testing.T) {
	_, err := newProc(t, Options{Service: "nope"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `service "nope"`)
}

// fatalTB records Fatalf and ends the goroutine as testing.T does, so a
// test can watch Start fail.
type fatalTB struct {
	testing.TB
	mu    sync.Mutex
	fatal string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalTB) Helper() {}

// TestStartFailsWithTheLogWhenTheServerExits: a server that cannot start
// (an unknown configuration key) fails Start at once, with its own output,
// instead of waiting out the timeout.
func TestStartFailsWithTheLogWhenTheServerExits(t *testing.T) {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, Options{Service: KMS, Config: map[string]any{"no_such_key": true}})
	}()
	<-done
	assert.Contains(t, f.fatal, "exited before it was ready")
	assert.Contains(t, f.fatal, "no_such_key", "the child's own message is shown")
}

// TestStartRefusesToRunInsideAChild: a child that runs tests (a TestMain
// without RunIfChild) stops at its first Start instead of starting more.
func TestStartRefusesToRunInsideAChild(t *testing.T) {
	t.Setenv(envService, string(KMS))
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, Options{Service: KMS})
	}()
	<-done
	assert.Contains(t, f.fatal, "must call procs.RunIfChild()")
}
