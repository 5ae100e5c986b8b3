package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/telemetry"
)

// Check is one named readiness check: nil when the dependency is ready.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check, so a hanging dependency makes
// /readyz answer "not ready" instead of hanging the probe.
const CheckTimeout = 2 * time.Second

// runtimeChecks are the checks every service has: the database answers and
// the barrier is unsealed (a canary wrapped now unwraps later).
func runtimeChecks(ctx context.Context, d *db.DB, b *barrier.Barrier) ([]Check, error) {
	const purpose = "serve/readiness"
	canary, err := b.Wrap(ctx, uuid.Nil, purpose, []byte("ready"))
	if err != nil {
		return nil, fmt.Errorf("barrier self-check: %w", err)
	}
	return []Check{
		{Name: "database", Check: d.Ping},
		{Name: "barrier", Check: func(ctx context.Context) error {
			_, err := b.Unwrap(ctx, uuid.Nil, purpose, canary)
			return err
		}},
	}, nil
}

// Handler wraps a service's handler the one way every service is wrapped:
// request id first (so every later layer logs it), then the access log
// (outside Recover, so a request that panicked still gets its line with the
// 500), then Recover, then the OpenTelemetry span; /livez and /readyz are
// answered before the service's handler.
func Handler(name string, h http.Handler, checks []Check, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", readyz(checks, opts.Logger))
	mux.Handle("/", h)
	var inner http.Handler = mux
	// Without a provider there is nowhere for spans to go: skip the
	// instrumentation and its cost on every request.
	if opts.TracerProvider != nil || opts.MeterProvider != nil {
		// The service's own propagator, not the global one: a request's
		// traceparent continues the caller's trace even when nothing has
		// installed a global propagator (two services in one process).
		otelOpts := []otelhttp.Option{otelhttp.WithPropagators(telemetry.Propagator())}
		if opts.TracerProvider != nil {
			otelOpts = append(otelOpts, otelhttp.WithTracerProvider(opts.TracerProvider))
		}
		if opts.MeterProvider != nil {
			otelOpts = append(otelOpts, otelhttp.WithMeterProvider(opts.MeterProvider))
		}
		inner = otelhttp.NewHandler(mux, name, otelOpts...)
	}
	return httpx.Chain(inner, httpx.RequestID, httpx.AccessLog(opts.Logger), httpx.Recover(opts.Logger))
}

// readyz answers 200 when every check passes, else 503. The body names each
// check with a fixed word: why a check failed is for the log, not for
// whoever asks (an error text can reveal hosts, paths or versions).
func readyz(checks []Check, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results := make(map[string]string, len(checks))
		status, word := http.StatusOK, "ready"
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
			err := c.Check(ctx)
			cancel()
			if err != nil {
				results[c.Name] = "unavailable"
				status, word = http.StatusServiceUnavailable, "not ready"
				logger.WarnContext(r.Context(), "readiness check failed", "check", c.Name, "error", err)
				continue
			}
			results[c.Name] = "ok"
		}
		httpx.WriteJSON(w, status, map[string]any{"status": word, "checks": results})
	})
}
