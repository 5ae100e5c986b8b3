package fsfault_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/fsfault"
)

const size = 2 << 20

// TestFillFreeAndReadOnly: the mount is a filesystem of its own of the
// given size; Fill leaves no room for a write (ENOSPC) and Free gives it
// back; read-only refuses writes (EROFS) until read-write again; and the
// mount is gone after the test.
func TestFillFreeAndReadOnly(t *testing.T) {
	var dir string
	t.Run("mounted", func(t *testing.T) {
		fs := fsfault.Tmpfs(t, size)
		dir = fs.Dir
		requireMounted(t, fs.Dir, true)
		var st syscall.Statfs_t
		require.NoError(t, syscall.Statfs(fs.Dir, &st))
		assert.Equal(t, int64(size), int64(st.Blocks)*st.Bsize, "the filesystem has the size asked for")

		kept := filepath.Join(fs.Dir, "kept")
		require.NoError(t, os.WriteFile(kept, []byte("before"), 0o600))

		n := fs.Fill(t)
		assert.Greater(t, n, int64(size/2), "the filler took the free space")
		err := os.WriteFile(filepath.Join(fs.Dir, "more"), make([]byte, 64<<10), 0o600)
		assert.True(t, errors.Is(err, syscall.ENOSPC), "want ENOSPC writing to the full filesystem, got %v", err)
		fs.Free(t)
		require.NoError(t, os.WriteFile(filepath.Join(fs.Dir, "more"), make([]byte, 64<<10), 0o600), "writes succeed once freed")
		fs.Free(t) // freeing twice is harmless

		fs.ReadOnly(t)
		err = os.WriteFile(filepath.Join(fs.Dir, "ro"), []byte("x"), 0o600)
		assert.True(t, errors.Is(err, syscall.EROFS), "want EROFS writing to the read-only filesystem, got %v", err)
		got, err := os.ReadFile(kept)
		require.NoError(t, err)
		assert.Equal(t, "before", string(got), "files stay readable read-only")
		fs.ReadWrite(t)
		require.NoError(t, os.WriteFile(filepath.Join(fs.Dir, "rw"), []byte("x"), 0o600), "writes succeed read-write again")

		// Linux will not remount read-only under an open writer; the
		// error says why.
		w, err := os.OpenFile(filepath.Join(fs.Dir, "open"), os.O_WRONLY|os.O_CREATE, 0o600)
		require.NoError(t, err)
		err = fs.RemountReadOnly()
		require.NoError(t, w.Close())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "open for writing")
	})
	requireMounted(t, dir, false)
}

// requireMounted checks /proc/self/mounts for a tmpfs on dir.
func requireMounted(t *testing.T, dir string, want bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == dir && f[2] == "tmpfs" {
			found = true
		}
	}
	require.Equal(t, want, found, "tmpfs mounted on %s", dir)
}

// TestExt4ForceReadOnlyAndRepair: after ForceReadOnly a file already open
// for writing gets EROFS (which a remount cannot do), and after Repair the
// filesystem is writable again with its files kept.
func TestExt4ForceReadOnlyAndRepair(t *testing.T) {
	fs := fsfault.Ext4(t, 16<<20)
	kept := filepath.Join(fs.Dir, "kept")
	w, err := os.OpenFile(kept, os.O_WRONLY|os.O_CREATE, 0o600)
	require.NoError(t, err)
	_, err = w.Write([]byte("before"))
	require.NoError(t, err)
	require.NoError(t, w.Sync())

	fs.ForceReadOnly(t)
	_, err = w.Write([]byte("after"))
	if err == nil {
		err = w.Sync()
	}
	assert.True(t, errors.Is(err, syscall.EROFS), "want EROFS writing through a file opened before, got %v", err)
	_ = w.Close()

	fs.Repair(t)
	got, err := os.ReadFile(kept)
	require.NoError(t, err)
	assert.Equal(t, "before", string(got))
	require.NoError(t, os.WriteFile(filepath.Join(fs.Dir, "new"), []byte("x"), 0o600), "writable after repair")
	assert.Greater(t, fs.Fill(t), int64(8<<20))
	fs.Free(t)
}
