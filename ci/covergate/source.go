package covergate

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// generatedRE is the Go convention for generated files
// (https://go.dev/s/generatedcode): the line must appear before the package
// clause.
var generatedRE = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

// ModulePath reads the module path from root/go.mod.
func ModulePath(root string) (string, error) {
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("module root %s: %w", root, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(mod), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s/go.mod: %w", root, err)
	}
	return "", fmt.Errorf("%s/go.mod: no module line", root)
}

// sourceInfo is what the gate needs to know about one source file.
type sourceInfo struct {
	Generated bool
	Package   string // name in the package clause, e.g. "main"
}

// inspectSource reads the header of a Go file up to its package clause.
func inspectSource(path string) (sourceInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return sourceInfo{}, fmt.Errorf("inspect source: %w", err)
	}
	defer f.Close()
	var info sourceInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if generatedRE.MatchString(line) {
			info.Generated = true
		}
		if name, ok := strings.CutPrefix(line, "package "); ok {
			name = strings.TrimSpace(name)
			if i := strings.IndexAny(name, " \t/"); i >= 0 {
				name = name[:i]
			}
			info.Package = name
			return info, nil
		}
	}
	if err := sc.Err(); err != nil {
		return sourceInfo{}, fmt.Errorf("inspect source %s: %w", path, err)
	}
	return sourceInfo{}, fmt.Errorf("inspect source %s: no package clause", path)
}
