// Command kms runs the Passthru KMS. Everything but flag handling lives in
// package services/kms/server, so tests and the demo start the same code in-process.
package main

import (
	"os"

	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
)

func main() {
	os.Exit(kmsserver.Main(os.Args[1:], os.Stdout, os.Stderr))
}
