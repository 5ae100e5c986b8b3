package fsfault

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTB records how a helper ended the test instead of ending it.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs fn with a fakeTB in a goroutine of its own (Fatalf and Skipf
// end it, as they end a test).
func call(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

// TestUnavailableSkipsOrFailsUnderCI: a machine that cannot mount skips the
// test with the reason, except under CI=true, where it fails.
func TestUnavailableSkipsOrFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "")
	f := call(t, func(tb testing.TB) { unavailable(tb, "no root") })
	assert.Contains(t, f.skip, "no root")
	assert.Empty(t, f.fatal)

	t.Setenv("CI", "true")
	f = call(t, func(tb testing.TB) { unavailable(tb, "no root") })
	assert.Contains(t, f.fatal, "CI=true")
	assert.Empty(t, f.skip)
}

func TestMountRefusesANonPositiveSize(t *testing.T) {
	t.Setenv("CI", "")
	f := call(t, func(tb testing.TB) { Tmpfs(tb, 0) })
	assert.True(t, f.fatal != "" || f.skip != "", "a size of 0 is refused (or, without root, skipped)")
}

// TestFailuresOnAPlainDirectory: remounting or filling a directory that is
// not a mount fails the test with the command's error.
func TestFailuresOnAPlainDirectory(t *testing.T) {
	dir := t.TempDir()
	fs := &FS{Dir: filepath.Join(dir, "nothing"), Size: 1 << 20, filler: filepath.Join(dir, "nothing", "f")}
	assert.Error(t, fs.RemountReadOnly())
	assert.Contains(t, call(t, fs.ReadOnly).fatal, "remount")
	assert.Contains(t, call(t, fs.ReadWrite).fatal, "read-write")
	assert.Contains(t, call(t, func(tb testing.TB) { fs.Fill(tb) }).fatal, "filler")
	assert.Error(t, fs.unmount())
}

// TestExt4OnlyOperationsRefuseATmpfs: forcing an error and repairing need
// the ext4 image; on anything else they fail the test saying so.
func TestExt4OnlyOperationsRefuseATmpfs(t *testing.T) {
	fs := &FS{Dir: t.TempDir(), Size: 1 << 20}
	assert.Contains(t, call(t, fs.ForceReadOnly).fatal, "needs an Ext4")
	assert.Contains(t, call(t, fs.Repair).fatal, "needs an Ext4")
}

// TestDeviceOfAPlainDirectory: a directory with nothing mounted on it has
// no device, and the error names it.
func TestDeviceOfAPlainDirectory(t *testing.T) {
	fs := &FS{Dir: t.TempDir()}
	_, err := fs.device()
	require.Error(t, err)
	assert.Contains(t, err.Error(), fs.Dir)
}

// TestFreeFailsWhenTheFillerCannotBeRemoved: Free fails the test when the
// filler is there and cannot be removed, and is quiet when it is absent.
func TestFreeFailsWhenTheFillerCannotBeRemoved(t *testing.T) {
	dir := t.TempDir()
	fs := &FS{Dir: dir, filler: filepath.Join(dir, ".filler")}
	assert.Empty(t, call(t, fs.Free).fatal, "no filler: nothing to do")
	require.NoError(t, os.MkdirAll(filepath.Join(fs.filler, "in-the-way"), 0o700))
	assert.Contains(t, call(t, fs.Free).fatal, "remove filler")
}
