package server

import (
	"context"
	"io"

	"github.com/passthru-dev/passthru/services/infra/serve"
)

// RunMain is Main bounded by a context and with an explicit environment.
func RunMain(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	s, _ := newServer(Options{})
	return serve.Run(ctx, s.service(), args, stdout, stderr, env)
}
