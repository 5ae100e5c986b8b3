package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Propagator is how every service carries the trace context across HTTP:
// W3C trace-context and baggage headers. Servers extract with it and clients
// inject with it explicitly, never through OpenTelemetry's global
// propagator, which stays a no-op unless Setup installs it (two services in
// one process must not depend on, or change, process-wide state).
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Transport instruments an outgoing HTTP client's transport with the
// service's own providers: each request gets a client span, a child of the
// span in its context, and carries the trace context (Propagator) to the
// server. With both providers nil it returns rt itself, so an uninstrumented
// service pays nothing per request. A nil provider beside a set one is a
// no-op, never the global.
func Transport(rt http.RoundTripper, tp trace.TracerProvider, mp metric.MeterProvider) http.RoundTripper {
	if tp == nil && mp == nil {
		return rt
	}
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(Propagator()))
}
