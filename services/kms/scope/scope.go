// Package scope is the KMS's set of OAuth-style scopes, the syntax a scope
// must have, and the hierarchy by which a coarse scope implies finer ones.
// Handlers require one fine scope each; roles, tokens and API keys grant
// whole tiers through the coarse ones. The hierarchy has defaults and can be
// replaced in the KMS configuration.
package scope

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// KMS scopes. Handlers check fine scopes only; the coarse ones exist so that
// roles and tokens can grant a whole tier with one word: admin over write
// over read, each implying the fine scopes of its tier.
const (
	Admin = "kms:admin"
	Write = "kms:write"
	Read  = "kms:read"

	Encrypt    = "kms:encrypt"
	Decrypt    = "kms:decrypt"
	Sign       = "kms:sign"
	Verify     = "kms:verify"
	MAC        = "kms:mac"
	Generate   = "kms:generate"
	KeysRead   = "kms:keys:read"
	KeysWrite  = "kms:keys:write"
	AuditRead  = "kms:audit:read"
	UsersAdmin = "kms:users:admin"
)

// DefaultImplications lists what each coarse scope grants directly. The
// closure is taken by a Hierarchy, so kms:admin reaches kms:keys:read
// through kms:write and kms:read.
func DefaultImplications() map[string][]string {
	return map[string][]string{
		Admin: {Write, AuditRead, UsersAdmin},
		Write: {Read, Encrypt, Decrypt, Sign, MAC, Generate, KeysWrite},
		Read:  {KeysRead, Verify},
	}
}

// fine are the scopes handlers require.
var fine = []string{Encrypt, Decrypt, Sign, Verify, MAC, Generate, KeysRead, KeysWrite, AuditRead, UsersAdmin}

// Known returns every scope this package defines, sorted.
func Known() []string {
	all := append([]string{Admin, Write, Read}, fine...)
	sort.Strings(all)
	return all
}

// IsKnown reports whether s is one of the scopes of Known.
func IsKnown(s string) bool {
	return slices.Contains(Known(), s)
}

// Errors of scope syntax and hierarchy configuration.
var (
	ErrMalformed = errors.New("malformed scope")
	ErrHierarchy = errors.New("invalid scope hierarchy")
)

// MaxScopes bounds how many scopes one grant (a token's scope claim, an API
// key) may carry: far more than any real grant, small enough that expanding
// it stays cheap.
const MaxScopes = 64

// Parse splits a space-separated scope string (RFC 6749 §3.3) into its
// scope tokens and checks each: a token is 1 to 128 printable ASCII
// characters other than '"' and '\', and one whose name starts with "kms:"
// must also be a well-formed KMS scope (see Check). Scopes of other services
// are kept as they are: they simply imply nothing here. Tokens are separated
// by exactly one space; an empty string is no scope at all.
func Parse(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, " ")
	if len(parts) > MaxScopes {
		return nil, fmt.Errorf("%w: more than %d scopes", ErrMalformed, MaxScopes)
	}
	for _, p := range parts {
		if err := checkToken(p); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

func checkToken(tok string) error {
	if tok == "" {
		return fmt.Errorf("%w: empty scope (scopes are separated by exactly one space)", ErrMalformed)
	}
	if len(tok) > 128 {
		return fmt.Errorf("%w: scope longer than 128 characters", ErrMalformed)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("%w: scope contains a character outside printable ASCII, or a quote or backslash", ErrMalformed)
		}
	}
	if strings.HasPrefix(tok, "kms:") {
		return Check(tok)
	}
	return nil
}

// Check reports whether s is a well-formed KMS scope name: "kms:" followed
// by one or two segments of lower-case letters, digits, '_' or '-'
// (kms:encrypt, kms:keys:read). It does not say whether the scope is known.
func Check(s string) error {
	rest, ok := strings.CutPrefix(s, "kms:")
	if !ok {
		return fmt.Errorf("%w: %q does not start with kms:", ErrMalformed, s)
	}
	segs := strings.Split(rest, ":")
	if len(segs) > 2 {
		return fmt.Errorf("%w: %q has more than two segments after kms:", ErrMalformed, s)
	}
	for _, seg := range segs {
		if seg == "" {
			return fmt.Errorf("%w: %q has an empty segment", ErrMalformed, s)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("%w: %q may use only a-z, 0-9, '_' and '-' in its segments", ErrMalformed, s)
			}
		}
	}
	return nil
}

// Hierarchy is a closed implication table: for every scope it knows the
// complete set of scopes it grants, computed once, so expanding a grant is
// a few map lookups on the request path.
type Hierarchy struct {
	closure map[string][]string // scope -> sorted closure including itself
}

// NewHierarchy builds a hierarchy from what each scope grants directly.
// Every name must be a well-formed KMS scope; a granted scope must be known
// (one of Known) or itself a key of implications (a coarse scope the
// configuration adds); the table must not contain a cycle, and no fine
// scope may grant anything (handlers check fine scopes, so they must stay
// leaves).
func NewHierarchy(implications map[string][]string) (*Hierarchy, error) {
	var errs []error
	for _, coarse := range slices.Sorted(maps.Keys(implications)) {
		if err := Check(coarse); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrHierarchy, err))
			continue
		}
		if slices.Contains(fine, coarse) {
			errs = append(errs, fmt.Errorf("%w: %s is a fine scope and cannot grant others", ErrHierarchy, coarse))
		}
		for _, g := range implications[coarse] {
			if err := Check(g); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %w", ErrHierarchy, coarse, err))
				continue
			}
			if _, defined := implications[g]; !IsKnown(g) && !defined {
				errs = append(errs, fmt.Errorf("%w: %s grants %s, which is neither a KMS scope nor defined here", ErrHierarchy, coarse, g))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	h := &Hierarchy{closure: map[string][]string{}}
	for _, s := range append(Known(), slices.Collect(maps.Keys(implications))...) {
		if _, done := h.closure[s]; done {
			continue
		}
		seen := map[string]bool{}
		if err := walk(s, implications, seen, map[string]bool{}); err != nil {
			return nil, err
		}
		h.closure[s] = slices.Sorted(maps.Keys(seen))
	}
	return h, nil
}

func walk(s string, impl map[string][]string, seen, path map[string]bool) error {
	if path[s] {
		return fmt.Errorf("%w: %s implies itself through a cycle", ErrHierarchy, s)
	}
	if seen[s] {
		return nil
	}
	seen[s] = true
	path[s] = true
	defer delete(path, s)
	for _, next := range impl[s] {
		if err := walk(next, impl, seen, path); err != nil {
			return err
		}
	}
	return nil
}

// defaultHierarchy is built once from DefaultImplications; it is never
// modified after.
var defaultHierarchy = func() *Hierarchy {
	h, err := NewHierarchy(DefaultImplications())
	if err != nil {
		panic(err) // the defaults are fixed at build time and tested
	}
	return h
}()

// Default returns the hierarchy of DefaultImplications.
func Default() *Hierarchy { return defaultHierarchy }

// Expand returns the sorted, de-duplicated closure of granted. Unknown
// scopes are kept as they are: a token may carry scopes meant for other
// services, and they simply imply nothing here.
func (h *Hierarchy) Expand(granted []string) []string {
	// It runs on every request: one allocation, no map.
	n := 0
	for _, g := range granted {
		if c, ok := h.closure[g]; ok {
			n += len(c)
		} else {
			n++
		}
	}
	out := make([]string, 0, n)
	for _, g := range granted {
		if c, ok := h.closure[g]; ok {
			out = append(out, c...)
		} else {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// IsKnown reports whether s is a scope of this hierarchy: a KMS scope or a
// coarse scope its configuration defines.
func (h *Hierarchy) IsKnown(s string) bool {
	_, ok := h.closure[s]
	return ok
}

// Known returns the scopes of this hierarchy, sorted.
func (h *Hierarchy) Known() []string {
	return slices.Sorted(maps.Keys(h.closure))
}

// Implies reports whether holding granted gives required.
func (h *Hierarchy) Implies(granted, required string) bool {
	if c, ok := h.closure[granted]; ok {
		_, found := slices.BinarySearch(c, required)
		return found
	}
	return granted == required
}

// Expand is Default().Expand.
func Expand(granted []string) []string { return defaultHierarchy.Expand(granted) }

// Implies is Default().Implies.
func Implies(granted, required string) bool { return defaultHierarchy.Implies(granted, required) }
