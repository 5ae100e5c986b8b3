// Package httpx is the HTTP plumbing both services share: a TLS-only server
// with timeouts and a body limit, middleware (request ids, panic recovery,
// access logs), and writers for the error shapes the services speak —
// application/problem+json (RFC 9457) and the OAuth error response
// (RFC 6749 §5.2, RFC 6750 WWW-Authenticate).
package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults applied by NewServer to zero fields of ServerOptions.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxBodyBytes      = 1 << 20
	// DefaultMaxHeaderBytes leaves room for large bearer tokens while
	// staying far below net/http's 1 MiB default.
	DefaultMaxHeaderBytes = 64 << 10
	// ShutdownTimeout bounds the graceful shutdown Serve performs when its
	// context ends; connections still open after it are closed.
	ShutdownTimeout = 10 * time.Second
)

// ServerOptions configures NewServer. Zero durations and sizes take the
// defaults above.
type ServerOptions struct {
	Addr              string
	Handler           http.Handler
	TLS               *tls.Config // required by Serve: there is no plaintext mode
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxBodyBytes      int64
	// TooLarge answers a declared body over MaxBodyBytes (nil: PayloadTooLarge).
	TooLarge TooLargeFunc
	Logger   *slog.Logger // receives net/http's own errors (e.g. TLS handshake failures)
}

// NewServer returns an http.Server with timeouts, a header size limit and the
// handler wrapped in LimitBody. It does not add the other middleware: callers
// compose those with Chain, in the order they need.
func NewServer(opts ServerOptions) *http.Server {
	h := opts.Handler
	if h == nil {
		// Never fall back to http.DefaultServeMux, which any imported
		// package may have registered handlers on.
		h = http.NotFoundHandler()
	}
	limit := opts.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	srv := &http.Server{
		Addr:              opts.Addr,
		Handler:           LimitBodyWith(limit, opts.TooLarge)(h),
		TLSConfig:         opts.TLS,
		ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(opts.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(opts.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
	}
	if opts.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	}
	return srv
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve serves HTTPS on ln until ctx ends, then shuts down gracefully (at
// most ShutdownTimeout) and returns nil. It refuses to serve, returning an
// error, unless srv.TLSConfig is set, requires TLS 1.3 and has a certificate
// source: every listener of the system is TLS 1.3 only. Serve always closes
// ln. A Shutdown called elsewhere also makes Serve return nil.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	if err := checkTLS(srv.TLSConfig); err != nil {
		ln.Close()
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // ServeTLS returns as soon as Shutdown closes the listener
	if err != nil {
		// Graceful shutdown ran out of time: cut the remaining connections.
		srv.Close()
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	return nil
}

func checkTLS(cfg *tls.Config) error {
	switch {
	case cfg == nil:
		return errors.New("refusing to serve without TLS: srv.TLSConfig is nil")
	case cfg.MinVersion < tls.VersionTLS13:
		return errors.New("refusing to serve: TLS config must require TLS 1.3 (MinVersion)")
	case len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil:
		return errors.New("refusing to serve: TLS config has no certificate")
	}
	return nil
}
