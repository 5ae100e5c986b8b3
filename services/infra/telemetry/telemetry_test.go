package telemetry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/passthru-dev/passthru/testkit/tlstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	metricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

func TestLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		opts    Options
		log     func(*slog.Logger)
		want    []string // substrings of the output
		notWant []string
	}{
		{
			desc: "json default with service",
			opts: Options{Service: "kms"},
			log:  func(l *slog.Logger) { l.Info("hello", "n", 1) },
			want: []string{`"msg":"hello"`, `"service":"kms"`, `"n":1`, `"level":"INFO"`},
		},
		{
			desc: "text format",
			opts: Options{Format: "TEXT"},
			log:  func(l *slog.Logger) { l.Info("hello", "n", 1) },
			want: []string{"msg=hello", "n=1"}, notWant: []string{"service="},
		},
		{
			desc: "level filters",
			opts: Options{Level: "warn"},
			log:  func(l *slog.Logger) { l.Info("quiet"); l.Warn("loud") },
			want: []string{"loud"}, notWant: []string{"quiet"},
		},
		{
			desc: "debug level",
			opts: Options{Level: "DEBUG"},
			log:  func(l *slog.Logger) { l.Debug("detail") },
			want: []string{"detail"},
		},
		{
			desc: "secrets redacted at any depth",
			opts: Options{},
			log: func(l *slog.Logger) {
				l.Info("login",
					"username", "alice", "password", "hunter2", "client_secret", "cs-1",
					slog.Group("req", "Authorization", "Bearer abc.def", "code", "authz-code-1", "status", 200),
					"refresh_token", "rt-1", "plaintext", "pt-1", "key_id", "kid-1")
				l.With("api_key", "ak-1").WithGroup("g").Info("x", "id_token", "it-1")
			},
			want:    []string{`"username":"alice"`, `"status":200`, `"key_id":"kid-1"`, `"password":"[REDACTED]"`, `"code":"[REDACTED]"`},
			notWant: []string{"hunter2", "cs-1", "abc.def", "authz-code-1", "rt-1", "pt-1", "ak-1", "it-1"},
		},
		{
			desc: "everything inside a sensitive group is redacted",
			opts: Options{Format: "text"},
			log: func(l *slog.Logger) {
				l.Info("login", slog.Group("credentials", "user", "bob", "value", "pw-in-group"),
					slog.Group("client", "id", "c-1"))
				l.WithGroup("tokens").Info("issued", "access", "at-in-group")
			},
			want:    []string{"credentials.user=[REDACTED]", "credentials.value=[REDACTED]", "client.id=c-1"},
			notWant: []string{"pw-in-group", "at-in-group"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tc.opts.Output = &buf
			logger, shutdown, err := Setup(t.Context(), tc.opts)
			require.NoError(t, err)
			tc.log(logger)
			require.NoError(t, shutdown(t.Context()))
			for _, w := range tc.want {
				assert.Contains(t, buf.String(), w)
			}
			for _, nw := range tc.notWant {
				assert.NotContains(t, buf.String(), nw)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc    string
		opts    Options
		wantErr string
	}{
		{desc: "unknown format", opts: Options{Format: "xml"}, wantErr: `log format "xml"`},
		{desc: "unknown level", opts: Options{Level: "loud"}, wantErr: `log level "loud"`},
		{desc: "plain http to a remote collector", opts: Options{OTLPEndpoint: "http://collector.example:4318"}, wantErr: "plain http is not allowed; use https with Options.TLS"},
		{desc: "plain http to loopback ipv4", opts: Options{OTLPEndpoint: "http://127.0.0.1:4318"}, wantErr: "plain http is not allowed; use https with Options.TLS"},
		{desc: "plain http to localhost with slash", opts: Options{OTLPEndpoint: "http://localhost:4318/"}, wantErr: "plain http is not allowed"},
		{desc: "plain http to ipv6 loopback with prefix path", opts: Options{OTLPEndpoint: "http://[::1]:4318/otlp/"}, wantErr: "plain http is not allowed"},
		{desc: "plain http even with a TLS config", opts: Options{OTLPEndpoint: "http://127.0.0.1:4318", TLS: &tls.Config{RootCAs: x509.NewCertPool()}}, wantErr: "plain http is not allowed"},
		{desc: "plain http scheme in upper case", opts: Options{OTLPEndpoint: "HTTP://127.0.0.1:4318"}, wantErr: "plain http is not allowed"},
		{desc: "https without TLS config", opts: Options{OTLPEndpoint: "https://collector.example:4318"}, wantErr: "needs Options.TLS"},
		{desc: "grpc scheme", opts: Options{OTLPEndpoint: "grpc://127.0.0.1:4317"}, wantErr: "scheme"},
		{desc: "bare host", opts: Options{OTLPEndpoint: "127.0.0.1:4318"}, wantErr: "OTLP endpoint"},
		{desc: "query string", opts: Options{OTLPEndpoint: "https://127.0.0.1:4318/?x=1"}, wantErr: "want scheme://host"},
		{desc: "credentials in URL", opts: Options{OTLPEndpoint: "https://u:hunter2@127.0.0.1:4318"}, wantErr: "credentials in the URL"},
		{desc: "https without RootCAs would use the system roots", opts: Options{OTLPEndpoint: "https://collector.example:4318", TLS: &tls.Config{}}, wantErr: "system roots are never used"},
		{desc: "https with verification disabled", opts: Options{OTLPEndpoint: "https://collector.example:4318", TLS: &tls.Config{RootCAs: x509.NewCertPool(), InsecureSkipVerify: true}}, wantErr: "must not disable certificate verification"},
		{desc: "unparseable", opts: Options{OTLPEndpoint: "https://[::1"}, wantErr: "OTLP endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			tc.opts.Output = io.Discard
			_, err := New(t.Context(), tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.NotContains(t, err.Error(), "hunter2", "errors never echo URL credentials")
			_, _, err = Setup(t.Context(), tc.opts)
			require.Error(t, err)
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	base := &tls.Config{ServerName: "otel", RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
	tests := []struct {
		desc     string
		raw      string
		wantHost string
		wantPath string
	}{
		{desc: "loopback https", raw: "https://127.0.0.1:4318", wantHost: "127.0.0.1:4318"},
		{desc: "localhost with slash", raw: "https://localhost:4318/", wantHost: "localhost:4318"},
		{desc: "ipv6 loopback with prefix path", raw: "https://[::1]:4318/otlp/", wantHost: "[::1]:4318", wantPath: "/otlp"},
		{desc: "https remote", raw: "https://otel.example:4318", wantHost: "otel.example:4318"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ep, err := parseEndpoint(tc.raw, base)
			require.NoError(t, err)
			assert.Equal(t, tc.wantHost, ep.host)
			assert.Equal(t, tc.wantPath, ep.basePath)
			require.NotNil(t, ep.tls, "every accepted endpoint is https")
			assert.Equal(t, uint16(tls.VersionTLS13), ep.tls.MinVersion, "TLS 1.3 enforced")
			assert.Equal(t, uint16(tls.VersionTLS13), ep.tls.MaxVersion, "TLS 1.3 only")
			assert.Equal(t, "otel", ep.tls.ServerName)
			assert.Equal(t, uint16(tls.VersionTLS12), base.MinVersion, "caller's config untouched")
		})
	}
}

func TestNoopWithoutEndpoint(t *testing.T) {
	t.Parallel()
	tel, err := New(t.Context(), Options{Output: io.Discard})
	require.NoError(t, err)
	assert.IsType(t, tracenoop.TracerProvider{}, tel.TracerProvider)
	assert.IsType(t, noop.MeterProvider{}, tel.MeterProvider)
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "s")
	assert.False(t, span.SpanContext().IsValid(), "no-op spans carry no ids")
	span.End()
	require.NoError(t, tel.Shutdown(t.Context()))
}

// collector is a loopback OTLP/HTTP receiver recording decoded exports.
type collector struct {
	mu      sync.Mutex
	spans   []string
	service []string
	metrics []string
	ctype   []string
	tlsVers []uint16 // negotiated TLS version per request; 0 = plain http
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctype = append(c.ctype, r.Header.Get("Content-Type"))
	var vers uint16
	if r.TLS != nil {
		vers = r.TLS.Version
	}
	c.tlsVers = append(c.tlsVers, vers)
	switch r.URL.Path {
	case "/v1/traces":
		var req tracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, rs := range req.ResourceSpans {
			c.service = append(c.service, attr(rs.GetResource().GetAttributes(), "service.name"))
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, s.Name)
				}
			}
		}
		out, _ := proto.Marshal(&tracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	case "/v1/metrics":
		var req metricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					c.metrics = append(c.metrics, m.Name)
				}
			}
		}
		out, _ := proto.Marshal(&metricpb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	default:
		http.NotFound(w, r)
	}
}

// startCollector serves h over https on loopback with a TLS 1.3 server
// configuration from a fresh test PKI, and returns the server and a client
// configuration that trusts only that PKI's root. The client config sets
// no versions on purpose: the exporter must enforce TLS 1.3 itself.
func startCollector(t *testing.T, h http.Handler) (*httptest.Server, *tls.Config) {
	t.Helper()
	pki := tlstest.New(t)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = pki.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &tls.Config{RootCAs: pki.Roots}
}

// assertTLS13 checks that every export the collector saw came over TLS 1.3.
func (c *collector) assertTLS13(t *testing.T) {
	t.Helper()
	require.NotEmpty(t, c.tlsVers)
	for _, v := range c.tlsVers {
		assert.Equal(t, uint16(tls.VersionTLS13), v, "export over TLS 1.3")
	}
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func TestOTLPExport(t *testing.T) {
	// Not parallel: Setup installs OpenTelemetry's global providers.
	var col collector
	srv, cfg := startCollector(t, &col)
	require.True(t, strings.HasPrefix(srv.URL, "https://"))

	var logs bytes.Buffer
	logger, shutdown, err := Setup(t.Context(), Options{Service: "kms-test", OTLPEndpoint: srv.URL, TLS: cfg, Output: &logs})
	require.NoError(t, err)

	// Use the globals, as instrumentation libraries do.
	ctx, span := otel.Tracer("passthru/test").Start(t.Context(), "encrypt")
	logger.InfoContext(ctx, "inside span")
	span.End()
	counter, err := otel.Meter("passthru/test").Int64Counter("passthru.test.requests")
	require.NoError(t, err)
	counter.Add(ctx, 3)

	require.NoError(t, shutdown(context.WithoutCancel(t.Context())), "shutdown flushes to the collector")
	require.NoError(t, shutdown(t.Context()), "second shutdown is harmless")

	col.mu.Lock()
	defer col.mu.Unlock()
	assert.Equal(t, []string{"encrypt"}, col.spans)
	assert.Equal(t, []string{"kms-test"}, col.service)
	assert.Contains(t, col.metrics, "passthru.test.requests")
	for _, ct := range col.ctype {
		assert.Equal(t, "application/x-protobuf", ct)
	}
	col.assertTLS13(t)

	var line map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &line))
	assert.Equal(t, span.SpanContext().TraceID().String(), line["trace_id"])
	assert.Equal(t, span.SpanContext().SpanID().String(), line["span_id"])
}

func TestOTLPExportViaNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		suffix string
	}{
		{desc: "https with the collector's CA, trailing slash", suffix: "/"},
		{desc: "https with the collector's CA, no path"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var col collector
			srv, cfg := startCollector(t, &col)
			tel, err := New(t.Context(), Options{Service: "identity-test", OTLPEndpoint: srv.URL + tc.suffix, TLS: cfg, Output: io.Discard})
			require.NoError(t, err)
			_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "token", trace.WithSpanKind(trace.SpanKindServer))
			span.End()
			require.NoError(t, tel.Shutdown(t.Context()))
			col.mu.Lock()
			defer col.mu.Unlock()
			assert.Equal(t, []string{"token"}, col.spans)
			assert.Equal(t, []string{"identity-test"}, col.service)
			col.assertTLS13(t)
		})
	}
}

func TestOTLPShutdownReportsFailure(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "nope", http.StatusBadRequest) // not retryable
	})
	tests := []struct {
		desc        string
		start       func(t *testing.T) (*httptest.Server, *tls.Config)
		wantReached bool
	}{
		{
			desc:        "collector answers 400",
			start:       func(t *testing.T) (*httptest.Server, *tls.Config) { return startCollector(t, refuse) },
			wantReached: true,
		},
		{
			desc: "collector offers only TLS 1.2",
			start: func(t *testing.T) (*httptest.Server, *tls.Config) {
				pki := tlstest.New(t)
				srv := httptest.NewUnstartedServer(refuse)
				srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
				srv.Config.ErrorLog = log.New(io.Discard, "", 0)
				srv.StartTLS()
				t.Cleanup(srv.Close)
				return srv, &tls.Config{RootCAs: pki.Roots}
			},
		},
		{
			desc: "collector certificate from another CA",
			start: func(t *testing.T) (*httptest.Server, *tls.Config) {
				srv, _ := startCollector(t, refuse)
				srv.Config.ErrorLog = log.New(io.Discard, "", 0)
				return srv, &tls.Config{RootCAs: tlstest.New(t).Roots}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			// Not parallel: the subtests share the reached counter.
			reached.Store(0)
			srv, cfg := tc.start(t)
			tel, err := New(t.Context(), Options{OTLPEndpoint: srv.URL, TLS: cfg, Output: io.Discard})
			require.NoError(t, err)
			_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "s")
			span.End()
			err = tel.Shutdown(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "telemetry shutdown")
			assert.Equal(t, tc.wantReached, reached.Load() > 0, "handler reached only over an acceptable TLS 1.3 connection")
		})
	}
}

func TestIsSensitive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		key  string
		want bool
	}{
		{desc: "password", key: "password", want: true},
		{desc: "suffix password", key: "new_password", want: true},
		{desc: "client secret", key: "client_secret", want: true},
		{desc: "header name casing", key: "Authorization", want: true},
		{desc: "access token", key: "access_token", want: true},
		{desc: "authorization code exact", key: "code", want: true},
		{desc: "pkce verifier", key: "code_verifier", want: true},
		{desc: "plaintext", key: "plaintext", want: true},
		{desc: "cookie header", key: "Set-Cookie", want: true},
		{desc: "unseal secret file content", key: "unseal_secret", want: true},
		{desc: "username is fine", key: "username", want: false},
		{desc: "status code is fine", key: "status_code", want: false},
		{desc: "key id is fine", key: "key_id", want: false},
		{desc: "message is fine", key: "msg", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, IsSensitive(tc.key))
			got := Redact(nil, slog.String(tc.key, "v"))
			assert.Equal(t, tc.key, got.Key)
			assert.Equal(t, tc.want, got.Value.String() == Redacted)
			if !tc.want {
				assert.Equal(t, "v", got.Value.String())
			}
		})
	}
}

func TestOTLPExportTrustsCAFile(t *testing.T) {
	t.Parallel()
	var col collector
	pki := tlstest.New(t)
	srv := httptest.NewUnstartedServer(&col)
	srv.TLS = pki.ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cases := []struct {
		desc    string
		caFile  string
		wantErr string
	}{
		{desc: "the collector's CA bundle: spans arrive over TLS 1.3", caFile: pki.CAFile},
		{desc: "a missing bundle is refused at setup", caFile: filepath.Join(t.TempDir(), "none.pem"), wantErr: "OTLP CA bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tel, err := New(t.Context(), Options{Service: "ca-file", OTLPEndpoint: srv.URL, CAFile: tc.caFile, Output: io.Discard})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "via-ca-file")
			span.End()
			require.NoError(t, tel.Shutdown(context.WithoutCancel(t.Context())))
			col.mu.Lock()
			defer col.mu.Unlock()
			assert.Contains(t, col.spans, "via-ca-file")
			col.assertTLS13(t)
		})
	}

	// Another CA's bundle: the exporter refuses the collector's certificate.
	var other collector
	osrv := httptest.NewUnstartedServer(&other)
	osrv.TLS = tlstest.New(t).ServerConfig()
	osrv.StartTLS()
	t.Cleanup(osrv.Close)
	tel, err := New(t.Context(), Options{Service: "ca-file", OTLPEndpoint: osrv.URL, CAFile: pki.CAFile, Output: io.Discard})
	require.NoError(t, err)
	_, span := tel.TracerProvider.Tracer("t").Start(t.Context(), "refused")
	span.End()
	require.Error(t, tel.Shutdown(context.WithoutCancel(t.Context())), "export to a collector of another CA fails")
	other.mu.Lock()
	defer other.mu.Unlock()
	assert.Empty(t, other.spans)
}

// TestParseLevelAndFormat: the exported checks accept exactly what Setup
// accepts, so a service's --check-config agrees with its startup.
func TestParseLevelAndFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc      string
		level     string
		format    string
		wantLevel slog.Level
		wantErr   string
	}{
		{desc: "empty level and format are the defaults", wantLevel: slog.LevelInfo},
		{desc: "debug json", level: "debug", format: "json", wantLevel: slog.LevelDebug},
		{desc: "upper case level and format", level: "WARN", format: "TEXT", wantLevel: slog.LevelWarn},
		{desc: "level with offset", level: "error+2", format: "text", wantLevel: slog.LevelError + 2},
		{desc: "unknown level", level: "loud", wantErr: `log level "loud": want debug, info, warn or error`},
		{desc: "numeric level is not a name", level: "4", wantErr: `log level "4"`},
		{desc: "unknown format", format: "xml", wantErr: `log format "xml": want json or text`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			level, lerr := ParseLevel(tc.level)
			ferr := ValidateFormat(tc.format)
			_, serr := New(t.Context(), Options{Level: tc.level, Format: tc.format, Output: io.Discard})
			if tc.wantErr == "" {
				require.NoError(t, lerr)
				require.NoError(t, ferr)
				require.NoError(t, serr, "Setup accepts what the checks accept")
				assert.Equal(t, tc.wantLevel, level)
				return
			}
			got := errors.Join(lerr, ferr)
			require.Error(t, got)
			assert.Contains(t, got.Error(), tc.wantErr)
			require.Error(t, serr, "Setup refuses what the checks refuse")
			assert.Contains(t, serr.Error(), tc.wantErr)
		})
	}
}
