// Command covergate fails CI when a package under services/ or testkit/ is
// below its statement-coverage threshold. See package covergate.
//
//	go test -coverpkg=./... -coverprofile=coverage.out ./...
//	go run ./ci/cmd/covergate -root . coverage.out
package main

import (
	"os"

	"github.com/passthru-dev/passthru/ci/covergate"
)

func main() {
	os.Exit(covergate.Run(os.Args[1:], os.Stdout, os.Stderr))
}
