package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// server is a demo-PKI TLS server whose /readyz answers 503 for the first
// notReady calls, then 200.
func server(t *testing.T, notReady int32) (*httptest.Server, *tlsx.ServerPKI) {
	t.Helper()
	pki, err := tlsx.EnsureDemoPKI(t.TempDir(), "kms")
	require.NoError(t, err)
	var calls atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) <= notReady {
			http.Error(w, `{"not_ready":["barrier"]}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"status":"ready"}`)
	}))
	srv.TLS = tlsx.ServerConfig(pki.Certificate, nil)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, pki
}

func writeDemo(t *testing.T, f *demofile.File) string {
	t.Helper()
	path, err := demofile.Write(t.TempDir(), f)
	require.NoError(t, err)
	return path
}

func twoTenants() []demofile.Tenant {
	return []demofile.Tenant{
		{ID: "a", Name: "demo-tenant-a", Users: []demofile.User{{Username: "writer@a", Roles: []string{"reader", "writer"}}}},
		{ID: "b", Name: "demo-tenant-b"},
	}
}

func TestNew(t *testing.T) {
	srv, pki := server(t, 0)
	good := writeDemo(t, &demofile.File{Service: "kms", BaseURL: srv.URL, CAFile: pki.CAFile, Tenants: twoTenants()})
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	cases := []struct {
		desc    string
		opts    Options
		wantErr string
		check   func(t *testing.T, tg *Target)
	}{
		{
			desc: "demo file alone",
			opts: Options{Service: "kms", DemoFile: good},
			check: func(t *testing.T, tg *Target) {
				assert.Equal(t, srv.URL, tg.BaseURL)
				assert.Equal(t, pki.CAFile, tg.CAFile)
				assert.Equal(t, DefaultHealthTimeout, tg.HealthTimeout)
				assert.Equal(t, 15*time.Second, tg.HTTP.Timeout)
				assert.Equal(t, srv.URL+"/x", tg.URL("/x"))
			},
		},
		{
			desc: "flags override the demo file; trailing slash dropped",
			opts: Options{Service: "kms", DemoFile: good, BaseURL: "https://127.0.0.1:9/", CAFile: pki.CAFile, HealthTimeout: time.Second, RequestTimeout: 2 * time.Second},
			check: func(t *testing.T, tg *Target) {
				assert.Equal(t, "https://127.0.0.1:9", tg.BaseURL)
				assert.Equal(t, time.Second, tg.HealthTimeout)
				assert.Equal(t, 2*time.Second, tg.HTTP.Timeout)
			},
		},
		{desc: "no demo file", opts: Options{Service: "kms"}, wantErr: "a demo file is required"},
		{desc: "unreadable demo file", opts: Options{Service: "kms", DemoFile: filepath.Join(t.TempDir(), "x.json")}, wantErr: "read demo file"},
		{desc: "another service's file", opts: Options{Service: "identity", DemoFile: good}, wantErr: `describes service "kms"`},
		{desc: "plain http", opts: Options{Service: "kms", DemoFile: good, BaseURL: "http://127.0.0.1:1"}, wantErr: "TLS only"},
		{desc: "no host", opts: Options{Service: "kms", DemoFile: good, BaseURL: "https://"}, wantErr: "want https://host:port"},
		{desc: "missing CA", opts: Options{Service: "kms", DemoFile: good, CAFile: filepath.Join(t.TempDir(), "ca.pem")}, wantErr: "read CA bundle"},
		{desc: "CA file without PEM", opts: Options{Service: "kms", DemoFile: good, CAFile: notPEM}, wantErr: "no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tg, err := New(tc.opts)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, tg)
		})
	}
}

func TestTenantAndUserWithRole(t *testing.T) {
	tg := &Target{DemoFile: "demo.json", Demo: &demofile.File{Tenants: twoTenants()}}
	a, err := tg.Tenant(0)
	require.NoError(t, err)
	assert.Equal(t, "demo-tenant-a", a.Name)
	_, err = tg.Tenant(2)
	assert.ErrorContains(t, err, "has 2 tenant(s), need at least 3")
	_, err = tg.Tenant(-1)
	assert.Error(t, err)

	u, err := UserWithRole(a, "writer")
	require.NoError(t, err)
	assert.Equal(t, "writer@a", u.Username)
	_, err = UserWithRole(a, "admin")
	assert.ErrorIs(t, err, demofile.ErrNotFound)
}

func TestWaitReady(t *testing.T) {
	cases := []struct {
		desc     string
		notReady int32
		timeout  time.Duration
		ca       func(pki *tlsx.ServerPKI) string
		url      func(srv *httptest.Server) string
		wantErr  []string
		want503  bool
	}{
		{desc: "ready at once", timeout: 5 * time.Second},
		{desc: "503 while starting, then ready", notReady: 3, timeout: 5 * time.Second},
		{
			desc: "never ready: the last 503 body is reported", notReady: 1 << 30, timeout: 200 * time.Millisecond,
			wantErr: []string{"not ready after", "got HTTP 503", `"not_ready":["barrier"]`}, want503: true,
		},
		{
			desc: "nobody listening", timeout: 200 * time.Millisecond,
			url: func(*httptest.Server) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				addr := ln.Addr().String()
				require.NoError(t, ln.Close())
				return "https://" + addr
			},
			wantErr: []string{"connection refused"},
		},
		{
			desc: "untrusted certificate fails at once", timeout: time.Minute,
			ca: func(*tlsx.ServerPKI) string {
				other, err := tlsx.EnsureDemoPKI(t.TempDir(), "kms")
				require.NoError(t, err)
				return other.CAFile
			},
			wantErr: []string{"TLS certificate not trusted by", "unknown authority"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			srv, pki := server(t, tc.notReady)
			ca := pki.CAFile
			if tc.ca != nil {
				ca = tc.ca(pki)
			}
			url := srv.URL
			if tc.url != nil {
				url = tc.url(srv)
			}
			tg, err := New(Options{Service: "kms", BaseURL: url, CAFile: ca, DemoFile: writeDemo(t, &demofile.File{Service: "kms", BaseURL: url, CAFile: ca, Tenants: twoTenants()})})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
			defer cancel()
			start := time.Now()
			err = tg.WaitReady(ctx, 10*time.Millisecond)
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.wantErr {
				assert.Contains(t, err.Error(), w)
			}
			if tc.want503 {
				var se *StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, http.StatusServiceUnavailable, se.StatusCode())
			}
			assert.Less(t, time.Since(start), 30*time.Second)
		})
	}
}

func TestCheckStatusAndExcerpt(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "https://kms.example/api/v1/x", nil)
	cases := []struct {
		desc    string
		status  int
		body    string
		want    []int
		wantErr string
	}{
		{desc: "wanted", status: 200, want: []int{200}},
		{desc: "one of several", status: 201, want: []int{200, 201}},
		{desc: "unexpected with body", status: 403, body: `{"code":"forbidden"}`, want: []int{200}, wantErr: `POST https://kms.example/api/v1/x: got HTTP 403 Forbidden, want 200: {"code":"forbidden"}`},
		{desc: "unexpected without body", status: 500, want: []int{200, 201}, wantErr: "POST https://kms.example/api/v1/x: got HTTP 500 Internal Server Error, want 200 or 201"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := CheckStatus(&http.Response{StatusCode: tc.status, Request: req}, []byte(tc.body), tc.want...)
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
			var se *StatusError
			require.True(t, errors.As(err, &se))
			assert.Equal(t, tc.status, se.StatusCode())
		})
	}
	long := strings.Repeat("x", 1000)
	assert.Equal(t, strings.Repeat("x", maxExcerpt)+"…", Excerpt([]byte(long)))
	assert.Equal(t, "short", Excerpt([]byte("  short\n")))
}

func TestDoRefusesWithoutTrust(t *testing.T) {
	srv, _ := server(t, 0)
	c := NewHTTPClient(nil, time.Second) // nil roots: trust nothing, never the system pool
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/readyz", nil)
	require.NoError(t, err)
	_, err = c.Do(req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
}
