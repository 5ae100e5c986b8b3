// Command stackinit bootstraps deployments/.run for the compose stack: the
// CA chain and service certificates under tls/ and the generated secrets
// under secrets/ (see package stackinit). `stackinit check` instead verifies
// that an operator's secrets and TLS directories hold every file the prod
// profile needs, naming each one that is missing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/passthru-dev/passthru/deployments/stackinit"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	check := len(args) > 0 && args[0] == "check"
	if check {
		args = args[1:]
	}
	fs := flag.NewFlagSet("stackinit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "deployments/.run", "run dir: tls/ and secrets/ are created under it")
	uid := fs.Int("uid", stackinit.ContainerUID, "owner (when run as root) of what the containers read and write")
	secrets := fs.String("secrets-dir", "", "check: the secrets directory (PASSTHRU_SECRETS_DIR)")
	tlsDir := fs.String("tls-dir", "", "check: the TLS directory (PASSTHRU_TLS_DIR)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: stackinit [-dir DIR] [-uid N]\n       stackinit check -secrets-dir DIR -tls-dir DIR\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if check {
		if *secrets == "" || *tlsDir == "" {
			fmt.Fprintln(stderr, "stackinit check: -secrets-dir and -tls-dir are required")
			return 2
		}
		if err := stackinit.Check(*secrets, *tlsDir, stackinit.ProdSecrets, stackinit.ProdTLS); err != nil {
			fmt.Fprintf(stderr, "stackinit check: the prod profile cannot start:\n%v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "stackinit check: every prod secret and TLS file is present")
		return 0
	}
	err := stackinit.Run(stackinit.Options{Dir: *dir, UID: *uid, GID: *uid, Root: os.Geteuid() == 0, Log: func(format string, a ...any) {
		fmt.Fprintf(stdout, "stackinit: "+format+"\n", a...)
	}})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "stackinit: %s is ready\n", *dir)
	return 0
}
