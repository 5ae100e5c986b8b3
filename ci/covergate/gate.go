package covergate

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Status is the verdict for one package.
type Status string

// Verdicts, as printed in the table.
const (
	StatusOK        Status = "ok"
	StatusFail      Status = "FAIL"
	StatusThinMain  Status = "thin main (exempt)"
	StatusUngated   Status = "not gated"
	StatusNoStmts   Status = "no statements"
	StatusMissing   Status = "FAIL (missing from profile)"
	defaultThinMain        = 15
)

// Policy says which packages are gated and at what threshold.
type Policy struct {
	// Root is the module root; generated-code checks read sources under it.
	Root string
	// Threshold is the default minimum statement coverage in percent.
	Threshold float64
	// Overrides maps a package path relative to the module ("services/kms/httpapi")
	// or a subtree ("services/kms/...") to its own threshold. The longest match wins.
	Overrides map[string]float64
	// Gated lists the module-relative path prefixes whose packages must pass
	// ("services/", "testkit/"). Other packages are reported as not gated.
	Gated []string
	// ThinMain is the largest statement count for which a main package is
	// exempt: a thin main only wires flags to a tested library. Negative
	// disables the exemption.
	ThinMain int
	// AllowMissing accepts gated packages that have code but no blocks in
	// the profile. Off by default: a package nobody compiled into the
	// profile would otherwise escape the gate silently.
	AllowMissing bool
}

// PackageResult is one row of the report.
type PackageResult struct {
	Package    string // module-relative ("services/infra/ids"); full import path outside the module
	Statements int
	Covered    int
	Main       bool
	Threshold  float64
	Status     Status
}

// Percent is the statement coverage; 0 statements count as 100%.
func (r PackageResult) Percent() float64 {
	if r.Statements == 0 {
		return 100
	}
	return 100 * float64(r.Covered) / float64(r.Statements)
}

// Failed reports whether this row fails the gate.
func (r PackageResult) Failed() bool {
	return r.Status == StatusFail || r.Status == StatusMissing
}

// Result is the whole verdict.
type Result struct {
	Packages  []PackageResult // sorted by package
	Generated []string        // module-relative files excluded as generated, sorted
	Policy    Policy
}

// FailedPackages returns the rows that fail the gate.
func (r *Result) FailedPackages() []PackageResult {
	var out []PackageResult
	for _, p := range r.Packages {
		if p.Failed() {
			out = append(out, p)
		}
	}
	return out
}

// Evaluate applies pol to the merged profile p.
func Evaluate(p *Profile, pol Policy) (*Result, error) {
	modPath, err := ModulePath(pol.Root)
	if err != nil {
		return nil, err
	}
	res := &Result{Policy: pol}
	rows := map[string]*PackageResult{}
	infos := map[string]sourceInfo{} // per file, read once
	for _, b := range p.Blocks() {
		rel, inModule := strings.CutPrefix(b.File, modPath+"/")
		if !inModule {
			rel = b.File
		}
		info, seen := infos[rel]
		if !seen && inModule {
			info, err = inspectSource(filepath.Join(pol.Root, filepath.FromSlash(rel)))
			if err != nil {
				// A gate that cannot check a file must not pass it silently.
				return nil, fmt.Errorf("profile names %s: %w", b.File, err)
			}
			infos[rel] = info
			if info.Generated {
				res.Generated = append(res.Generated, rel)
			}
		}
		pkg := path.Dir(rel)
		row := rows[pkg]
		if row == nil {
			// Created even for a generated file, so a package of generated
			// code shows as "no statements" rather than vanishing.
			row = &PackageResult{Package: pkg}
			rows[pkg] = row
		}
		if info.Generated {
			continue
		}
		row.Statements += b.NumStmt
		if b.Count > 0 {
			row.Covered += b.NumStmt
		}
		if info.Package == "main" {
			row.Main = true
		}
	}
	if err := addMissing(pol, rows); err != nil {
		return nil, err
	}
	for _, row := range rows {
		row.Threshold = pol.thresholdFor(row.Package)
		if row.Status == "" {
			row.Status = pol.verdict(*row)
		}
		res.Packages = append(res.Packages, *row)
	}
	sort.Slice(res.Packages, func(i, j int) bool { return res.Packages[i].Package < res.Packages[j].Package })
	sort.Strings(res.Generated)
	return res, nil
}

func (pol Policy) gated(pkg string) bool {
	for _, g := range pol.Gated {
		g = strings.TrimSuffix(g, "/")
		if pkg == g || strings.HasPrefix(pkg, g+"/") {
			return true
		}
	}
	return false
}

func (pol Policy) thresholdFor(pkg string) float64 {
	best, bestLen := pol.Threshold, -1
	for pattern, min := range pol.Overrides {
		match := pattern == pkg
		if sub, ok := strings.CutSuffix(pattern, "/..."); ok {
			match = pkg == sub || strings.HasPrefix(pkg, sub+"/")
		}
		if match && len(pattern) > bestLen {
			best, bestLen = min, len(pattern)
		}
	}
	return best
}

func (pol Policy) verdict(r PackageResult) Status {
	switch {
	case !pol.gated(r.Package):
		return StatusUngated
	case r.Statements == 0:
		return StatusNoStmts
	case r.Main && pol.ThinMain >= 0 && r.Statements <= pol.ThinMain:
		return StatusThinMain
	// Cross-multiplied rather than divided, so 79.99% never rounds up to a
	// pass. r.Threshold is set by Evaluate before it asks for the verdict.
	case float64(r.Covered)*100 < r.Threshold*float64(r.Statements):
		return StatusFail
	default:
		return StatusOK
	}
}

// addMissing walks the gated trees for packages with code that the profile
// does not mention, so a package left out of `go test -coverpkg` fails
// instead of vanishing from the table.
func addMissing(pol Policy, rows map[string]*PackageResult) error {
	for _, g := range pol.Gated {
		dir := filepath.Join(pol.Root, filepath.FromSlash(strings.TrimSuffix(g, "/")))
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue // nothing of this tree exists yet
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			name := d.Name()
			if p != dir && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			rel, err := filepath.Rel(pol.Root, p)
			if err != nil {
				return err
			}
			pkg := filepath.ToSlash(rel)
			if _, ok := rows[pkg]; ok {
				return nil
			}
			code, main, err := packageHasCode(p)
			if err != nil || !code {
				return err
			}
			status := StatusMissing
			if pol.AllowMissing {
				status = StatusUngated
			}
			rows[pkg] = &PackageResult{Package: pkg, Main: main, Status: status}
			return nil
		})
		if err != nil {
			return fmt.Errorf("walk %s: %w", dir, err)
		}
	}
	return nil
}

// packageHasCode reports whether dir holds non-test, non-generated Go files
// with at least one function body: only function bodies carry coverable
// statements, so a package of types and constants is legitimately absent.
func packageHasCode(dir string) (code, main bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, false, err
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		full := filepath.Join(dir, n)
		info, err := inspectSource(full)
		if err != nil {
			return false, false, err
		}
		if info.Generated {
			continue
		}
		f, err := parser.ParseFile(fset, full, nil, parser.SkipObjectResolution)
		if err != nil {
			return false, false, fmt.Errorf("parse %s: %w", full, err)
		}
		if info.Package == "main" {
			main = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch fn := n.(type) {
			case *ast.FuncDecl:
				if fn.Body != nil && len(fn.Body.List) > 0 {
					code = true
				}
			case *ast.FuncLit:
				if len(fn.Body.List) > 0 {
					code = true
				}
			}
			return !code
		})
	}
	return code, main, nil
}
