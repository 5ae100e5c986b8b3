package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxSecretSize bounds a secret file: secrets are keys and passwords, not
// documents, and a huge file is a misconfiguration.
const maxSecretSize = 64 << 10

var (
	// ErrEmptySecret means a secret file holds nothing (after its trailing newline).
	ErrEmptySecret = errors.New("secret file is empty")
	// ErrSecretPermissions is wrapped by CheckSecretMode's warning.
	ErrSecretPermissions = errors.New("secret file is accessible to group or others")
)

// ReadSecret reads a secret from a file (a `*_file` setting or a Docker
// secret). Exactly one trailing newline ("\n" or "\r\n") is removed, since
// editors and `echo` add one; an empty secret is refused, as are non-regular
// files and files over 64 KiB. It does not judge permissions: Docker mounts
// secrets world-readable inside the container, so refusing would break the
// normal deployment. Call CheckSecretMode and log its error as a warning.
func ReadSecret(path string) ([]byte, error) {
	data, err := readLimited(path, maxSecretSize)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if b, ok := bytes.CutSuffix(data, []byte("\r\n")); ok {
		data = b
	} else {
		data, _ = bytes.CutSuffix(data, []byte("\n"))
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("read secret %s: %w", path, ErrEmptySecret)
	}
	return data, nil
}

// CheckSecretMode returns an error wrapping ErrSecretPermissions when the file
// at path grants any permission to group or others. It is advice for a
// warning log line, not a reason to refuse to start.
func CheckSecretMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check secret: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o: %w (want 0600 or 0400)", path, perm, ErrSecretPermissions)
	}
	return nil
}

// ReadSecretFiles reads a map of secret files by name (a `*_files` setting
// such as demo.password_files) with ReadSecret: the secret of each name. A
// relative path is resolved against baseDir, the config file's directory
// (unless baseDir is empty). Errors name the entry by its config key, as
// key[name], so the operator knows which line to fix; names are read in
// sorted order, so the same configuration fails the same way each time.
func ReadSecretFiles(key string, files map[string]string, baseDir string) (map[string]string, error) {
	out := make(map[string]string, len(files))
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := files[name]
		if path != "" && !filepath.IsAbs(path) && baseDir != "" {
			path = filepath.Join(baseDir, path)
		}
		b, err := ReadSecret(path)
		if err != nil {
			return nil, fmt.Errorf("%s[%s]: %w", key, name, err)
		}
		out[name] = string(b)
	}
	return out, nil
}

// CheckSecretFiles reports, for the setting key, each name of files that is
// not among names (what says what a name is, e.g. "demo user") and each
// entry without a path: one error each, in name order, for a service's
// Validate to report beside its own rules.
func CheckSecretFiles(key string, files map[string]string, what string, names []string) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !slices.Contains(names, name) {
			errs = append(errs, fmt.Errorf("%s: %q is not a %s (%s)", key, name, what, strings.Join(names, ", ")))
		}
		if files[name] == "" {
			errs = append(errs, fmt.Errorf("%s[%s]: empty path", key, name))
		}
	}
	return errs
}
