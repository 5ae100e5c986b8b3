package identity

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"

	"github.com/passthru-dev/passthru/services/infra/config"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// TestSetupTelemetryExportsOverVerifiedTLS runs a TLS 1.3 collector whose
// certificate chains to a CA bundle, points log.otlp_endpoint and
// log.otlp_ca_file at it, and checks a span really arrives.
func TestSetupTelemetryExportsOverVerifiedTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := tlsx.EnsureDemoPKI(filepath.Join(dir, "pki"), "otlp")
	require.NoError(t, err)

	var mu sync.Mutex
	var paths []string
	var versions []uint16
	collector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		versions = append(versions, r.TLS.Version)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	collector.TLS = tlsx.ServerConfig(pki.Certificate, nil)
	collector.StartTLS()
	t.Cleanup(collector.Close)

	prevTP, prevMP := otel.GetTracerProvider(), otel.GetMeterProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetMeterProvider(prevMP) })

	var logs bytes.Buffer
	logger, stop, err := setupTelemetry(config.Log{Format: "json", Level: "info", OTLPEndpoint: collector.URL, OTLPCAFile: pki.CAFile}, &logs)
	require.NoError(t, err)
	require.NotNil(t, logger)
	_, span := otel.Tracer("identity-test").Start(t.Context(), "probe")
	span.End()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, stop(ctx), "flush to the collector: %s", logs.String())

	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, paths, "POST /v1/traces", "the span reached the collector")
	for _, v := range versions {
		assert.Equal(t, uint16(tls.VersionTLS13), v)
	}
	assert.NotContains(t, logs.String(), "telemetry export failed")
}

func TestSetupTelemetryRefusals(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	for _, tc := range []struct {
		desc    string
		cfg     config.Log
		wantErr string
	}{
		{desc: "endpoint without CA file", cfg: config.Log{OTLPEndpoint: "https://127.0.0.1:4318"}, wantErr: "otlp_ca_file"},
		{desc: "missing CA file", cfg: config.Log{OTLPEndpoint: "https://127.0.0.1:4318", OTLPCAFile: filepath.Join(dir, "nope.pem")}, wantErr: "otlp_ca_file"},
		{desc: "CA file without certificates", cfg: config.Log{OTLPEndpoint: "https://127.0.0.1:4318", OTLPCAFile: notPEM}, wantErr: "otlp_ca_file"},
		{desc: "bad log format", cfg: config.Log{Format: "xml"}, wantErr: "telemetry"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, _, err := setupTelemetry(tc.cfg, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
