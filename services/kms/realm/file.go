package realm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/services/kms"
)

// Realm types.
const (
	TypeFile     = "file"
	TypeDatabase = "database"
)

// File is realms.yml: roles, realms and the order realms are tried in.
type File struct {
	Roles  []Role   `yaml:"roles"`
	Realms []Config `yaml:"realms"`
	// Order lists realm names in the order Basic tries them. Empty: file
	// realms in declaration order, then database realms.
	Order []string `yaml:"order"`
}

// Config declares one realm.
type Config struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	Type string `yaml:"type"` // file | database
	// Demo allows plaintext passwords (hashed at load). Never in production.
	Demo  bool       `yaml:"demo"`
	Users []FileUser `yaml:"users"` // file realms only
}

// FileUser is a user declared in a file realm.
type FileUser struct {
	Username     string   `yaml:"username"`
	PasswordHash string   `yaml:"password_hash"`
	Password     string   `yaml:"password"` // demo realms only
	Roles        []string `yaml:"roles"`
	TenantID     string   `yaml:"tenant_id"`
	// CreateTenant registers TenantID as a new tenant when no tenant has
	// it. Without it an unknown TenantID stops the start: a mistyped id
	// would otherwise silently create an empty tenant.
	CreateTenant bool           `yaml:"create_tenant"`
	Enabled      *bool          `yaml:"enabled"` // default true
	Email        string         `yaml:"email"`
	DisplayName  string         `yaml:"display_name"`
	Metadata     map[string]any `yaml:"metadata"`
}

// DefaultFile is used when no realms file is configured: the default roles and
// one database realm called "local".
func DefaultFile() *File {
	return &File{
		Roles:  DefaultRoles(),
		Realms: []Config{{ID: "local", Name: "local", Type: TypeDatabase}},
	}
}

// LoadFile strictly decodes path (unknown keys are errors) and validates it.
func LoadFile(path string) (*File, error) {
	var f File
	if err := config.LoadFile(path, &f); err != nil {
		return nil, fmt.Errorf("load realms file: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("realms file %s: %w", path, err)
	}
	return &f, nil
}

// Validate checks the whole file: unique realm ids and names, known types,
// role references, no inheritance cycles, canonical UUIDv4 tenant ids,
// usernames unique across all realms, and plaintext passwords only in demo realms.
func (f *File) Validate() error {
	_, err := f.validate()
	return err
}

// validate is Validate returning the roles it built, so Build need not
// resolve the hierarchy a second time.
func (f *File) validate() (*Roles, error) {
	roles, err := NewRoles(f.Roles)
	if err != nil {
		return nil, err
	}
	realmIDs := map[string]bool{}
	names := map[string]bool{}
	// A username in two realms would be reachable only through the first
	// one in the order: refuse it instead of silently shadowing a user.
	owner := map[string]string{}
	for i, r := range f.Realms {
		where := fmt.Sprintf("realm #%d (%q)", i+1, r.Name)
		if r.ID == "" || r.Name == "" {
			return nil, fmt.Errorf("%w: %s needs an id and a name", ErrInvalidRealm, where)
		}
		if realmIDs[r.ID] {
			return nil, fmt.Errorf("%w: realm id %q declared twice", ErrInvalidRealm, r.ID)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("%w: realm name %q declared twice", ErrInvalidRealm, r.Name)
		}
		realmIDs[r.ID], names[r.Name] = true, true
		switch r.Type {
		case TypeFile:
		case TypeDatabase:
			if len(r.Users) > 0 {
				return nil, fmt.Errorf("%w: %s is a database realm and cannot declare users", ErrInvalidRealm, where)
			}
		default:
			return nil, fmt.Errorf("%w: %s has type %q, want file or database", ErrInvalidRealm, where, r.Type)
		}
		usernames := map[string]bool{}
		for j, u := range r.Users {
			uwhere := fmt.Sprintf("%s user #%d (%q)", where, j+1, u.Username)
			if err := ValidateUsername(u.Username); err != nil {
				return nil, fmt.Errorf("%s: %w", uwhere, err)
			}
			if usernames[u.Username] {
				return nil, fmt.Errorf("%w: %s: username declared twice", ErrInvalidRealm, uwhere)
			}
			usernames[u.Username] = true
			if other, taken := owner[u.Username]; taken {
				return nil, fmt.Errorf("%w: %s: username also declared in realm %q", ErrInvalidRealm, uwhere, other)
			}
			owner[u.Username] = r.Name
			switch {
			case u.Password != "" && !r.Demo:
				return nil, fmt.Errorf("%w: %s: plaintext password outside a demo realm (use password_hash)", ErrInvalidRealm, uwhere)
			case u.Password != "" && u.PasswordHash != "":
				return nil, fmt.Errorf("%w: %s: both password and password_hash", ErrInvalidRealm, uwhere)
			case u.Password == "" && u.PasswordHash == "":
				return nil, fmt.Errorf("%w: %s: password_hash required", ErrInvalidRealm, uwhere)
			case u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$pbkdf2-sha256$"):
				return nil, fmt.Errorf("%w: %s: password_hash is not a $pbkdf2-sha256$ hash", ErrInvalidRealm, uwhere)
			}
			if _, err := ids.ParseTenant(u.TenantID); err != nil {
				return nil, fmt.Errorf("%w: %s: tenant_id: %v", ErrInvalidRealm, uwhere, err)
			}
			if err := roles.Check(u.Roles); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRealm, uwhere, err)
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range f.Order {
		if !names[n] {
			return nil, fmt.Errorf("%w: order names unknown realm %q", ErrInvalidRealm, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: order names realm %q twice", ErrInvalidRealm, n)
		}
		seen[n] = true
	}
	return roles, nil
}

// RealmOrder returns the realm configs in the order they are tried.
func (f *File) RealmOrder() []Config {
	byName := map[string]Config{}
	for _, r := range f.Realms {
		byName[r.Name] = r
	}
	if len(f.Order) > 0 {
		out := make([]Config, 0, len(f.Order))
		for _, n := range f.Order {
			out = append(out, byName[n])
		}
		return out
	}
	var files, dbs []Config
	for _, r := range f.Realms {
		if r.Type == TypeFile {
			files = append(files, r)
		} else {
			dbs = append(dbs, r)
		}
	}
	return append(files, dbs...)
}

// Build validates f and returns its roles and realms in order. File realms
// are built in memory (demo plaintext passwords hashed with h); database
// realms are backed by store.
func (f *File) Build(h password.Hasher, store *UserStore) (*Roles, []Realm, error) {
	roles, err := f.validate()
	if err != nil {
		return nil, nil, err
	}
	var realms []Realm
	for _, rc := range f.RealmOrder() {
		switch rc.Type {
		case TypeFile:
			fr, err := NewFileRealm(rc, h)
			if err != nil {
				return nil, nil, err
			}
			realms = append(realms, fr)
		case TypeDatabase:
			if store == nil {
				return nil, nil, fmt.Errorf("%w: database realm %q without a database", ErrInvalidRealm, rc.Name)
			}
			realms = append(realms, store.Realm(rc.Name))
		}
	}
	return roles, realms, nil
}

// FileRealm is a realm whose users are declared in realms.yml. It is
// read-only at run time.
type FileRealm struct {
	name  string
	users map[string]*User
}

var _ Realm = (*FileRealm)(nil)

// NewFileRealm builds a file realm from a validated config, hashing the
// plaintext passwords of a demo realm with h.
func NewFileRealm(rc Config, h password.Hasher) (*FileRealm, error) {
	fr := &FileRealm{name: rc.Name, users: map[string]*User{}}
	for _, fu := range rc.Users {
		tenant, err := ids.ParseTenant(fu.TenantID)
		if err != nil {
			return nil, fmt.Errorf("%w: realm %q user %q: %v", ErrInvalidRealm, rc.Name, fu.Username, err)
		}
		hash := fu.PasswordHash
		if fu.Password != "" {
			if !rc.Demo {
				return nil, fmt.Errorf("%w: realm %q user %q: plaintext password outside a demo realm", ErrInvalidRealm, rc.Name, fu.Username)
			}
			if hash, err = h.Hash(fu.Password); err != nil {
				return nil, fmt.Errorf("hash password of %q in realm %q: %w", fu.Username, rc.Name, err)
			}
		}
		var meta json.RawMessage
		if fu.Metadata != nil {
			if meta, err = json.Marshal(fu.Metadata); err != nil {
				return nil, fmt.Errorf("%w: realm %q user %q: metadata: %v", ErrInvalidRealm, rc.Name, fu.Username, err)
			}
		}
		enabled := fu.Enabled == nil || *fu.Enabled
		fr.users[fu.Username] = &User{
			ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte("passthru:realm:"+rc.Name+":"+fu.Username)), Realm: rc.Name,
			Username: fu.Username, PasswordHash: hash, Roles: fu.Roles, TenantID: tenant, Enabled: enabled,
			Email: fu.Email, DisplayName: fu.DisplayName, Metadata: meta,
		}
	}
	return fr, nil
}

// Name implements Realm.
func (f *FileRealm) Name() string { return f.name }

// Lookup implements Realm.
func (f *FileRealm) Lookup(_ context.Context, username string) (*User, error) {
	u, ok := f.users[username]
	if !ok {
		return nil, ErrUserNotFound
	}
	c := *u
	return &c, nil
}

// ValidateUsername accepts 1..128 bytes of printable UTF-8 without ':'
// (which cannot appear in a Basic user-id, RFC 7617) or spaces.
func ValidateUsername(s string) error {
	if err := kms.CheckName(s); err != nil {
		// "invalid value" keeps the message clients have always seen.
		return fmt.Errorf("%w: username: invalid value: %v", ErrInvalidUser, err)
	}
	if len(s) > 128 || strings.ContainsAny(s, ": \t") {
		return fmt.Errorf("%w: username must be at most 128 bytes without ':' or spaces", ErrInvalidUser)
	}
	return nil
}
