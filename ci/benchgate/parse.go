package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchproc"
)

// benchmark is every sample of one benchmark in one file.
type benchmark struct {
	pkg    string               // the "pkg:" configuration, "" if absent
	name   string               // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	values map[string][]float64 // tidied unit (sec/op, B/op, ...) -> one value per result line
	units  []string             // units in first-seen order
}

// benchFile is one parsed go test -bench output.
type benchFile struct {
	path       string
	benchmarks map[string]*benchmark // by key (see benchKey)
	order      []string              // keys in first-seen order
	units      benchfmt.UnitMetadataMap
	cpu        string // the "cpu:" configuration of the first result, to tell machines apart
	commit     string // the "commit:" configuration make bench-update records, "" if absent
}

// readFile parses the benchmark results in path, keeping those that
// filter (if non-nil) accepts.
func readFile(path string, filter *benchproc.Filter) (*benchFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read benchmarks: %w", err)
	}
	defer f.Close()
	return parse(f, path, filter)
}

// parse reads the Go benchmark format. A malformed Benchmark line is an
// error, not a skipped line: a result lost to, say, log output interleaved
// with the benchmark line would otherwise only show up as "missing".
func parse(r io.Reader, path string, filter *benchproc.Filter) (*benchFile, error) {
	bf := &benchFile{path: path, benchmarks: map[string]*benchmark{}}
	rd := benchfmt.NewReader(r, path)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, fmt.Errorf("parse benchmarks: %w", rec)
		case *benchfmt.Result:
			if filter != nil {
				keep, err := filter.Apply(rec)
				if err != nil {
					return nil, fmt.Errorf("parse benchmarks: filter: %w", err)
				}
				if !keep {
					continue
				}
			}
			bf.add(rec)
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("parse benchmarks %s: %w", path, err)
	}
	bf.units = rd.Units()
	return bf, nil
}

func (bf *benchFile) add(res *benchfmt.Result) {
	if bf.cpu == "" {
		bf.cpu = res.GetConfig("cpu")
	}
	if bf.commit == "" {
		bf.commit = res.GetConfig("commit")
	}
	pkg, name := res.GetConfig("pkg"), benchName(res.Name)
	key := benchKey(pkg, name)
	b, ok := bf.benchmarks[key]
	if !ok {
		b = &benchmark{pkg: pkg, name: name, values: map[string][]float64{}}
		bf.benchmarks[key] = b
		bf.order = append(bf.order, key)
	}
	for _, v := range res.Values {
		if _, seen := b.values[v.Unit]; !seen {
			b.units = append(b.units, v.Unit)
		}
		b.values[v.Unit] = append(b.values[v.Unit], v.Value)
	}
}

// benchName is the benchmark's name without the "Benchmark" prefix and the
// -GOMAXPROCS suffix, which depends on the machine and not on the code.
func benchName(n benchfmt.Name) string {
	base, parts := n.Parts()
	var sb strings.Builder
	sb.Write(base)
	for _, p := range parts {
		if len(p) > 0 && p[0] == '-' {
			continue // the GOMAXPROCS part; it can only be last
		}
		sb.Write(p)
	}
	return sb.String()
}

func benchKey(pkg, name string) string { return pkg + " " + name }
