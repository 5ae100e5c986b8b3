package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/browser"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
)

// TestSwaggerUIBearerTryItOut drives the real Swagger UI in headless
// Chromium with an access token from Identity: "Authorize" under
// bearerAuth, "Try it out" on encrypt with a demo key, and expect a 200
// carrying a ciphertext. The curl line Swagger UI shows and the KMS's
// token counters confirm the call went as Authorization: Bearer, verified
// by the bearer authenticator and nothing else.
func TestSwaggerUIBearerTryItOut(t *testing.T) {
	b := dbtest.SQLite
	idp, k := fixture.StartSystem(t, b)
	require.NotNil(t, k.Tokens, "the KMS trusts the Identity demo")
	tok := m2Token(t, idp, 0, m2ServicePrefix)
	keyID := k.Key(t, 0, "A256GCM").ID
	verifiedBefore := k.Tokens.Stats().Verifications
	basicChecksBefore := k.Basic.PasswordChecks()

	ctx := browser.New(t, k.CAFile)
	stepCtx, cancelSteps := context.WithTimeout(ctx, fixture.ITTimeout(t))
	defer cancelSteps()

	bearerBox := `[...document.querySelectorAll('.auth-container')].find(e => e.textContent.includes('bearerAuth'))`
	op := "#operations-operations-encrypt"
	steps := []struct {
		desc string
		act  chromedp.Action[chromedp.Void]
	}{
		{"open Swagger UI", chromedp.Navigate(k.URL + "/ui/swagger/")},
		{"wait for Authorize", chromedp.WaitVisible(chromedp.CSS("button.btn.authorize"))},
		{"open the Authorize dialog", chromedp.Click(chromedp.CSS("button.btn.authorize"))},
		{"wait for the bearer form", chromedp.WaitVisible(chromedp.JSPath(bearerBox + `.querySelector('input')`))},
		{"type the token", chromedp.SendKeys(chromedp.JSPath(bearerBox+`.querySelector('input')`), tok)},
		{"authorize", chromedp.Click(chromedp.JSPath(bearerBox + `.querySelector('button.authorize')`))},
		// The bearer form's own Close: the first one on the page belongs to
		// the empty Basic form, which would try to submit it and stay open.
		{"wait for its Close", chromedp.WaitVisible(chromedp.JSPath(bearerBox + `.querySelector('button.btn-done')`))},
		{"close the dialog", chromedp.Click(chromedp.JSPath(bearerBox + `.querySelector('button.btn-done')`))},
		{"open encrypt", chromedp.Click(chromedp.CSS(op + " .opblock-summary"))},
		{"wait for Try it out", chromedp.WaitVisible(chromedp.CSS(op + " .try-out__btn"))},
		{"try it out", chromedp.Click(chromedp.CSS(op + " .try-out__btn"))},
		{"wait for the key id field", chromedp.WaitVisible(chromedp.CSS(op + " .parameters input[type=text]"))},
		{"type the key id", chromedp.SendKeys(chromedp.CSS(op+" .parameters input[type=text]"), keyID)},
		{"execute", chromedp.Click(chromedp.CSS(op + " .btn.execute"))},
	}
	for _, st := range steps {
		require.NoError(t, chromedp.Do(stepCtx, st.act), "drive Swagger UI: %s", st.desc)
	}
	type result struct {
		Status string `json:"status"`
		Body   string `json:"body"`
		Curl   string `json:"curl"`
	}
	res, err := chromedp.Run(stepCtx, chromedp.Poll[result](`(() => {
		const op = document.querySelector('`+op+`');
		const status = op && op.querySelector('.live-responses-table .response .response-col_status');
		const body = op && op.querySelector('.live-responses-table .response-col_description pre');
		const curl = op && op.querySelector('.curl-command');
		if (!status || !body) return null;
		return {status: status.textContent.trim(), body: body.textContent, curl: curl ? curl.textContent : ''};
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "wait for the live response")
	require.True(t, strings.HasPrefix(res.Status, "200"), "status %q body %s", res.Status, res.Body)
	assert.Contains(t, res.Body, `"ciphertext"`)
	assert.Contains(t, res.Curl, "Authorization: Bearer "+tok, "Swagger UI sent the token as a bearer credential")
	assert.NotContains(t, res.Curl, "Authorization: Basic")
	assert.Greater(t, k.Tokens.Stats().Verifications, verifiedBefore, "the KMS verified the token")
	assert.Equal(t, basicChecksBefore, k.Basic.PasswordChecks(), "no password was checked")
}
