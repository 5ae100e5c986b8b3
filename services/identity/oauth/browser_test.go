package oauth_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	chrome "github.com/passthru-dev/passthru/testkit/browser"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestBrowserCodeFlow drives headless Chromium through the real login and
// consent pages to the native client's loopback redirect, then exchanges the
// code it landed with.
func TestBrowserCodeFlow(t *testing.T) {
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

		// Chromium trusts exactly the service's CA, through its own NSS
		// database: full certificate verification, nothing ignored.
		bctx := chrome.New(t, e.idp.CAFile)
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
