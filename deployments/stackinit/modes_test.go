package stackinit_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/deployments/stackinit"
)

// childDirEnv makes the test binary a bootstrap run by an unprivileged
// user (see runAsUser) instead of running the tests.
const childDirEnv = "STACKINIT_TEST_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if err := stackinit.Run(stackinit.Options{Dir: dir, Root: os.Geteuid() == 0}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	containerUID = stackinit.ContainerUID
	developerUID = stackinit.ContainerUID + 1 // someone other than the container user
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files owned by another user")
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

func owner(t *testing.T, path string) int {
	t.Helper()
	st, err := os.Lstat(path)
	require.NoError(t, err)
	return int(st.Sys().(*syscall.Stat_t).Uid)
}

// clientsDir makes tls/clients as the demo KMS container does: its own and
// private to it, with a private file inside.
func clientsDir(t *testing.T, tlsDir string) (dir, file string) {
	t.Helper()
	dir, file = filepath.Join(tlsDir, "clients"), filepath.Join(tlsDir, "clients", "demo-key.pem")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.WriteFile(file, []byte("key"), 0o600))
	require.NoError(t, os.Chown(file, containerUID, containerUID))
	require.NoError(t, os.Chown(dir, containerUID, containerUID))
	require.NoError(t, os.Chmod(dir, 0o700))
	return dir, file
}

func TestRunDirIsPrivate(t *testing.T) {
	for _, root := range []bool{false, true} {
		t.Run(fmt.Sprintf("root=%v", root), func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.Chmod(dir, 0o755))
			require.NoError(t, stackinit.Run(stackinit.Options{Dir: dir, UID: os.Getuid(), GID: os.Getgid(), Root: root}))
			assert.Equal(t, os.FileMode(0o700), mode(t, dir), "the keys under it are readable by all")

			fresh := filepath.Join(t.TempDir(), "a", "run")
			require.NoError(t, stackinit.Run(stackinit.Options{Dir: fresh, UID: os.Getuid(), GID: os.Getgid(), Root: root}))
			assert.Equal(t, os.FileMode(0o700), mode(t, fresh))
		})
	}
}

func TestNonRootOpensTheTLSDirAndLeavesTheContainersEntries(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	opts := stackinit.Options{Dir: dir, Root: false}
	require.NoError(t, stackinit.Run(opts))
	tlsDir := filepath.Join(dir, stackinit.TLSDir)
	clients, key := clientsDir(t, tlsDir)
	require.NoError(t, os.Chmod(filepath.Join(tlsDir, "kms.pem"), 0o600))

	require.NoError(t, stackinit.Run(opts))
	assert.Equal(t, os.FileMode(0o777), mode(t, tlsDir), "the container user writes its client certificates here")
	assert.Equal(t, os.FileMode(0o644), mode(t, filepath.Join(tlsDir, "kms.pem")), "our files are fixed")
	assert.Equal(t, os.FileMode(0o700), mode(t, clients), "the container's directory is left as it is")
	assert.Equal(t, os.FileMode(0o600), mode(t, key))
	assert.Equal(t, containerUID, owner(t, clients))
}

func TestRootGivesTheTLSDirToTheContainerUser(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	opts := stackinit.Options{Dir: dir, UID: containerUID, GID: containerUID, Root: true}
	require.NoError(t, stackinit.Run(opts))
	tlsDir := filepath.Join(dir, stackinit.TLSDir)
	clients, key := clientsDir(t, tlsDir)
	require.NoError(t, os.Chown(filepath.Join(tlsDir, "kms.pem"), 0, 0))

	require.NoError(t, stackinit.Run(opts))
	for _, p := range []string{tlsDir, filepath.Join(tlsDir, "kms.pem"), filepath.Join(tlsDir, "kms-key.pem"), clients, key} {
		assert.Equal(t, containerUID, owner(t, p), p)
	}
	assert.Equal(t, os.FileMode(0o700), mode(t, clients), "root only chowns")
	sec := filepath.Join(dir, stackinit.SecretsDir)
	assert.Equal(t, os.FileMode(0o700), mode(t, sec))
	assert.Equal(t, os.FileMode(0o644), mode(t, filepath.Join(sec, "kms-unseal-1")))
}

// TestSecondRunByADeveloperAfterTheDemo is the bootstrap run twice by an
// unprivileged developer, with the demo KMS container's private clients/
// directory made in between: the second run may neither chmod nor read it.
func TestSecondRunByADeveloperAfterTheDemo(t *testing.T) {
	requireRoot(t)
	base, err := os.MkdirTemp("", "stackinit-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	bin := filepath.Join(base, "stackinit.test")
	copyExecutable(t, bin)
	dir := filepath.Join(base, "run")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.Chown(dir, developerUID, developerUID))

	runAsUser(t, bin, dir, developerUID)
	tlsDir := filepath.Join(dir, stackinit.TLSDir)
	clients, key := clientsDir(t, tlsDir)
	require.NoError(t, os.Chmod(filepath.Join(tlsDir, "kms.pem"), 0o600))

	runAsUser(t, bin, dir, developerUID)
	assert.Equal(t, os.FileMode(0o644), mode(t, filepath.Join(tlsDir, "kms.pem")))
	assert.Equal(t, os.FileMode(0o700), mode(t, clients))
	assert.Equal(t, os.FileMode(0o600), mode(t, key))
	assert.Equal(t, developerUID, owner(t, filepath.Join(dir, stackinit.SecretsDir, "kms-unseal-1")))
}

func copyExecutable(t *testing.T, to string) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	in, err := os.Open(self)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// runAsUser runs the bootstrap on dir as uid, in the test binary bin.
func runAsUser(t *testing.T, bin, dir string, uid int) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{childDirEnv + "=" + dir}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "stackinit as uid %s: %s", strconv.Itoa(uid), out)
}
