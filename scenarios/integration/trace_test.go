package integration_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// recorder is one party's own TracerProvider and the spans it ended.
type recorder struct {
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
}

func newRecorder(t *testing.T) recorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return recorder{tp: tp, rec: rec}
}

// span is the first ended span of kind whose url.path matches, or nil.
func (r recorder) span(kind trace.SpanKind, match func(path string) bool) sdktrace.ReadOnlySpan {
	for _, s := range r.rec.Ended() {
		if s.SpanKind() != kind {
			continue
		}
		for _, a := range s.Attributes() {
			if a.Key == "url.path" && match(a.Value.AsString()) {
				return s
			}
		}
	}
	return nil
}

// byID is the ended span with id, or nil.
func (r recorder) byID(id trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range r.rec.Ended() {
		if s.SpanContext().SpanID() == id {
			return s
		}
	}
	return nil
}

func hasPrefix(p string) func(string) bool {
	return func(path string) bool { return strings.HasPrefix(path, p) }
}

// TestOneTraceAcrossServices follows one client trace through the system
// as the demo starts it: a token from Identity (client credentials), then
// an encryption at the KMS with that token, which makes the KMS introspect
// it at Identity. Each party records with its own TracerProvider (the two
// services share a process, so nothing may go through OpenTelemetry's
// globals); every server span must continue the client's trace, and
// Identity's introspection span must be the child of the KMS's client span
// for that call, itself a child of the KMS's request span.
func TestOneTraceAcrossServices(t *testing.T) {
	client, idpRec, kmsRec := newRecorder(t), newRecorder(t), newRecorder(t)
	idp, k := fixture.StartSystemWith(t, dbtest.SQLite,
		[]fixture.IdentityOption{fixture.WithIdentityTracerProvider(idpRec.tp)},
		fixture.WithKMSTracerProvider(kmsRec.tp))
	kt, err := target.New(target.Options{Service: "kms", BaseURL: k.URL, CAFile: k.CAFile, DemoFile: k.DemoFile})
	require.NoError(t, err)
	it, err := target.New(target.Options{Service: "identity", BaseURL: idp.URL, CAFile: idp.CAFile, DemoFile: idp.DemoFile})
	require.NoError(t, err)

	// The application's side: a plain otelhttp client with the W3C
	// propagator, as any instrumented caller would send.
	traced := func(c *http.Client) *http.Client {
		out := *c
		out.Transport = otelhttp.NewTransport(c.Transport, otelhttp.WithTracerProvider(client.tp),
			otelhttp.WithPropagators(propagation.TraceContext{}))
		return &out
	}
	ctx, cancel := context.WithTimeout(fixture.ITContext(t), 30*time.Second)
	defer cancel()
	ctx, root := client.tp.Tracer("trace_test").Start(ctx, "encrypt with a service token")

	tenant, err := it.Tenant(0)
	require.NoError(t, err)
	var svc demofile.Client
	for _, c := range tenant.Clients {
		if strings.HasPrefix(c.ClientID, "demo-service") {
			svc = c
		}
	}
	require.NotEmpty(t, svc.ClientID, "Identity demo tenant has no demo-service client")
	cc := clientcredentials.Config{
		ClientID: svc.ClientID, ClientSecret: svc.ClientSecret,
		TokenURL: it.URL("/oauth2/v1/token"), AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, traced(it.HTTP)))
	require.NoError(t, err)

	kmsTenant, err := kt.Tenant(0)
	require.NoError(t, err)
	var keyID uuid.UUID
	for _, key := range kmsTenant.Keys {
		if key.Name == "demo-a256gcm" {
			keyID = uuid.MustParse(key.ID)
		}
	}
	require.NotEqual(t, uuid.Nil, keyID, "KMS demo tenant has no demo-a256gcm key")
	kmsAPI, err := api.NewClientWithResponses(kt.BaseURL, api.WithHTTPClient(traced(kt.HTTP)))
	require.NoError(t, err)
	enc, err := kmsAPI.EncryptWithResponse(ctx, keyID, api.EncryptRequest{Plaintext: []byte("traced")}, func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return nil
	})
	require.NoError(t, err)
	require.NotNil(t, enc.JSON200, "encrypt: HTTP %d: %s", enc.StatusCode(), target.Excerpt(enc.Body))
	root.End()
	traceID := root.SpanContext().TraceID()

	// A server span ends after its response is written: the client may
	// have its answer a moment before the span is recorded.
	var tokenSpan, kmsSpan, introSpan sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		tokenSpan = idpRec.span(trace.SpanKindServer, hasPrefix("/oauth2/v1/token"))
		kmsSpan = kmsRec.span(trace.SpanKindServer, hasPrefix("/api/v1/elastic-keys/"+keyID.String()+"/encrypt"))
		introSpan = idpRec.span(trace.SpanKindServer, hasPrefix("/oauth2/v1/introspect"))
		return tokenSpan != nil && kmsSpan != nil && introSpan != nil
	}, 10*time.Second, 10*time.Millisecond, "server spans: token %v, KMS encrypt %v, introspection %v", tokenSpan != nil, kmsSpan != nil, introSpan != nil)

	assert.Equal(t, traceID, tokenSpan.SpanContext().TraceID(), "Identity's token span is not in the client's trace")
	assert.Equal(t, traceID, kmsSpan.SpanContext().TraceID(), "the KMS request span is not in the client's trace")
	assert.Equal(t, traceID, introSpan.SpanContext().TraceID(), "Identity's introspection span is not in the client's trace")
	for name, s := range map[string]sdktrace.ReadOnlySpan{"token": tokenSpan, "KMS encrypt": kmsSpan} {
		if parent := client.byID(s.Parent().SpanID()); assert.NotNil(t, parent, "the %s span's parent is no span of the client", name) {
			assert.Equal(t, trace.SpanKindClient, parent.SpanKind(), "the %s span's parent", name)
		}
	}
	kmsCall := kmsRec.byID(introSpan.Parent().SpanID())
	require.NotNil(t, kmsCall, "Identity's introspection span's parent is no span of the KMS")
	assert.Equal(t, trace.SpanKindClient, kmsCall.SpanKind(), "Identity's introspection span's parent is not a KMS client span")
	assert.Equal(t, kmsSpan.SpanContext().SpanID(), kmsCall.Parent().SpanID(), "the KMS's introspection call is not a child of the request that needed it")
}
