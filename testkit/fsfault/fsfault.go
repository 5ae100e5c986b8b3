// Package fsfault gives a test a small filesystem of its own, mounted on a
// temporary directory, that it can break the ways storage breaks under a
// service: full (Fill), read-only by an operator's remount (ReadOnly, which
// Linux allows only while no file there is open for writing), or forced
// read-only by the kernel after a filesystem error (ForceReadOnly, on ext4
// with errors=remount-ro: files open for writing get EROFS from then on, and
// only an unmount, a check and a new mount (Repair) make it writable again).
//
// Mounting needs root (and, for ext4, a loop device, mkfs.ext4 and
// e2fsck): without them the test is skipped, or fails under CI=true, where
// a skip would hide that the test never ran.
package fsfault

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FS is a mounted test filesystem.
type FS struct {
	// Dir is the mount point.
	Dir string
	// Size is the filesystem's size in bytes.
	Size int64

	image     string // the ext4 image file; "" for a tmpfs
	filler    string
	watcher   *exec.Cmd
	watcherIn io.WriteCloser
}

// Tmpfs mounts a tmpfs of size bytes on a fresh directory. It is unmounted
// when the test ends (after the cleanups registered later, so a service
// started on it afterwards is stopped first), and also if the test process
// dies without running its cleanups.
func Tmpfs(t testing.TB, size int64) *FS {
	t.Helper()
	f := prepare(t, size)
	if err := run("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", f.Dir); err != nil {
		unavailable(t, err.Error())
	}
	f.mounted(t)
	return f
}

// Ext4 mounts an ext4 filesystem of size bytes, from an image file on a
// loop device, with errors=remount-ro (as data filesystems commonly are)
// and no journal (so that a forced read-only state leaves no aborted
// journal behind, and Repair can make it writable again). Cleanup is as
// for Tmpfs.
func Ext4(t testing.TB, size int64) *FS {
	t.Helper()
	f := prepare(t, size)
	for _, tool := range []string{"mkfs.ext4", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, tool+" is missing (Debian: apt-get install e2fsprogs)")
		}
	}
	f.image = filepath.Join(filepath.Dir(f.Dir), "ext4.img")
	if err := os.WriteFile(f.image, nil, 0o600); err != nil {
		t.Fatalf("fsfault: %v", err)
	}
	if err := os.Truncate(f.image, size); err != nil {
		t.Fatalf("fsfault: size the image: %v", err)
	}
	// -m 0: no blocks reserved for root, so Fill fills it for everyone.
	if err := run("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", f.image); err != nil {
		t.Fatalf("fsfault: %v", err)
	}
	if err := f.mountExt4(); err != nil {
		unavailable(t, err.Error())
	}
	f.mounted(t)
	return f
}

// prepare checks root and size and makes the mount point.
func prepare(t testing.TB, size int64) *FS {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "mounting a filesystem needs root")
	}
	if size <= 0 {
		t.Fatalf("fsfault: size %d: want a positive number of bytes", size)
	}
	f := &FS{Dir: filepath.Join(t.TempDir(), "mnt"), Size: size}
	if err := os.Mkdir(f.Dir, 0o700); err != nil {
		t.Fatalf("fsfault: %v", err)
	}
	f.filler = filepath.Join(f.Dir, ".filler")
	return f
}

// mounted registers the unmount, and the watcher that unmounts if the test
// process dies first.
func (f *FS) mounted(t testing.TB) {
	t.Helper()
	if err := f.watch(); err != nil {
		t.Errorf("fsfault: %v", err)
	}
	t.Cleanup(func() {
		if err := f.unmount(); err != nil {
			t.Errorf("fsfault: %v", err)
		}
	})
}

func (f *FS) mountExt4() error {
	// The loop device is released by the unmount (mount sets autoclear).
	return run("mount", "-t", "ext4", "-o", "loop,errors=remount-ro", f.image, f.Dir)
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("fsfault: CI=true but the test filesystem cannot be mounted: %s", why)
	}
	t.Skipf("fsfault: the test filesystem cannot be mounted here (%s); run as root to run this test", why)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// watch starts a process that detaches the mount once its standard input
// closes: at unmount, or when the test process dies. It ignores the
// terminal's signals, so a Ctrl-C meant for the test does not end it first.
func (f *FS) watch() error {
	cmd := exec.Command("sh", "-c", `trap '' INT HUP TERM QUIT; read -r _; umount -l "$0" 2>/dev/null; true`, f.Dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("unmount watcher: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start unmount watcher: %w", err)
	}
	f.watcher, f.watcherIn = cmd, in
	return nil
}

// unmountTries bounds the retries of an unmount refused because something
// still has a file open there (a server's last connection closing).
const unmountTries = 20

// umount unmounts, retrying while busy.
func (f *FS) umount() error {
	var err error
	for try := range unmountTries {
		if err = run("umount", f.Dir); err == nil {
			return nil
		}
		time.Sleep(time.Duration(try+1) * 10 * time.Millisecond)
	}
	return err
}

func (f *FS) unmount() error {
	err := f.umount()
	if err != nil {
		// Detached now, freed when the last file is closed.
		err = errors.Join(err, run("umount", "-l", f.Dir))
	}
	if f.watcherIn != nil {
		_ = f.watcherIn.Close()
		_ = f.watcher.Wait()
	}
	return err
}

// RemountReadOnly remounts the filesystem read-only. Linux refuses (EBUSY,
// "mount point is busy") while any process has a file on it open for
// writing, so this works only when nothing has; the error says so.
func (f *FS) RemountReadOnly() error {
	if err := run("mount", "-o", "remount,ro", f.Dir); err != nil {
		return fmt.Errorf("remount %s read-only (Linux refuses while a file there is open for writing): %w", f.Dir, err)
	}
	return nil
}

// ReadOnly remounts the filesystem read-only, failing the test when it
// cannot be (see RemountReadOnly).
func (f *FS) ReadOnly(t testing.TB) {
	t.Helper()
	if err := f.RemountReadOnly(); err != nil {
		t.Fatalf("fsfault: %v", err)
	}
}

// ReadWrite remounts the filesystem read-write.
func (f *FS) ReadWrite(t testing.TB) {
	t.Helper()
	if err := run("mount", "-o", "remount,rw", f.Dir); err != nil {
		t.Fatalf("fsfault: remount %s read-write: %v", f.Dir, err)
	}
}

// ForceReadOnly makes the kernel report an error on the ext4 filesystem
// (its sysfs trigger_fs_error, meant for tests), upon which errors=remount-ro
// makes it read-only at once, files already open for writing included:
// their writes fail with EROFS, as on a disk whose filesystem found an
// error. It fails the test unless a write then fails with EROFS. Repair
// makes the filesystem writable again.
//
// It first flushes the filesystem (syncfs), as a remount read-only does:
// what was written before is on the disk, and the test is about the
// failure from then on. Without the flush the kernel drops the pages not
// yet written back, which is a power loss, where SQLite with
// synchronous=NORMAL may lose its last commits by design.
func (f *FS) ForceReadOnly(t testing.TB) {
	t.Helper()
	if f.image == "" {
		t.Fatalf("fsfault: ForceReadOnly needs an Ext4 filesystem")
	}
	if err := run("sync", "-f", f.Dir); err != nil {
		t.Fatalf("fsfault: flush before the error: %v", err)
	}
	dev, err := f.device()
	if err != nil {
		t.Fatalf("fsfault: %v", err)
	}
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(dev), "trigger_fs_error")
	if err := os.WriteFile(trigger, []byte("fsfault test error\n"), 0o200); err != nil {
		unavailable(t, fmt.Sprintf("cannot trigger a filesystem error through %s: %v", trigger, err))
	}
	probe := filepath.Join(f.Dir, ".probe")
	err = os.WriteFile(probe, []byte("x"), 0o600)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("fsfault: after the filesystem error, want writes to fail with EROFS, got %v", err)
	}
}

// device returns the block device mounted on Dir, from /proc/self/mounts.
func (f *FS) device() (string, error) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	dev := ""
	for _, line := range strings.Split(string(b), "\n") {
		if fields := strings.Fields(line); len(fields) > 2 && fields[1] == f.Dir {
			dev = fields[0] // the last mount on Dir is the visible one
		}
	}
	if dev == "" {
		return "", fmt.Errorf("nothing is mounted on %s", f.Dir)
	}
	return dev, nil
}

// Repair is what an operator does after ForceReadOnly: unmount (whatever
// used the filesystem must have stopped), check and fix it with e2fsck, and
// mount it again, writable.
func (f *FS) Repair(t testing.TB) {
	t.Helper()
	if f.image == "" {
		t.Fatalf("fsfault: Repair needs an Ext4 filesystem")
	}
	if err := f.umount(); err != nil {
		t.Fatalf("fsfault: unmount for repair (is everything using it stopped?): %v", err)
	}
	// Exit status 1 is "errors corrected": the error just triggered is
	// recorded in the superblock and cleared here.
	out, err := exec.Command("e2fsck", "-f", "-y", f.image).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() > 1) {
		t.Fatalf("fsfault: e2fsck: %v: %s", err, out)
	}
	if err := f.mountExt4(); err != nil {
		t.Fatalf("fsfault: mount after repair: %v", err)
	}
}

// fillChunk is the size of each write of the filler file.
const fillChunk = 1 << 20

// Fill writes a filler file until the filesystem is full (the write fails
// with ENOSPC) and returns how many bytes it holds. Less than a block may
// remain free. Free removes the filler.
func (f *FS) Fill(t testing.TB) int64 {
	t.Helper()
	file, err := os.OpenFile(f.filler, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("fsfault: open filler: %v", err)
	}
	defer func() { _ = file.Close() }()
	chunk := make([]byte, fillChunk)
	var written int64
	// A full filesystem ends the loop long before the bound: it is there
	// only so a filesystem that never reports full cannot loop forever.
	for range f.Size/fillChunk + 2 {
		n, err := file.Write(chunk)
		written += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return written
		}
		if err != nil {
			t.Fatalf("fsfault: write filler: %v", err)
		}
	}
	t.Fatalf("fsfault: wrote %d bytes to a %d-byte filesystem and it is not full", written, f.Size)
	return written
}

// Free removes the filler file, giving its space back.
func (f *FS) Free(t testing.TB) {
	t.Helper()
	if err := os.Remove(f.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fsfault: remove filler: %v", err)
	}
}
