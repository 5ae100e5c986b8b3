package introspect

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// assertUnavailable checks err is a 503, not a 401.
func assertUnavailable(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, authn.ErrUnavailable)
	require.False(t, errors.Is(err, authn.ErrInvalidCredentials), "unavailable is not 'invalid token': %v", err)
}

func TestWrongClientCredentialsAreUnavailableNotInvalid(t *testing.T) {
	h := newHarness(t, ModeInterval, func(o *Options) {
		o.Credentials = func(string) (string, string, bool) { return "rs-a", "wrong-secret", true }
	})
	claims := h.token("tok")
	assertUnavailable(t, h.check("tok", claims, false))
	require.Len(t, h.id.recorded(), 1)
	logs := h.logs.String()
	assert.Contains(t, logs, "refused the introspection client's credentials")
	assert.Contains(t, logs, "level=ERROR")
	assert.NotContains(t, logs, "wrong-secret")
	assert.NotContains(t, logs, "tok\"")

	// Nothing was remembered: once the credentials work, the token is fine.
	assertUnavailable(t, h.check("tok", claims, false))
	assert.Len(t, h.id.recorded(), 2)
}

func TestSecretBasicFormEncodesTheCredentials(t *testing.T) {
	h := newHarness(t, ModeEveryRequest, nil)
	// The fake decodes Basic like Identity (form-decoding id and secret):
	// secretA holds ':', '+', '/', '%', a space and non-ASCII.
	require.NoError(t, h.check("tok", h.token("tok"), false))
	assert.Equal(t, "rs-a", h.id.recorded()[0].clientID)
	assert.NotContains(t, h.logs.String(), secretA)
	assert.NotContains(t, h.logs.String(), url.QueryEscape(secretA))
}

func TestTLSClientAuth(t *testing.T) {
	id := newFakeIdentity(t, true)
	clock := newClock()
	claims := id.mint("tok", tenantA, clock.Now().Add(time.Hour))
	opts := func(cert *tls.Certificate) Options {
		return Options{
			Mode:     ModeEveryRequest,
			Endpoint: id.url(introspectPath),
			Method:   MethodTLSClientAuth,
			Credentials: func(tenant string) (string, string, bool) {
				id, _, ok := credentials(tenant)
				return id, "", ok
			},
			Roots:      id.chain.Pool(),
			ClientCert: cert,
			Now:        clock.Now,
		}
	}
	t.Run("with the client certificate", func(t *testing.T) {
		c, err := New(opts(id.clientCert(t)))
		require.NoError(t, err)
		require.NoError(t, c.Check(context.Background(), "tok", claims, false))
		calls := id.recorded()
		require.NotEmpty(t, calls)
		assert.Equal(t, "rs-a", calls[len(calls)-1].clientID, "client_id travels in the form")
	})
	t.Run("a certificate of another CA is refused in the handshake", func(t *testing.T) {
		other := newFakeIdentity(t, true)
		before := len(id.recorded())
		c, err := New(opts(other.clientCert(t)))
		require.NoError(t, err)
		assertUnavailable(t, c.Check(context.Background(), "tok", claims, false))
		assert.Len(t, id.recorded(), before, "no request got through")
	})
	t.Run("New requires the certificate", func(t *testing.T) {
		_, err := New(opts(nil))
		require.ErrorContains(t, err, "ClientCert")
	})
}

func TestUnclearAnswersAreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		status int
		body   string
	}{
		{desc: "503", status: http.StatusServiceUnavailable},
		{desc: "500", status: http.StatusInternalServerError},
		{desc: "400", status: http.StatusBadRequest},
		{desc: "404 of the RFC 7662 endpoint", status: http.StatusNotFound},
		{desc: "not JSON", body: "<html>"},
		{desc: "no active member", body: `{"scope":"kms"}`},
		{desc: "active not a boolean", body: `{"active":"true"}`},
		{desc: "over 1 MiB", body: `{"active":true,"scope":"` + strings.Repeat("a", maxBody) + `"}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, ModeInterval, nil)
			h.id.set(func(f *fakeIdentity) { f.status, f.body = tc.status, tc.body })
			claims := h.token("tok")
			assertUnavailable(t, h.check("tok", claims, false))
			h.id.set(func(f *fakeIdentity) { f.status, f.body = 0, "" })
			require.NoError(t, h.check("tok", claims, false), "the failure was not remembered")
		})
	}
}

func TestUnclearBatchAnswersAreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		desc string
		body string
	}{
		{desc: "fewer results than tokens", body: `{"results":[{"active":true}]}`},
		{desc: "a result without active", body: `{"results":[{"active":true},{"active":true},{}]}`},
		{desc: "not JSON", body: `results`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, ModeInterval, nil)
			first := check{raw: "first", claims: h.token("first")}
			rest := tokens(h, 3)
			// The lone first call gets a correct answer; only the batch
			// gets the broken one.
			h.id.set(func(f *fakeIdentity) {
				f.body = `{"active":true,"tenant_id":"` + first.claims.TenantID + `","jti":"` + first.claims.ID + `"}`
			})
			queued := make(chan struct{}, 10)
			h.c.testHookQueued = func() { queued <- struct{}{} }
			h.id.hold()
			done := make(chan error, 1)
			go func() { done <- h.check(first.raw, first.claims, false) }()
			<-h.id.entered
			<-queued
			h.id.set(func(f *fakeIdentity) { f.body = tc.body })
			errs := make(chan error, len(rest))
			for _, ck := range rest {
				go func() { errs <- h.check(ck.raw, ck.claims, false) }()
			}
			for range rest {
				<-queued
			}
			h.id.release()
			require.NoError(t, <-done)
			for range rest {
				assertUnavailable(t, <-errs)
			}
			require.Equal(t, batchPath, h.id.recorded()[1].path)
		})
	}
}

func TestActiveMustDescribeTheToken(t *testing.T) {
	for _, tc := range []struct {
		desc string
		body string
		want error
	}{
		{desc: "matching tenant and jti", body: `{"active":true,"tenant_id":"` + tenantA + `","jti":"JTI"}`},
		{desc: "neither given", body: `{"active":true}`, want: authn.ErrInvalidCredentials},
		{desc: "tenant without jti", body: `{"active":true,"tenant_id":"` + tenantA + `"}`, want: authn.ErrInvalidCredentials},
		{desc: "another tenant", body: `{"active":true,"tenant_id":"` + tenantB + `","jti":"JTI"}`, want: authn.ErrInvalidCredentials},
		{desc: "another jti", body: `{"active":true,"tenant_id":"` + tenantA + `","jti":"jti-other"}`, want: authn.ErrInvalidCredentials},
		{desc: "inactive", body: `{"active":false}`, want: authn.ErrInvalidCredentials},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, ModeEveryRequest, nil)
			claims := h.token("tok")
			h.id.set(func(f *fakeIdentity) { f.body = strings.ReplaceAll(tc.body, "JTI", claims.ID) })
			err := h.check("tok", claims, false)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.False(t, errors.Is(err, authn.ErrUnavailable))
		})
	}
}

func TestTenantWithoutClientFailsClosed(t *testing.T) {
	h := newHarness(t, ModeInterval, nil)
	const tenantC = "33333333-3333-3333-3333-333333333333"
	claims := h.tokenOf("tok", tenantC)
	assertUnavailable(t, h.check("tok", claims, false))
	assert.Empty(t, h.id.recorded())
	assert.Contains(t, h.logs.String(), "no introspection client configured")
	assert.Contains(t, h.logs.String(), tenantC)

	t.Run("a client without secret for client_secret_basic is a gap too", func(t *testing.T) {
		h := newHarness(t, ModeInterval, func(o *Options) {
			o.Credentials = func(string) (string, string, bool) { return "rs-a", "", true }
		})
		assertUnavailable(t, h.check("tok", h.token("tok"), false))
		assert.Empty(t, h.id.recorded())
	})
	t.Run("no claims is refused", func(t *testing.T) {
		assertUnavailable(t, h.check("tok", nil, false))
	})
}

func TestIdentityUnreachable(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		h := newHarness(t, ModeInterval, nil)
		claims := h.token("tok")
		h.id.close()
		assertUnavailable(t, h.check("tok", claims, false))
		assert.Equal(t, uint64(1), h.c.Stats().Calls)
	})
	t.Run("certificate of an untrusted CA", func(t *testing.T) {
		h := newHarness(t, ModeInterval, func(o *Options) {
			other, err := tlsx.NewChain(tlsx.ChainOptions{})
			require.NoError(t, err)
			o.Roots = other.Pool()
		})
		assertUnavailable(t, h.check("tok", h.token("tok"), false))
		assert.Empty(t, h.id.recorded())
	})
	t.Run("too slow", func(t *testing.T) {
		h := newHarness(t, ModeInterval, func(o *Options) { o.Timeout = time.Millisecond })
		h.id.hold() // released by the harness cleanup
		assertUnavailable(t, h.check("tok", h.token("tok"), false))
	})
}

func TestResolve(t *testing.T) {
	h := newHarness(t, ModeInterval, nil)
	var resolved int
	fail := true
	opts := h.options(ModeInterval)
	opts.Endpoint, opts.BatchEndpoint = "", ""
	opts.Resolve = func(context.Context) (string, string, error) {
		resolved++
		if fail {
			return "", "", errors.New("metadata unreachable")
		}
		return h.id.url(introspectPath), h.id.url(batchPath), nil
	}
	c, err := New(opts)
	require.NoError(t, err)
	claims := h.token("tok")
	assertUnavailable(t, c.Check(context.Background(), "tok", claims, false))
	assert.Contains(t, h.logs.String(), "metadata unreachable")
	fail = false
	require.NoError(t, c.Check(context.Background(), "tok", claims, false))
	h.clock.Advance(time.Hour - time.Second)
	require.NoError(t, c.Check(context.Background(), "tok", claims, false))
	assert.Equal(t, 2, resolved, "a failure is retried, a success kept")
	assert.Len(t, h.id.recorded(), 2)

	t.Run("a resolved endpoint must be https", func(t *testing.T) {
		for _, tc := range []struct{ desc, endpoint, batch string }{
			{desc: "plain http", endpoint: "http://127.0.0.1/introspect"},
			{desc: "batch plain http", endpoint: h.id.url(introspectPath), batch: "http://127.0.0.1/batch"},
			{desc: "relative", endpoint: "/introspect"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				opts.Resolve = func(context.Context) (string, string, error) { return tc.endpoint, tc.batch, nil }
				c, err := New(opts)
				require.NoError(t, err)
				assertUnavailable(t, c.Check(context.Background(), "tok", claims, false))
			})
		}
	})
}

func TestCacheIsBounded(t *testing.T) {
	h := newHarness(t, ModeInterval, func(o *Options) { o.CacheSize = 2 })
	ts := tokens(h, 3)
	h.id.revoke(ts[0].raw)
	for _, ck := range ts {
		_ = h.check(ck.raw, ck.claims, false)
	}
	assert.Equal(t, 2, h.c.cache.len())
	require.ErrorIs(t, h.check(ts[0].raw, ts[0].claims, false), authn.ErrInvalidCredentials,
		"a forgotten revoked token is asked about again, and is still revoked")
	assert.Len(t, h.id.recorded(), 4)
	require.NoError(t, h.check(ts[2].raw, ts[2].claims, false))
	assert.Len(t, h.id.recorded(), 4, "the most recent answers stay")
	assert.Equal(t, 2, h.c.cache.len())
}

func TestNewValidates(t *testing.T) {
	h := newHarness(t, ModeNone, nil)
	for _, tc := range []struct {
		desc string
		edit func(*Options)
		want string // the option the error names
	}{
		{desc: "no mode", edit: func(o *Options) { o.Mode = "" }, want: "Mode"},
		{desc: "unknown mode", edit: func(o *Options) { o.Mode = "often" }, want: "Mode"},
		{desc: "negative interval", edit: func(o *Options) { o.Interval = -time.Second }, want: "Interval"},
		{desc: "unknown method", edit: func(o *Options) { o.Method = "client_secret_post" }, want: "Method"},
		{desc: "no credentials", edit: func(o *Options) { o.Credentials = nil }, want: "Credentials"},
		{desc: "no roots", edit: func(o *Options) { o.Roots = nil }, want: "Roots"},
		{desc: "tls_client_auth without certificate", edit: func(o *Options) { o.Method = MethodTLSClientAuth }, want: "ClientCert"},
		{desc: "no endpoint", edit: func(o *Options) { o.Endpoint, o.BatchEndpoint = "", "" }, want: "Endpoint or Resolve"},
		{desc: "batch without endpoint", edit: func(o *Options) { o.Endpoint = "" }, want: "BatchEndpoint"},
		{desc: "http endpoint", edit: func(o *Options) { o.Endpoint = "http://127.0.0.1/introspect" }, want: "Endpoint"},
		{desc: "unparsable endpoint", edit: func(o *Options) { o.Endpoint = "https://[::1" }, want: "Endpoint"},
		{desc: "http batch endpoint", edit: func(o *Options) { o.BatchEndpoint = "http://127.0.0.1/batch" }, want: "BatchEndpoint"},
		{desc: "negative max batch", edit: func(o *Options) { o.MaxBatch = -1 }, want: "MaxBatch"},
		{desc: "max batch over Identity's limit", edit: func(o *Options) { o.MaxBatch = MaxBatchLimit + 1 }, want: "MaxBatch"},
		{desc: "negative cache size", edit: func(o *Options) { o.CacheSize = -1 }, want: "CacheSize"},
		{desc: "negative timeout", edit: func(o *Options) { o.Timeout = -time.Second }, want: "Timeout"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			opts := h.options(ModeInterval)
			tc.edit(&opts)
			_, err := New(opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	t.Run("defaults", func(t *testing.T) {
		opts := h.options(ModeSensitive)
		opts.Interval, opts.Method, opts.Now, opts.Logger = 0, "", nil, nil
		c, err := New(opts)
		require.NoError(t, err)
		assert.Equal(t, ModeSensitive, c.Mode())
		assert.Equal(t, DefaultInterval, c.interval)
		assert.Equal(t, MethodSecretBasic, c.method)
		assert.Equal(t, DefaultMaxBatch, c.maxBatch)
		assert.Equal(t, DefaultTimeout, c.timeout)
		assert.Equal(t, DefaultCacheSize, c.cache.size)
	})
	t.Run("none needs nothing else", func(t *testing.T) {
		c, err := New(Options{Mode: ModeNone})
		require.NoError(t, err)
		require.NoError(t, c.Check(context.Background(), "tok", nil, true))
		assert.Equal(t, Stats{}, c.Stats())
	})
}

func TestTokensAndSecretsAreNeverLogged(t *testing.T) {
	const raw = "eyJhbGciOiJSUzI1NiJ9.TOKEN-BODY-MUST-NOT-LEAK.sig"
	const secret = "CLIENT-SECRET-MUST-NOT-LEAK"
	for _, tc := range []struct {
		desc string
		set  func(f *fakeIdentity)
	}{
		{desc: "credentials refused"},
		{desc: "503", set: func(f *fakeIdentity) { f.status = http.StatusServiceUnavailable }},
		{desc: "malformed", set: func(f *fakeIdentity) { f.body = "{" }},
		{desc: "active for another tenant", set: func(f *fakeIdentity) { f.body = `{"active":true,"tenant_id":"x"}` }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, ModeEveryRequest, func(o *Options) {
				o.Credentials = func(string) (string, string, bool) { return "rs-a", secret, true }
			})
			if tc.set != nil {
				h.id.set(func(f *fakeIdentity) { f.clients["rs-a"] = fakeClient{secret: secret, tenant: tenantA} })
				h.id.set(tc.set)
			}
			require.Error(t, h.check(raw, h.token(raw), false))
			logs := h.logs.String()
			require.NotEmpty(t, logs, "the failure was logged")
			assert.NotContains(t, logs, "TOKEN-BODY")
			assert.NotContains(t, logs, secret)
		})
	}
}
