// Package config loads service configuration: strict YAML files found on
// standard search paths, environment overrides, secrets read from files, and
// validation with precise field paths.
//
// Precedence in the binaries is defaults (a struct literal) < file (Load) <
// environment (ApplyEnv) < flags explicitly set. Secrets never come from the
// environment or argv: a field tagged `secret:"true"` holds a file path and
// the secret is read with ReadSecret.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ErrUnknownKey is wrapped by the error for each key in a file that does not
// correspond to a configuration field.
var ErrUnknownKey = errors.New("unknown key")

// maxFileSize bounds a config file; anything larger is a mistake (or an
// attack on a YAML parser), not a configuration.
const maxFileSize = 1 << 20

var serviceName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// searcher holds the inputs of the standard search path, so tests can point
// it at temporary directories instead of /etc and $HOME.
type searcher struct {
	etcDir  string
	getenv  func(string) string
	homeDir func() (string, error)
}

func defaultSearcher() searcher {
	return searcher{etcDir: "/etc/passthru", getenv: os.Getenv, homeDir: os.UserHomeDir}
}

// paths lists the candidate files for svc, most authoritative first.
func (s searcher) paths(svc string) []string {
	name := svc + ".yml"
	out := []string{filepath.Join(s.etcDir, name)}
	// The XDG spec says a relative $XDG_CONFIG_HOME is invalid and must be
	// ignored, falling back to ~/.config.
	if xdg := s.getenv("XDG_CONFIG_HOME"); filepath.IsAbs(xdg) {
		return append(out, filepath.Join(xdg, "passthru", name))
	}
	if home, err := s.homeDir(); err == nil && filepath.IsAbs(home) {
		out = append(out, filepath.Join(home, ".config", "passthru", name))
	}
	return out
}

// SearchPaths returns the files Load searches for service svc, in order:
// /etc/passthru/<svc>.yml, then $XDG_CONFIG_HOME/passthru/<svc>.yml
// (~/.config when XDG_CONFIG_HOME is unset). Useful for --help output.
func SearchPaths(svc string) []string {
	return defaultSearcher().paths(svc)
}

// Load finds and strictly decodes the YAML config for service svc ("kms",
// "identity") into dst, a pointer to a struct holding defaults.
//
// When explicit is not empty that file must exist. Otherwise the first
// existing file of SearchPaths(svc) is used; when none exists Load returns
// ("", nil) and dst keeps its defaults. A candidate that exists but cannot be
// read is an error, never silently skipped. Load returns the path used.
func Load(svc, explicit string, dst any) (string, error) {
	return defaultSearcher().load(svc, explicit, dst)
}

func (s searcher) load(svc, explicit string, dst any) (string, error) {
	if explicit != "" {
		if err := LoadFile(explicit, dst); err != nil {
			return "", err
		}
		return explicit, nil
	}
	if !serviceName.MatchString(svc) {
		return "", fmt.Errorf("config: invalid service name %q", svc)
	}
	for _, p := range s.paths(svc) {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("config: %w", err)
		}
		if err := LoadFile(p, dst); err != nil {
			return "", err
		}
		return p, nil
	}
	return "", nil
}

// LoadFile strictly decodes one YAML file into dst (a non-nil pointer to a
// struct). Keys without a matching field are errors of the form
// "<path>:<line>:<col>: unknown key "a.b"" wrapping ErrUnknownKey; several
// documents in one file, duplicate keys and type mismatches are errors too.
// An empty file leaves dst unchanged, and so does any error.
func LoadFile(path string, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config %s: destination must be a non-nil pointer to a struct, got %T", path, dst)
	}
	data, err := readLimited(path, maxFileSize)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults apply
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: want exactly one YAML document", path)
	}
	var unknown []error
	checkKeys(&doc, rv.Elem().Type(), "", 0, func(n *yaml.Node, key string) {
		unknown = append(unknown, fmt.Errorf("%s:%d:%d: %w %q", path, n.Line, n.Column, ErrUnknownKey, key))
	})
	if len(unknown) > 0 {
		return errors.Join(unknown...)
	}
	// Decode again with the library's own strict mode: a backstop for any
	// shape checkKeys does not model. yaml keeps decoding past a type error,
	// so decoding straight into dst would leave it half-updated on failure;
	// a throwaway value of the same type takes the errors first (they depend
	// on the types, not on dst's defaults) and dst is touched only after.
	if err := strictDecode(data, reflect.New(rv.Elem().Type()).Interface()); err != nil {
		return nameTypeErrors(path, &doc, err)
	}
	if err := strictDecode(data, dst); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// typeErrorLine is how yaml words the position of a type mismatch.
var typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// nameTypeErrors rewrites yaml's type errors ("line 3: cannot unmarshal
// !!str `forever` into time.Duration") to name the key as well
// ("kms.yml:3: auth.cache_ttl: cannot unmarshal ..."): the operator should
// not have to count lines to find what to fix.
func nameTypeErrors(path string, doc *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	keys := map[int]string{}
	keysByLine(doc, "", keys)
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := typeErrorLine.FindStringSubmatch(e)
		if m == nil {
			errs = append(errs, fmt.Errorf("config %s: %s", path, e))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		if key, ok := keys[line]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", path, line, key, m[2]))
			continue
		}
		errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, m[2]))
	}
	return errors.Join(errs...)
}

// keysByLine records, for each line of the document, the dotted path of the
// first key or sequence item on it.
func keysByLine(n *yaml.Node, path string, lines map[int]string) {
	mark := func(line int, p string) {
		if _, ok := lines[line]; !ok && p != "" {
			lines[line] = p
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			keysByLine(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			mark(k.Line, p)
			keysByLine(v, p, lines) // a nested key on the value's line is more precise
			mark(v.Line, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			mark(c.Line, p)
			keysByLine(c, p, lines)
		}
	}
}

func strictDecode(data []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(dst)
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}

var (
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
)

// checkKeys walks a YAML node alongside the Go type it will decode into and
// reports every mapping key that has no field, with its full dotted path.
// It stops at types that decode themselves (yaml or text unmarshalers,
// interfaces), where the shape is theirs to judge.
func checkKeys(n *yaml.Node, t reflect.Type, path string, depth int, report func(*yaml.Node, string)) {
	if depth > 64 {
		return // aliases can make the document a cycle
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			checkKeys(c, t, path, depth+1, report)
		}
		return
	case yaml.AliasNode:
		checkKeys(n.Alias, t, path, depth+1, report)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // a type error the decoder reports
		}
		fields, anyKey := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				checkMerge(v, t, path, depth, report)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				if !anyKey {
					report(k, join(path, k.Value))
				}
				continue
			}
			checkKeys(v, ft, join(path, k.Value), depth+1, report)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), depth+1, report)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1, report)
		}
	}
}

// checkMerge handles "<<: *alias" and "<<: [*a, *b]".
func checkMerge(v *yaml.Node, t reflect.Type, path string, depth int, report func(*yaml.Node, string)) {
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			checkKeys(c, t, path, depth+1, report)
		}
		return
	}
	checkKeys(v, t, path, depth+1, report)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structFields maps the YAML names of t's fields to their types, following
// the rules of go.yaml.in/yaml/v3: the tag name, else the lowercased field
// name; "-" skips; ",inline" merges an embedded struct (or, for a map, accepts
// any key).
func structFields(t reflect.Type) (fields map[string]reflect.Type, anyKey bool) {
	fields = map[string]reflect.Type{}
	for f := range fieldsOf(t) {
		name, inline, skip := yamlName(f)
		if skip {
			continue
		}
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Map {
				anyKey = true
				continue
			}
			sub, subAny := structFields(ft)
			for k, v := range sub {
				fields[k] = v
			}
			anyKey = anyKey || subAny
			continue
		}
		fields[name] = f.Type
	}
	return fields, anyKey
}

// fieldsOf yields the exported fields of struct type t.
func fieldsOf(t reflect.Type) func(yield func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}
