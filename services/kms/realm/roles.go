package realm

import (
	"fmt"
	"slices"
	"sort"

	"github.com/passthru-dev/passthru/services/kms/scope"
)

// Role is a named set of scopes that may inherit other roles.
type Role struct {
	Name     string   `yaml:"name"`
	Inherits []string `yaml:"inherits"`
	Scopes   []string `yaml:"scopes"`
}

// Roles resolves role names to expanded scopes. Build it with NewRoles, which
// checks the hierarchy once, so resolving never meets a cycle.
type Roles struct {
	scopes    map[string][]string // role -> expanded scopes, inheritance included
	hierarchy *scope.Hierarchy
}

// DefaultRoles are the roles used when no realms file declares any:
// reader, writer (inherits reader) and admin (inherits writer).
func DefaultRoles() []Role {
	return []Role{
		{Name: "reader", Scopes: []string{scope.Read}},
		{Name: "writer", Inherits: []string{"reader"}, Scopes: []string{scope.Write}},
		{Name: "admin", Inherits: []string{"writer"}, Scopes: []string{scope.Admin}},
	}
}

// NewRoles is NewRolesIn with the default scope hierarchy.
func NewRoles(roles []Role) (*Roles, error) { return NewRolesIn(scope.Default(), roles) }

// NewRolesIn validates roles (unique non-empty names, inherited roles exist,
// no inheritance cycles) and precomputes each role's scopes under h.
func NewRolesIn(h *scope.Hierarchy, roles []Role) (*Roles, error) {
	byName := map[string]Role{}
	for i, r := range roles {
		if r.Name == "" {
			return nil, fmt.Errorf("%w: role #%d has no name", ErrInvalidRealm, i+1)
		}
		if _, dup := byName[r.Name]; dup {
			return nil, fmt.Errorf("%w: role %q declared twice", ErrInvalidRealm, r.Name)
		}
		byName[r.Name] = r
	}
	for _, r := range roles {
		for _, parent := range r.Inherits {
			if _, ok := byName[parent]; !ok {
				return nil, fmt.Errorf("%w: role %q inherits unknown role %q", ErrInvalidRealm, r.Name, parent)
			}
		}
	}
	out := &Roles{scopes: map[string][]string{}, hierarchy: h}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case visiting:
			return fmt.Errorf("%w: role inheritance cycle %v", ErrInvalidRealm, append(path, name))
		case done:
			return nil
		}
		state[name] = visiting
		r := byName[name]
		granted := slices.Clone(r.Scopes)
		for _, parent := range r.Inherits {
			if err := visit(parent, append(path, name)); err != nil {
				return err
			}
			granted = append(granted, out.scopes[parent]...)
		}
		out.scopes[name] = h.Expand(granted)
		state[name] = done
		return nil
	}
	for _, r := range roles {
		if err := visit(r.Name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Hierarchy is the scope hierarchy the roles were expanded under.
func (r *Roles) Hierarchy() *scope.Hierarchy { return r.hierarchy }

// Has reports whether a role of that name exists.
func (r *Roles) Has(name string) bool {
	_, ok := r.scopes[name]
	return ok
}

// Names returns the role names, sorted.
func (r *Roles) Names() []string {
	out := make([]string, 0, len(r.scopes))
	for n := range r.scopes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Scopes returns the expanded scopes granted by roles. Unknown roles grant
// nothing (they are rejected when users are stored or loaded).
func (r *Roles) Scopes(roles []string) []string {
	if len(roles) == 1 {
		// The common case on the request path: a role's scopes are
		// expanded once, at NewRoles.
		return slices.Clone(r.scopes[roles[0]])
	}
	var granted []string
	for _, name := range roles {
		granted = append(granted, r.scopes[name]...)
	}
	return r.hierarchy.Expand(granted)
}

// Check returns an error naming the first unknown role of roles.
func (r *Roles) Check(roles []string) error {
	for _, name := range roles {
		if !r.Has(name) {
			return fmt.Errorf("%w: unknown role %q", ErrInvalidUser, name)
		}
	}
	return nil
}
