package config

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Validator is implemented by configuration structs that can check
// themselves. A Validate method should check only its own fields: Validate
// (the function) calls the nested structs' methods itself and prefixes their
// errors with the field path.
type Validator interface{ Validate() error }

var validatorType = reflect.TypeFor[Validator]()

// Validate calls Validate on v and on every struct reachable from it (fields,
// non-nil pointers, slice and map elements) that implements Validator. Errors
// from nested values are prefixed with their YAML path, e.g.
// "tls.cert_file: required", so the operator knows which key to fix; all
// errors are joined.
func Validate(v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return errors.New("config: validate nil")
	}
	if rv.Kind() != reflect.Pointer {
		// Work on an addressable copy so pointer-receiver methods are found.
		cp := reflect.New(rv.Type())
		cp.Elem().Set(rv)
		rv = cp
	}
	var errs []error
	validateValue(rv, "", 0, &errs)
	return errors.Join(errs...)
}

func validateValue(v reflect.Value, path string, depth int, errs *[]error) {
	if depth > 32 {
		return // a pointer cycle; configuration trees are shallow
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Implements(validatorType) {
			if err := v.Interface().(Validator).Validate(); err != nil {
				*errs = append(*errs, prefix(path, err))
			}
		}
		validateChildren(v.Elem(), path, depth, errs)
	case reflect.Interface:
		if !v.IsNil() {
			validateValue(v.Elem(), path, depth+1, errs)
		}
	default:
		if !v.CanAddr() {
			// Map values are not addressable: validate a copy, so that
			// pointer-receiver Validate methods are found too.
			cp := reflect.New(v.Type())
			cp.Elem().Set(v)
			v = cp.Elem()
		}
		validateValue(v.Addr(), path, depth+1, errs)
	}
}

func validateChildren(v reflect.Value, path string, depth int, errs *[]error) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, inline, skip := yamlName(f)
			if skip {
				name = f.Name
			}
			p := join(path, name)
			if inline {
				p = path
			}
			validateValue(v.Field(i), p, depth+1, errs)
		}
	case reflect.Slice, reflect.Array:
		if !mayValidate(v.Type().Elem()) {
			return // e.g. []byte: nothing inside can be a Validator
		}
		for i := range v.Len() {
			validateValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1, errs)
		}
	case reflect.Map:
		if !mayValidate(v.Type().Elem()) {
			return
		}
		// Sorted keys make the joined error deterministic.
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
		})
		for _, k := range keys {
			validateValue(v.MapIndex(k), join(path, fmt.Sprint(k.Interface())), depth+1, errs)
		}
	}
}

// mayValidate reports whether a value of type t can be or contain a Validator.
func mayValidate(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(validatorType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
}

func prefix(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// CheckConfig implements the --check-config mode of a binary: given the path
// Load returned and the error of loading, applying the environment and
// validating, it prints the verdict and returns the exit code (0 valid, 1
// invalid). A valid config is reported on stdout; findings go to stderr, one
// per line, like any other error of the binary.
func CheckConfig(stdout, stderr io.Writer, path string, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "config invalid: %v\n", err)
		return 1
	}
	if path == "" {
		fmt.Fprintln(stdout, "config OK: no config file found, defaults apply")
		return 0
	}
	fmt.Fprintf(stdout, "config OK: %s\n", path)
	return 0
}
