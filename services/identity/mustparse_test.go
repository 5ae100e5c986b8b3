package identity_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoMustParseInProductionCode keeps uuid.MustParse out of the service's
// code: an id that arrives in a request (a token's tenant, a path) is parsed
// with an error that becomes a clear OAuth or problem answer, and an id the
// service holds is carried as a uuid.UUID, so no request can panic a handler.
func TestNoMustParseInProductionCode(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "MustParse" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "uuid" {
					t.Errorf("%s: uuid.MustParse; parse with an error or carry a uuid.UUID", fset.Position(sel.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
