// Package covergate reads Go coverage profiles and decides whether every
// gated package reaches its statement-coverage threshold. The command in
// ci/cmd/covergate is a thin wrapper over Run.
package covergate

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Block is one basic block of a coverage profile line:
// "file:startLine.startCol,endLine.endCol numStmt count".
type Block struct {
	File      string // import-path form, e.g. github.com/x/y/pkg/file.go
	StartLine int
	StartCol  int
	EndLine   int
	EndCol    int
	NumStmt   int
	Count     int64
}

// key identifies a block independently of its count, so the same block seen
// by several test binaries (go test -coverpkg=./...) merges into one.
func (b Block) key() string {
	return fmt.Sprintf("%s:%d.%d,%d.%d", b.File, b.StartLine, b.StartCol, b.EndLine, b.EndCol)
}

// Profile is a merged set of blocks.
type Profile struct {
	Mode   string
	blocks map[string]Block
}

// NewProfile returns an empty profile.
func NewProfile() *Profile {
	return &Profile{blocks: make(map[string]Block)}
}

// Blocks returns the merged blocks in no particular order.
func (p *Profile) Blocks() []Block {
	out := make([]Block, 0, len(p.blocks))
	for _, b := range p.blocks {
		out = append(out, b)
	}
	return out
}

// Add merges one block. A block already present keeps the higher count:
// with -coverpkg every test binary reports every block, and a block covered
// by any of them is covered. A differing statement count for the same range
// means the profiles come from different sources, which is an error.
func (p *Profile) Add(b Block) error {
	k := b.key()
	old, ok := p.blocks[k]
	if !ok {
		p.blocks[k] = b
		return nil
	}
	if old.NumStmt != b.NumStmt {
		return fmt.Errorf("block %s: %d statements here, %d before (profiles from different sources?)", k, b.NumStmt, old.NumStmt)
	}
	if b.Count > old.Count {
		p.blocks[k] = b
	}
	return nil
}

// Read parses a profile from r and merges it into p. name is used in errors.
// Several profiles (one per go test run) may be read into the same Profile,
// provided they share a mode.
func (p *Profile) Read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	sawMode := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if mode, ok := strings.CutPrefix(text, "mode:"); ok {
			mode = strings.TrimSpace(mode)
			switch mode {
			case "set", "count", "atomic":
			default:
				return fmt.Errorf("%s:%d: unknown coverage mode %q", name, line, mode)
			}
			if p.Mode != "" && p.Mode != mode {
				return fmt.Errorf("%s:%d: mode %q differs from earlier mode %q", name, line, mode, p.Mode)
			}
			p.Mode = mode
			sawMode = true
			continue
		}
		if !sawMode {
			return fmt.Errorf("%s:%d: profile must start with a \"mode:\" line", name, line)
		}
		b, err := parseBlock(text)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if err := p.Add(b); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if !sawMode {
		return fmt.Errorf("%s: empty profile (no \"mode:\" line)", name)
	}
	return nil
}

// parseBlock parses "file:1.2,3.4 5 6". The file name may itself contain a
// colon (Windows drive letters never occur in import paths, but be strict
// and split on the last one).
func parseBlock(s string) (Block, error) {
	fields := strings.Fields(s)
	if len(fields) != 3 {
		return Block{}, fmt.Errorf("malformed block %q: want \"file:l.c,l.c stmts count\"", s)
	}
	colon := strings.LastIndex(fields[0], ":")
	if colon <= 0 {
		return Block{}, fmt.Errorf("malformed block %q: no file name", s)
	}
	b := Block{File: fields[0][:colon]}
	var err error
	if b.StartLine, b.StartCol, b.EndLine, b.EndCol, err = parseRange(fields[0][colon+1:]); err != nil {
		return Block{}, fmt.Errorf("malformed block %q: %w", s, err)
	}
	if b.NumStmt, err = strconv.Atoi(fields[1]); err != nil || b.NumStmt < 0 {
		return Block{}, fmt.Errorf("malformed block %q: bad statement count %q", s, fields[1])
	}
	if b.Count, err = strconv.ParseInt(fields[2], 10, 64); err != nil || b.Count < 0 {
		return Block{}, fmt.Errorf("malformed block %q: bad hit count %q", s, fields[2])
	}
	return b, nil
}

func parseRange(s string) (sl, sc, el, ec int, err error) {
	start, end, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, 0, 0, fmt.Errorf("range %q: missing comma", s)
	}
	if sl, sc, err = parsePos(start); err != nil {
		return 0, 0, 0, 0, err
	}
	if el, ec, err = parsePos(end); err != nil {
		return 0, 0, 0, 0, err
	}
	return sl, sc, el, ec, nil
}

func parsePos(s string) (line, col int, err error) {
	l, c, ok := strings.Cut(s, ".")
	if !ok {
		return 0, 0, fmt.Errorf("position %q: want line.col", s)
	}
	if line, err = strconv.Atoi(l); err != nil {
		return 0, 0, fmt.Errorf("position %q: bad line", s)
	}
	if col, err = strconv.Atoi(c); err != nil {
		return 0, 0, fmt.Errorf("position %q: bad column", s)
	}
	return line, col, nil
}
