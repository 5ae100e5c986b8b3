package kms_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// deprecatedJOSE are the go-jose v4 functions documented as deprecated (go doc says so): they accept either
// serialization, where a caller knows which one it expects and should parse only that.
var deprecatedJOSE = map[string]string{
	"ParseSigned":    "ParseSignedCompact or ParseSignedJSON",
	"ParseEncrypted": "ParseEncryptedCompact or ParseEncryptedJSON",
}

// TestScenariosUseNoDeprecatedJOSEParsers walks every Go file of the scenario suites (tests included) and
// refuses calls to the deprecated go-jose parsers, whatever name the package is imported under.
func TestScenariosUseNoDeprecatedJOSEParsers(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		names := map[string]bool{}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, "github.com/go-jose/go-jose/") {
				continue
			}
			name := "jose"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			names[name] = true
		}
		if len(names) == 0 {
			return nil
		}
		files++
		f, err = parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] {
				if instead, deprecated := deprecatedJOSE[sel.Sel.Name]; deprecated {
					t.Errorf("%s: %s.%s is deprecated; use %s", fset.Position(sel.Pos()), id.Name, sel.Sel.Name, instead)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no scenario file imports go-jose: the walk looks in the wrong place")
	}
}
