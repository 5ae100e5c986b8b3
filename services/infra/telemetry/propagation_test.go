package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTransportWithoutProvidersIsTheTransport: an uninstrumented service's
// clients keep their transport itself, so a request costs nothing extra.
func TestTransportWithoutProvidersIsTheTransport(t *testing.T) {
	rt := &http.Transport{}
	assert.Same(t, rt, Transport(rt, nil, nil))
}

// TestTransportPropagatesWithoutGlobals: the client span is the service's
// own provider's and the traceparent goes out although OpenTelemetry's
// global propagator (untouched here) injects nothing.
func TestTransportPropagatesWithoutGlobals(t *testing.T) {
	if f := otel.GetTextMapPropagator().Fields(); len(f) > 0 {
		t.Fatalf("a global propagator is installed (%v): the test cannot tell the service's from it", f)
	}
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	c := &http.Client{Transport: Transport(http.DefaultTransport, tp, nil)}
	resp, err := c.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	parent.End()

	spans := rec.Ended()
	require.Len(t, spans, 2, "the client span and its parent")
	client := spans[0]
	assert.Equal(t, trace.SpanKindClient, client.SpanKind())
	assert.Equal(t, parent.SpanContext().SpanID(), client.Parent().SpanID())
	want := "00-" + client.SpanContext().TraceID().String() + "-" + client.SpanContext().SpanID().String() + "-01"
	assert.Equal(t, want, <-got, "the server gets the client span as its parent")
}
