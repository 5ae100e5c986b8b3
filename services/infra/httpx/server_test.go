package httpx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selfSigned makes a throwaway loopback certificate and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "httpx-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

func TestNewServer(t *testing.T) {
	t.Parallel()
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusTeapot)
			return
		}
		_, _ = w.Write(b)
	})
	tests := []struct {
		desc       string
		opts       ServerOptions
		body       string
		wantStatus int
		check      func(t *testing.T, srv *http.Server)
	}{
		{
			desc: "defaults",
			opts: ServerOptions{Addr: "127.0.0.1:0", Handler: echo},
			body: "hi", wantStatus: http.StatusOK,
			check: func(t *testing.T, srv *http.Server) {
				assert.Equal(t, "127.0.0.1:0", srv.Addr)
				assert.Equal(t, 5*time.Second, srv.ReadHeaderTimeout)
				assert.Equal(t, 15*time.Second, srv.ReadTimeout)
				assert.Equal(t, 30*time.Second, srv.WriteTimeout)
				assert.Equal(t, 120*time.Second, srv.IdleTimeout)
				assert.Equal(t, DefaultMaxHeaderBytes, srv.MaxHeaderBytes)
				assert.Nil(t, srv.ErrorLog)
			},
		},
		{
			desc: "explicit values",
			opts: ServerOptions{Handler: echo, ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second, IdleTimeout: 4 * time.Second, MaxBodyBytes: 4, Logger: slog.New(slog.DiscardHandler), TLS: &tls.Config{MinVersion: tls.VersionTLS13}},
			body: "four", wantStatus: http.StatusOK,
			check: func(t *testing.T, srv *http.Server) {
				assert.Equal(t, time.Second, srv.ReadHeaderTimeout)
				assert.Equal(t, 2*time.Second, srv.ReadTimeout)
				assert.Equal(t, 3*time.Second, srv.WriteTimeout)
				assert.Equal(t, 4*time.Second, srv.IdleTimeout)
				assert.NotNil(t, srv.ErrorLog)
				assert.NotNil(t, srv.TLSConfig)
			},
		},
		{desc: "body over the limit is 413", opts: ServerOptions{Handler: echo, MaxBodyBytes: 4}, body: "fives", wantStatus: http.StatusRequestEntityTooLarge},
		{desc: "default limit is 1 MiB", opts: ServerOptions{Handler: echo}, body: strings.Repeat("x", DefaultMaxBodyBytes+1), wantStatus: http.StatusRequestEntityTooLarge},
		{desc: "nil handler is 404, not DefaultServeMux", opts: ServerOptions{}, body: "", wantStatus: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			srv := NewServer(tc.opts)
			if tc.check != nil {
				tc.check(t, srv)
			}
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body)))
			assert.Equal(t, tc.wantStatus, rec.Code)
			if tc.wantStatus == http.StatusOK {
				assert.Equal(t, tc.body, rec.Body.String())
			}
		})
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := NewServer(ServerOptions{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusOK, map[string]any{"tls": r.TLS.Version == tls.VersionTLS13})
		}),
		TLS:    &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
		Logger: slog.New(slog.DiscardHandler), // refused handshakes are expected here
	})
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, srv, ln) }()
	url := "https://" + ln.Addr().String() + "/"

	tests := []struct {
		desc    string
		tls     *tls.Config
		wantErr string
	}{
		{desc: "TLS 1.3 client trusting the cert", tls: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}},
		{desc: "TLS 1.2-only client refused", tls: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}, wantErr: "protocol version"},
		{desc: "client trusting another CA refused", tls: &tls.Config{RootCAs: x509.NewCertPool()}, wantErr: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc.tls}, Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			resp, err := client.Get(url)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.JSONEq(t, `{"tls": true}`, string(body))
		})
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "graceful shutdown returns nil")
	case <-time.After(ShutdownTimeout):
		t.Fatal("Serve did not return after its context ended")
	}
	_, err := net.Dial("tcp", ln.Addr().String())
	assert.Error(t, err, "listener closed after shutdown")
}

func TestServeShutdownElsewhere(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	srv := NewServer(ServerOptions{TLS: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}})
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- Serve(t.Context(), srv, ln) }()
	// Shutdown before ServeTLS has registered the listener would leave it
	// serving; poll until a connection is accepted.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, srv.Shutdown(t.Context()))
	require.NoError(t, <-done)
}

func TestServeRefusesWithoutTLS13(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	tests := []struct {
		desc    string
		tls     *tls.Config
		closeLn bool
		wantErr string
	}{
		{desc: "no TLS config", tls: nil, wantErr: "without TLS"},
		{desc: "TLS 1.2 allowed", tls: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, wantErr: "TLS 1.3"},
		{desc: "MinVersion unset", tls: &tls.Config{Certificates: []tls.Certificate{cert}}, wantErr: "TLS 1.3"},
		{desc: "no certificate", tls: &tls.Config{MinVersion: tls.VersionTLS13}, wantErr: "no certificate"},
		{desc: "listener already closed", tls: &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}, closeLn: true, wantErr: "closed"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ln := listen(t)
			if tc.closeLn {
				ln.Close()
			}
			err := Serve(t.Context(), NewServer(ServerOptions{TLS: tc.tls}), ln)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			_, derr := net.Dial("tcp", ln.Addr().String())
			assert.Error(t, derr, "Serve closes the listener even when refusing")
		})
	}
}
