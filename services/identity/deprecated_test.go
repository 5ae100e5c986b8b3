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

// TestNoDeprecatedECCoordinates keeps the deprecated big.Int view of EC keys out of the service, tests
// included: no ecdsa.PublicKey literal with X or Y (ParseUncompressedPublicKey and PublicKey.Bytes encode
// and decode a point), and no elliptic.Marshal or elliptic.Unmarshal. go doc marks all of them deprecated:
// raw coordinates can describe a point not on the curve, and big.Int is not constant-time.
func TestNoDeprecatedECCoordinates(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if !isSelector(n.Type, "ecdsa", "PublicKey") {
					return true
				}
				for _, elt := range n.Elts {
					if kv, ok := elt.(*ast.KeyValueExpr); ok {
						if id, ok := kv.Key.(*ast.Ident); ok && (id.Name == "X" || id.Name == "Y") {
							t.Errorf("%s: ecdsa.PublicKey{%s: ...}; use ecdsa.ParseUncompressedPublicKey", fset.Position(kv.Pos()), id.Name)
						}
					}
				}
			case *ast.SelectorExpr:
				if isSelector(n, "elliptic", "Marshal") || isSelector(n, "elliptic", "Unmarshal") {
					t.Errorf("%s: elliptic.%s; use ecdsa.PublicKey.Bytes or ecdsa.ParseUncompressedPublicKey", fset.Position(n.Pos()), n.Sel.Name)
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

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}
