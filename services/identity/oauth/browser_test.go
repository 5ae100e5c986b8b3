package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// chromium finds the browser: $PASSTHRU_CHROMIUM, /usr/bin/chromium, or
// chromium / chromium-browser on PATH. A missing browser fails the test:
// this test never skips.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PASSTHRU_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("headless Chromium is required for the browser test: install the chromium package (or set PASSTHRU_CHROMIUM to its path)")
	return ""
}

// TestBrowserCodeFlow drives headless Chromium through the real login and
// consent pages to the native client's loopback redirect, then exchanges the
// code it landed with.
func TestBrowserCodeFlow(t *testing.T) {
	chromiumPath := chromium(t)
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		e := newEnv(t, fixture.StartIdentity(t, b))

		// The client's redirect target: a plain-http loopback server, as a
		// native app would run (RFC 8252 §7.3).
		codes := make(chan url.Values, 1)
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/callback" {
				http.NotFound(w, r)
				return
			}
			select {
			case codes <- r.URL.Query():
			default:
			}
			fmt.Fprint(w, "<html><body><p id=done>signed in</p></body></html>")
		}))
		t.Cleanup(cb.Close)
		port := cb.Listener.Addr().(*net.TCPAddr).Port
		cfg := e.nativeConfig(fmt.Sprint(port), "openid", "profile")

		// Chromium must trust exactly this server's key, nothing more: pin
		// its SPKI instead of turning certificate checks off.
		resp, err := e.idp.Client.Get(e.url("/livez"))
		require.NoError(t, err)
		resp.Body.Close()
		spki := sha256.Sum256(resp.TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)

		allocOpts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(chromiumPath),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.UserDataDir(t.TempDir()),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(fixture.ITContext(t), allocOpts...)
		defer cancelAlloc()
		bctx, cancelBrowser := chromedp.NewContext(actx)
		defer cancelBrowser()
		// The first Run starts the browser; it must not carry its own timeout.
		if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
			t.Fatalf("start headless Chromium at %s: %v", chromiumPath, err)
		}
		ctx, cancel := context.WithTimeout(bctx, 45*time.Second)
		defer cancel()

		verifier := oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier))
		user, pass, signIn := chromedp.CSS("#username"), chromedp.CSS("#password"), chromedp.CSS("#sign-in")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(authURL),
			chromedp.WaitVisible(user),
		), "login page")
		title, err := chromedp.Run(ctx, chromedp.Title())
		require.NoError(t, err)
		assert.Contains(t, title, "Sign in")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(user, "user"),
			chromedp.SendKeys(pass, "wrong password"),
			chromedp.Click(signIn),
			chromedp.WaitVisible(chromedp.CSS("#message")),
		), "wrong password is re-rendered with a message")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.SendKeys(pass, e.user.Password),
			chromedp.Click(signIn),
			chromedp.WaitVisible(chromedp.CSS("#allow")),
		), "consent page")
		scopes, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#scopes")))
		require.NoError(t, err)
		assert.Contains(t, scopes, "profile")
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS("#allow")),
			chromedp.WaitVisible(chromedp.CSS("#done")),
		), "redirect to the client")
		final, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)

		var q url.Values
		select {
		case q = <-codes:
		case <-ctx.Done():
			t.Fatal("the browser never reached the client's redirect URI")
		}
		assert.Contains(t, final, cb.URL+"/callback?code=")
		assert.Equal(t, "browser-state", q.Get("state"))
		assert.Equal(t, e.idp.Issuer, q.Get("iss"))
		tok, err := cfg.Exchange(e.ctx(t), q.Get("code"), oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		assert.NotEmpty(t, tok.Extra("id_token"))
		assert.True(t, e.active(t, tok.AccessToken))
	})
}
