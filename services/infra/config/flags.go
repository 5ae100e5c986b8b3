package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// CommonFlags are the flags every Passthru service binary takes (DESIGN §2).
type CommonFlags struct {
	ConfigPath  string
	Listen      string
	DataDir     string
	Demo        bool // also set by ResetDemo
	ResetDemo   bool
	CheckConfig bool
}

// ParseCommonFlags parses a service binary's arguments. svc names the
// service ("kms", "identity"), about is its one-line description and
// defaultListen its listen address when none is configured. When the
// arguments ask for help or are wrong, ok is false and code is the exit code
// (0 for help, 2 for a usage error, with the message and usage on stderr).
func ParseCommonFlags(svc, about, defaultListen string, args []string, stderr io.Writer) (f CommonFlags, code int, ok bool) {
	fs := flag.NewFlagSet(svc, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.ConfigPath, "config", "", "YAML config file (default: search "+strings.Join(SearchPaths(svc), ", ")+")")
	fs.StringVar(&f.Listen, "listen", "", "listen address (default "+defaultListen+")")
	fs.StringVar(&f.DataDir, "data-dir", "", "data directory (SQLite database, demo CA chain, unseal secret, demo.json); demo default: a fresh temp dir")
	fs.BoolVar(&f.Demo, "demo", false, "demo mode: generate a CA chain, unseal secret and database, seed demo tenants and write <data-dir>/demo.json")
	fs.BoolVar(&f.ResetDemo, "reset-demo", false, "delete all demo tenants and their data, then seed fresh ones (implies --demo)")
	fs.BoolVar(&f.CheckConfig, "check-config", false, "validate the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n%s\n\nFlags:\n", svc, about)
		fs.PrintDefaults()
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
