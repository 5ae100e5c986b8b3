// Command identity runs the Passthru Identity provider (OAuth 2.1 / OpenID Connect).
package main

import (
	"os"

	"github.com/passthru-dev/passthru/services/identity"
)

func main() {
	os.Exit(identity.Main(os.Args[1:], os.Stdout, os.Stderr))
}
