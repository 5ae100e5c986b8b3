// Command identity runs the Passthru Identity provider (OAuth 2.1 / OpenID Connect).
package main

import (
	"os"

	identityserver "github.com/passthru-dev/passthru/services/identity/server"
)

func main() {
	os.Exit(identityserver.Main(os.Args[1:], os.Stdout, os.Stderr))
}
