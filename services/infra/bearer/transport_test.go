package bearer

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/passthru-dev/passthru/services/infra/authn"
)

func TestFetchRefusesMisbehavingEndpoints(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	cases := []struct {
		desc    string
		path    string
		wantErr string // in the error text; empty: the fetch works
	}{
		{"https redirect followed", "/to-https", ""},
		{"redirect to http refused", "/to-http", "non-https"},
		{"redirect loop bounded", "/loop", "redirects"},
		{"oversized response", "/big", "exceeds"},
		{"not found", "/nothing", "status 404"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := ti.config()
			cfg.JWKSURI = ti.url + tc.path
			clk := newClock()
			v := newTestVerifier(t, clk, cfg)
			_, err := v.Verify(context.Background(), ti.sign("k1", ti.claims(clk.Now())))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, authn.ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want unavailable with %q", err, tc.wantErr)
			}
		})
	}
}

func TestFetchVerifiesTheIssuerCertificate(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)

	// A TLS 1.2-only server with a certificate of the right CA.
	tls12 := httptest.NewUnstartedServer(ti.srv.Config.Handler)
	tls12.TLS = &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{pki.leaf.TLSCertificate()},
	}
	tls12.StartTLS()
	t.Cleanup(tls12.Close)

	cases := []struct {
		desc    string
		roots   *testPKI
		jwksURI string
		wantErr string
	}{
		{"the issuer's CA", pki, ti.url + "/jwks", ""},
		{"another CA", newPKI(t), ti.url + "/jwks", "certificate"},
		{"TLS 1.2 only", pki, tls12.URL + "/jwks", "protocol version"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := ti.config()
			cfg.Roots = tc.roots.pool
			cfg.JWKSURI = tc.jwksURI
			clk := newClock()
			v := newTestVerifier(t, clk, cfg)
			_, err := v.Verify(context.Background(), ti.sign("k1", ti.claims(clk.Now())))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, authn.ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want unavailable with %q", err, tc.wantErr)
			}
		})
	}
}

// TestCancelledCallerDoesNotFailOthers: while the keys are being fetched,
// the caller that started the fetch gives up; another caller waiting for
// the same token still gets it verified.
func TestCancelledCallerDoesNotFailOthers(t *testing.T) {
	pki := newPKI(t)
	ti := newTestIssuer(t, pki)
	cfg := ti.config()
	cfg.JWKSURI = ti.url + "/slow-jwks"
	clk := newClock()
	v := newTestVerifier(t, clk, cfg)
	raw := ti.sign("k1", ti.claims(clk.Now()))

	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, raw)
		firstErr <- err
	}()
	<-ti.entered // the fetch is in flight

	var wg sync.WaitGroup
	var secondErr error
	wg.Go(func() { _, secondErr = v.Verify(context.Background(), raw) })

	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v, want context.Canceled", err)
	}
	close(ti.release)
	wg.Wait()
	if secondErr != nil {
		t.Fatalf("waiting caller: %v", secondErr)
	}
	if got := ti.jwksFetches.Load(); got != 1 {
		t.Fatalf("JWK set fetched %d times, want 1", got)
	}
}
