package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
)

// git runs git in dir and returns its trimmed standard output; the error
// carries git's standard error.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// baseSource says where the base commit of an A/B run comes from.
type baseSource struct {
	ref    string // what to resolve: a commit, branch or tag
	origin string // why this one, for the report
}

// chooseBase picks the base of an A/B run: the -base flag, else the commit
// the stored baseline was recorded at (its "commit:" line, written by make
// bench-update), else the merge-base of HEAD with mainRef. The baseline's
// commit comes first because allocations and counts are gated against that
// recording too: both gates then measure a change against the same code.
func chooseBase(ctx context.Context, repo, flagBase, baselinePath, mainRef string) (baseSource, error) {
	if flagBase != "" {
		return baseSource{ref: flagBase, origin: "-base"}, nil
	}
	bf, err := readFile(baselinePath, nil)
	switch {
	case err == nil && bf.commit != "":
		return baseSource{ref: bf.commit, origin: "the commit " + baselinePath + " was recorded at"}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return baseSource{}, err
	}
	mb, err := git(ctx, repo, "merge-base", "HEAD", mainRef)
	if err != nil {
		return baseSource{}, fmt.Errorf("no -base and %s names no commit; the merge-base with %s failed: %w", baselinePath, mainRef, err)
	}
	return baseSource{ref: mb, origin: "merge-base of HEAD and " + mainRef + " (" + baselinePath + " names no commit)"}, nil
}

// resolveCommit turns ref into a full commit hash, failing with advice when
// the repository does not have it: a shallow clone lacks the baseline's
// commit, and an A/B run that quietly compared something else (or nothing)
// would pass without having measured anything.
func resolveCommit(ctx context.Context, repo, ref string) (string, error) {
	sha, err := git(ctx, repo, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err == nil {
		return sha, nil
	}
	hint := "fetch it or pass another -base"
	if shallow, _ := git(ctx, repo, "rev-parse", "--is-shallow-repository"); shallow == "true" {
		hint = "this is a shallow clone: run git fetch --unshallow, or clone in full"
	}
	return "", fmt.Errorf("base commit %q is not in the repository at %s (%s): %w", ref, repo, hint, err)
}

// extractCommit writes the tree of commit into dir (which must exist), as
// git archive sees it: no repository state changes, and nothing is left to
// clean up but dir itself.
func extractCommit(ctx context.Context, repo, commit, dir string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	cmd.Dir = repo
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git archive %s: %w", commit, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive %s: %w", commit, err)
	}
	untarErr := untar(out, dir)
	// Drain what untar left (after an error) so git does not block on a full pipe.
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", commit, err, strings.TrimSpace(stderr.String()))
	}
	if untarErr != nil {
		return fmt.Errorf("extract %s: %w", commit, untarErr)
	}
	return nil
}

// untar unpacks the regular files, directories and symbolic links of a tar
// stream under dir. os.Root keeps every entry, symbolic links included,
// inside dir.
func untar(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o755)
		case tar.TypeReg:
			err = writeEntry(root, name, hdr.FileInfo().Mode().Perm(), tr)
		case tar.TypeSymlink:
			if err = root.MkdirAll(path.Dir(name), 0o755); err == nil {
				err = root.Symlink(hdr.Linkname, name)
			}
		default:
			continue // pax headers (git archive's commit id) and the like
		}
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

func writeEntry(root *os.Root, name string, perm fs.FileMode, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
