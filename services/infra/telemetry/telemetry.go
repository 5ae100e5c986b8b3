// Package telemetry sets up logging (log/slog, JSON or text, with secrets
// redacted and trace ids attached) and OpenTelemetry traces and metrics
// exported over OTLP/HTTP. Without an OTLP endpoint the providers are no-ops,
// so instrumented code costs next to nothing and needs no collector.
//
// Trace context crosses services as W3C trace-context (Propagator): servers
// extract it (services/infra/serve) and outgoing clients inject it
// (Transport), each with the service's own providers rather than
// OpenTelemetry's globals.
package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Options configures logging and telemetry.
type Options struct {
	Format string // "json" (default) or "text"
	Level  string // "debug", "info" (default), "warn", "error"; slog offsets like "info+2" work too
	// Service names the process in every log line ("service" attribute) and
	// in the OTLP resource (service.name).
	Service string
	// OTLPEndpoint is the collector's base URL, e.g. "https://otel:4318";
	// "/v1/traces" and "/v1/metrics" are appended to its path. Empty means
	// no export. It must be https with TLS set: every client of the system
	// speaks TLS 1.3 (docs/architecture.md), so plain http is refused even to a loopback sidecar.
	OTLPEndpoint string
	// TLS is the client configuration for an https endpoint. Its RootCAs
	// (required: never the system roots) is the CA bundle the collector's
	// certificate chains to; InsecureSkipVerify is refused. TLS 1.3 is
	// enforced on a copy.
	TLS *tls.Config
	// CAFile is a PEM CA bundle to trust for the collector when TLS is nil:
	// the services' log.otlp_ca_file. The client config built from it is
	// TLS 1.3 only and trusts exactly that bundle.
	CAFile string
	Output io.Writer // default os.Stderr
}

// Telemetry is what New sets up.
type Telemetry struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider // no-op without an endpoint
	MeterProvider  metric.MeterProvider // no-op without an endpoint
	// Shutdown flushes pending spans and metrics and stops the exporters.
	// It is safe to call more than once; later calls return the first result.
	Shutdown func(context.Context) error
}

// New builds the logger and the providers without touching OpenTelemetry's
// globals, so two services in one process (the demo, tests) each keep their
// own. Setup is New plus installing the providers globally.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	logger, err := newLogger(opts)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{
		Logger:         logger,
		TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider:  metricnoop.NewMeterProvider(),
		Shutdown:       func(context.Context) error { return nil },
	}
	if opts.OTLPEndpoint == "" {
		return t, nil
	}
	tp, mp, err := newProviders(ctx, opts)
	if err != nil {
		return nil, err
	}
	t.TracerProvider, t.MeterProvider = tp, mp
	var (
		once    sync.Once
		shutErr error
	)
	t.Shutdown = func(ctx context.Context) error {
		once.Do(func() {
			if err := errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)); err != nil {
				shutErr = fmt.Errorf("telemetry shutdown: %w", err)
			}
		})
		return shutErr
	}
	return t, nil
}

// Setup builds logging and telemetry (see New) and, when an OTLP endpoint is
// configured, installs the providers as OpenTelemetry's globals — with W3C
// trace-context and baggage propagation and export errors logged through
// the returned logger — so that instrumentation libraries pick them up.
// Without an endpoint the globals are left alone (no-op by default).
// The returned function flushes and shuts the exporters down.
func Setup(ctx context.Context, opts Options) (*slog.Logger, func(context.Context) error, error) {
	t, err := New(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	if opts.OTLPEndpoint != "" {
		otel.SetTracerProvider(t.TracerProvider)
		otel.SetMeterProvider(t.MeterProvider)
		otel.SetTextMapPropagator(Propagator())
		logger := t.Logger
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			logger.Warn("telemetry export failed", slog.String("error", err.Error()))
		}))
	}
	return t.Logger, t.Shutdown, nil
}

func newProviders(ctx context.Context, opts Options) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider, error) {
	cfg := opts.TLS
	if cfg == nil && opts.CAFile != "" {
		certs, err := tlsx.ReadCertsPEM(opts.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("telemetry: OTLP CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		cfg = tlsx.ClientConfig(pool, nil)
	}
	ep, err := parseEndpoint(opts.OTLPEndpoint, cfg)
	if err != nil {
		return nil, nil, err
	}
	traceOpts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(ep.host), otlptracehttp.WithURLPath(ep.basePath + "/v1/traces")}
	metricOpts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(ep.host), otlpmetrichttp.WithURLPath(ep.basePath + "/v1/metrics")}
	// parseEndpoint only accepts https, so there is always a TLS config
	// and never a WithInsecure.
	traceOpts = append(traceOpts, otlptracehttp.WithTLSClientConfig(ep.tls))
	metricOpts = append(metricOpts, otlpmetrichttp.WithTLSClientConfig(ep.tls))
	texp, err := otlptracehttp.New(ctx, traceOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: trace exporter: %w", err)
	}
	mexp, err := otlpmetrichttp.New(ctx, metricOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: metric exporter: %w", err)
	}
	var attrs []attribute.KeyValue
	if opts.Service != "" {
		attrs = append(attrs, attribute.String("service.name", opts.Service))
	}
	res := resource.NewSchemaless(attrs...)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)), sdkmetric.WithResource(res))
	return tp, mp, nil
}

type endpoint struct {
	host     string // host:port
	basePath string // without trailing slash
	tls      *tls.Config
}

// parseEndpoint enforces the transport rules of Options.OTLPEndpoint.
func parseEndpoint(raw string, cfg *tls.Config) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint: %w", err)
	}
	if u.User != nil {
		// Not echoing raw: the user info may be a password.
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: credentials in the URL are not allowed", u.Redacted())
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: want scheme://host[:port][/path]", raw)
	}
	ep := endpoint{host: u.Host, basePath: strings.TrimSuffix(u.Path, "/")}
	switch u.Scheme {
	case "http":
		// No loopback exception: a sidecar collector is still a client
		// connection, and the system allows no unencrypted ones.
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: plain http is not allowed; use https with Options.TLS (the collector's CA bundle)", raw)
	case "https":
		// A nil RootCAs would silently mean the system roots, and
		// InsecureSkipVerify no verification at all: both break the rule
		// that every client trusts only the configured CA bundle.
		switch {
		case cfg == nil || cfg.RootCAs == nil:
			return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: https needs Options.TLS with RootCAs (the collector's CA bundle; system roots are never used)", raw)
		case cfg.InsecureSkipVerify:
			return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: Options.TLS must not disable certificate verification", raw)
		}
		ep.tls = cfg.Clone()
		ep.tls.MinVersion = tls.VersionTLS13
		ep.tls.MaxVersion = tls.VersionTLS13
	default:
		return endpoint{}, fmt.Errorf("telemetry: OTLP endpoint %q: scheme must be https", raw)
	}
	return ep, nil
}
