package server

import (
	"io"

	"github.com/passthru-dev/passthru/services/infra/serve"
)

// Main is the kms binary (serve.Main): it serves until SIGINT or SIGTERM
// and returns the process exit code (0 clean stop, 1 failure, 2 usage).
func Main(args []string, stdout, stderr io.Writer) int {
	return serve.Main(service(), args, stdout, stderr)
}

// service is the service with its defaults, to be loaded into from the
// config file and the environment.
func service() *serve.Service {
	s, _ := newServer(Options{})
	return s.service()
}
