package bench

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/tlstest"
)

// A full TLS 1.3 handshake on loopback with tlsx's server and client
// configurations: TCP connect, ECDHE, the server's chain (issuing and
// intermediate CA; ECDSA P-256) verified against the root only, Finished in
// both directions; with client=mtls the client presents a certificate the
// server verifies too. The client keeps no session cache, so every handshake
// is full (no resumption). Both sides run in this process, so both sides'
// allocations are counted.
func BenchmarkTLSXHandshake(b *testing.B) {
	pki := tlstest.New(b)
	clientCert := pki.ClientCert(b, "bench-client")
	tests := []struct {
		desc   string
		server *tls.Config
		client *tls.Config
	}{
		{desc: "client=none", server: pki.ServerConfig(), client: pki.ClientConfig()},
		{desc: "client=mtls", server: pki.MTLSServerConfig(), client: withCert(pki.ClientConfig(), clientCert)},
	}
	for _, tc := range tests {
		b.Run(tc.desc, func(b *testing.B) {
			addr, serverDone := serveHandshakes(b, tc.server)
			tc.client.ServerName = tlstest.ServerName
			b.ReportAllocs()
			for b.Loop() {
				if err := handshake(addr, tc.client); err != nil {
					b.Fatal(err)
				}
				// The server's handshake ends after the client's; count it whole.
				if err := <-serverDone; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func withCert(cfg *tls.Config, cert tls.Certificate) *tls.Config {
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// serveHandshakes accepts connections on a loopback port until the benchmark
// ends, completes the server side of each handshake and reports its result.
func serveHandshakes(b *testing.B, cfg *tls.Config) (string, <-chan error) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { _ = ln.Close() })
	done := make(chan error, 1) // buffered: a failed client never strands the server goroutine
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // listener closed at cleanup
			}
			tc := tls.Server(conn, cfg)
			err = tc.HandshakeContext(b.Context())
			if err == nil && cfg.ClientAuth == tls.RequireAndVerifyClientCert && len(tc.ConnectionState().PeerCertificates) == 0 {
				err = errors.New("mTLS handshake without a client certificate")
			}
			_ = tc.Close()
			done <- err
		}
	}()
	return ln.Addr().String(), done
}

func handshake(addr string, cfg *tls.Config) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		_ = conn.Close()
		return err
	}
	if tc.ConnectionState().Version != tls.VersionTLS13 {
		_ = tc.Close()
		return errors.New("negotiated a TLS version other than 1.3")
	}
	return tc.Close()
}
