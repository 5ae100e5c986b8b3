package ci_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeLinksEveryPackage: the README's layout table links every Go
// package of the repository, so a new package cannot go undocumented.
func TestReadmeLinksEveryPackage(t *testing.T) {
	root := ".."
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	pkgs := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			pkgs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, pkgs)
	for pkg := range pkgs {
		if pkg == "." {
			continue
		}
		assert.True(t, strings.Contains(string(readme), "]("+pkg+")"), "README.md's layout table does not link %s", pkg)
	}
}
