package tlsx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const ioTimeout = 10 * time.Second

var loopbackIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// newTestChain builds a chain or fails the test.
func newTestChain(t testing.TB, opts ChainOptions) *Chain {
	t.Helper()
	c, err := NewChain(opts)
	require.NoError(t, err)
	return c
}

// issue issues a leaf or fails the test.
func issue(t testing.TB, c *Chain, opts LeafOptions) *Leaf {
	t.Helper()
	l, err := c.IssueLeaf(opts)
	require.NoError(t, err)
	return l
}

func serverLeaf(t testing.TB, c *Chain) *Leaf {
	t.Helper()
	return issue(t, c, LeafOptions{
		CommonName: "server.test.local",
		DNSNames:   []string{"localhost"},
		IPs:        loopbackIPs,
		Server:     true,
	})
}

func clientLeaf(t testing.TB, c *Chain, name string) *Leaf {
	t.Helper()
	return issue(t, c, LeafOptions{CommonName: name, Style: CNStyleDescriptive, Client: true})
}

// opensslPath finds the real openssl binary; a missing binary fails the
// test, so interop is never silently unproven.
func opensslPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl must be installed: these tests prove interop with it")
	return p
}

// runOpenSSL runs openssl with args and returns its combined output and
// whether it exited 0.
func runOpenSSL(t testing.TB, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, opensslPath(t), args...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err, "run openssl %v", args)
	}
	return string(out), err == nil
}

// writeChainFiles writes root.pem, chain.pem and leaf.pem for openssl verify.
func writeChainFiles(t testing.TB, root *x509.Certificate, leaf *Leaf) (rootPath, chainPath, leafPath string) {
	t.Helper()
	dir := t.TempDir()
	rootPath = filepath.Join(dir, "root.pem")
	chainPath = filepath.Join(dir, "chain.pem")
	leafPath = filepath.Join(dir, "leaf.pem")
	require.NoError(t, WriteCertPEM(rootPath, root))
	require.NoError(t, WriteCertPEM(chainPath, leaf.Intermediates...))
	require.NoError(t, WriteCertPEM(leafPath, leaf.Cert))
	return rootPath, chainPath, leafPath
}

// handshake is what the test server saw of one connection.
type handshake struct {
	principal string
	err       error
}

// startTLSServer listens on 127.0.0.1 with cfg. For every connection it
// completes the handshake, maps the client certificate to a principal when
// one was verified, answers "ok\n" and reports what it saw.
func startTLSServer(t testing.TB, cfg *tls.Config) (string, <-chan handshake) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	results := make(chan handshake, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(ioTimeout))
				tc := conn.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					results <- handshake{err: err}
					return
				}
				state := tc.ConnectionState()
				var h handshake
				if len(state.PeerCertificates) > 0 {
					h.principal, h.err = PrincipalFromConnectionState(&state)
				}
				if _, err := io.WriteString(tc, "ok\n"); err != nil && h.err == nil {
					h.err = err
				}
				results <- h
			}()
		}
	}()
	return ln.Addr().String(), results
}

// dialTLS connects with cfg and reads the server's "ok\n". Under TLS 1.3 the
// server judges the client certificate after the client's handshake has
// returned, so a refusal of the client surfaces on the first read.
func dialTLS(addr, serverName string, cfg *tls.Config) error {
	cfg = cfg.Clone()
	cfg.ServerName = serverName
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	d := &tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	if string(buf) != "ok\n" {
		return errors.New("unexpected server answer " + string(buf))
	}
	return nil
}

func awaitHandshake(t testing.TB, results <-chan handshake) handshake {
	t.Helper()
	select {
	case h := <-results:
		return h
	case <-time.After(ioTimeout):
		t.Fatal("server saw no connection")
		return handshake{}
	}
}
