package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// ApplyEnv sets the fields of dst (a non-nil pointer to a struct) tagged
// `env:"PASSTHRU_KMS_LISTEN"` from lookup (os.LookupEnv when nil). Nested
// structs and non-nil pointers to structs are walked; a nil pointer to a
// struct is allocated only when one of its variables is set.
//
// Supported field types: string, bool, signed and unsigned integers, floats,
// time.Duration ("5s"), []string (comma-separated, items trimmed, empty items
// dropped) and anything implementing encoding.TextUnmarshaler.
//
// A field tagged `secret:"true"` with an env tag is refused, whether or not
// the variable is set: secrets come from files only. Unsupported field types
// are refused the same way, so such mistakes surface at the first test run.
// Errors name the variable and the field path; all are reported at once, and
// on error dst is left unchanged.
//
// Relative tags (see ApplyEnvPrefix) are refused: ApplyEnv has no prefix to
// expand them with.
func ApplyEnv(dst any, lookup func(string) (string, bool)) error {
	return ApplyEnvPrefix(dst, "", lookup)
}

// ApplyEnvPrefix is ApplyEnv for structs that contain sections shared by
// several services (TLS, Unseal, Database, Log): a tag starting with "*_"
// is relative and names the variable prefix + the rest of the tag, so
// `env:"*_LOG_LEVEL"` with prefix "PASSTHRU_KMS" reads PASSTHRU_KMS_LOG_LEVEL.
// Absolute tags are used as they are. A relative tag with an empty prefix is
// an error, so a shared section can never read an unprefixed variable.
func ApplyEnvPrefix(dst any, prefix string, lookup func(string) (string, bool)) error {
	if strings.HasSuffix(prefix, "_") || strings.Contains(prefix, "*") {
		return fmt.Errorf("config env: prefix %q must not end in _ or contain *", prefix)
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config env: destination must be a non-nil pointer to a struct, got %T", dst)
	}
	e := envApplier{prefix: prefix, lookup: lookup}
	// A dry run on a zero value of the same type finds every error first
	// (declaration and parse errors depend on types and variables, not on
	// dst's values), so a failing ApplyEnvPrefix leaves dst exactly as it was.
	e.apply(reflect.New(rv.Elem().Type()).Elem(), rv.Elem().Type().Name())
	if len(e.errs) > 0 {
		return errors.Join(e.errs...)
	}
	e.apply(rv.Elem(), rv.Elem().Type().Name())
	return errors.Join(e.errs...)
}

// relativeEnv marks a tag whose variable name is completed by the prefix.
const relativeEnv = "*_"

type envApplier struct {
	prefix string
	lookup func(string) (string, bool)
	errs   []error
}

// varName returns the variable a (non-secret, non-empty) env tag names.
func (e *envApplier) varName(tag, fpath string) (string, error) {
	rest, relative := strings.CutPrefix(tag, relativeEnv)
	switch {
	case !relative:
		return tag, nil
	case rest == "":
		return "", fmt.Errorf("config env: field %s: relative env tag %q names no variable", fpath, tag)
	case e.prefix == "":
		return "", fmt.Errorf("config env: field %s has the relative env tag %q but no prefix was given (use ApplyEnvPrefix)", fpath, tag)
	}
	return e.prefix + "_" + rest, nil
}

// apply returns whether it set any field, so that a nil pointer allocated
// speculatively can be dropped again.
func (e *envApplier) apply(v reflect.Value, path string) bool {
	set := false
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		fpath := path + "." + f.Name
		tag, hasEnv := f.Tag.Lookup("env")
		if hasEnv {
			if f.Tag.Get("secret") == "true" {
				e.errs = append(e.errs, fmt.Errorf("config env: field %s is secret and may not be set from environment variable %s: secrets are read from files", fpath, tag))
				continue
			}
			if tag == "" {
				e.errs = append(e.errs, fmt.Errorf("config env: field %s has an empty env tag", fpath))
				continue
			}
			name, err := e.varName(tag, fpath)
			if err != nil {
				e.errs = append(e.errs, err)
				continue
			}
			if !envSupported(f.Type) {
				e.errs = append(e.errs, fmt.Errorf("config env: field %s (%s): unsupported type %s", fpath, name, f.Type))
				continue
			}
			s, ok := e.lookup(name)
			if !ok {
				continue
			}
			if err := setFromString(fv, s); err != nil {
				e.errs = append(e.errs, fmt.Errorf("config env: %s (field %s): %w", name, fpath, err))
				continue
			}
			set = true
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			set = e.apply(fv, fpath) || set
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			if !fv.IsNil() {
				set = e.apply(fv.Elem(), fpath) || set
				continue
			}
			fresh := reflect.New(f.Type.Elem())
			if e.apply(fresh.Elem(), fpath) {
				fv.Set(fresh)
				set = true
			}
		}
	}
	return set
}

func envSupported(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) || t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// setFromString parses s into v according to v's type. Error messages quote
// the value: environment variables that reach here are never secrets.
func setFromString(v reflect.Value, s string) error {
	t := v.Type()
	if pv := v.Addr(); pv.Type().Implements(textUnmarshaler) {
		u := pv.Interface().(interface{ UnmarshalText([]byte) error })
		if err := u.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("invalid value %q: %w", s, err)
		}
		return nil
	}
	if t == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 30s, 5m)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned integer %q", s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(x)
	default: // []string, the only other type envSupported admits
		items := []string{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(t))
	}
	return nil
}

// EnvNames lists the environment variables ApplyEnvPrefix(dst, prefix, ...)
// reads, in field order, so a binary's --help can name them all.
func EnvNames(dst any, prefix string) []string {
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		if depth > 32 {
			return
		}
		for f := range fieldsOf(t) {
			if tag, ok := f.Tag.Lookup("env"); ok {
				if rest, relative := strings.CutPrefix(tag, relativeEnv); relative {
					tag = prefix + "_" + rest
				}
				names = append(names, tag)
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft, depth+1)
			}
		}
	}
	walk(t, 0)
	return names
}
