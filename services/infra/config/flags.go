package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// CommonFlags are the flags every Passthru service binary takes.
type CommonFlags struct {
	ConfigPath  string
	Listen      string
	DataDir     string
	Demo        bool // also set by ResetDemo
	ResetDemo   bool
	CheckConfig bool
}

// Usage describes a service binary for --help.
type Usage struct {
	Service       string // "kms", "identity"
	About         string // one-line description
	DefaultListen string // listen address when none is configured
	// EnvPrefix is the service's environment prefix (PASSTHRU_KMS): the
	// flags that have an environment twin name it.
	EnvPrefix string
	// EnvVars lists every environment variable the service reads (see
	// EnvNames), printed after the flags.
	EnvVars []string
}

// ParseCommonFlags parses a service binary's arguments. When the arguments
// ask for help or are wrong, ok is false and code is the exit code (0 for
// help, 2 for a usage error, with the message and usage on stderr).
func ParseCommonFlags(u Usage, args []string, stderr io.Writer) (f CommonFlags, code int, ok bool) {
	svc := u.Service
	env := func(name string) string {
		if u.EnvPrefix == "" {
			return ""
		}
		return " (env " + u.EnvPrefix + "_" + name + ")"
	}
	fs := flag.NewFlagSet(svc, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.ConfigPath, "config", "", "YAML config file (default: search "+strings.Join(SearchPaths(svc), ", ")+")")
	fs.StringVar(&f.Listen, "listen", "", "listen address (default "+u.DefaultListen+")"+env("LISTEN"))
	fs.StringVar(&f.DataDir, "data-dir", "", "data directory (SQLite database, demo CA chain, unseal secret, demo.json); demo default: a temp dir removed at exit"+env("DATA_DIR"))
	fs.BoolVar(&f.Demo, "demo", false, "demo mode: generate a CA chain, unseal secret and database, seed demo tenants and write <data-dir>/demo.json")
	fs.BoolVar(&f.ResetDemo, "reset-demo", false, "delete all demo tenants and their data, then seed fresh ones (implies --demo)")
	fs.BoolVar(&f.CheckConfig, "check-config", false, "validate the configuration and exit (findings on stderr)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n%s\n\nFlags:\n", svc, u.About)
		fs.PrintDefaults()
		if len(u.EnvVars) > 0 {
			fmt.Fprintf(stderr, "\nEnvironment (flags win over the environment, which wins over the config file; secrets are only read from *_file keys):\n")
			for _, v := range u.EnvVars {
				fmt.Fprintf(stderr, "  %s\n", v)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, 0, false
		}
		return f, 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %v\n", svc, fs.Args())
		fs.Usage()
		return f, 2, false
	}
	f.Demo = f.Demo || f.ResetDemo
	return f, 0, true
}
