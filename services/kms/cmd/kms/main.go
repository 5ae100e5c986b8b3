// Command kms runs the Passthru KMS. Everything but flag handling lives in
// package kms, so tests and the demo start the same code in-process.
package main

import (
	"os"

	"github.com/passthru-dev/passthru/services/kms"
)

func main() {
	os.Exit(kms.Main(os.Args[1:], os.Stdout, os.Stderr))
}
