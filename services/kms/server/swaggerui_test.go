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

// TestSwaggerUITryItOut drives the real Swagger UI in headless Chromium:
// authorize with the demo writer's Basic credentials, "Try it out" on
// encrypt with a demo key, and expect a 200 carrying a compact JWE.
func TestSwaggerUITryItOut(t *testing.T) {
	k := fixture.StartKMS(t, dbtest.SQLite)
	writer := k.User(t, 0, "writer")
	keyID := k.Key(t, 0, "A256GCM").ID

	// Chromium trusts exactly the KMS's CA, through its own NSS database:
	// full certificate verification, nothing ignored.
	ctx := browser.New(t, k.CAFile)
	stepCtx, cancelSteps := context.WithTimeout(ctx, fixture.ITTimeout(t))
	defer cancelSteps()

	basicInput := func(kind string) chromedp.JSPath {
		return chromedp.JSPath(`[...document.querySelectorAll('.auth-container')].find(e => e.textContent.includes('basicAuth')).querySelector('input[type=` + kind + `]')`)
	}
	op := "#operations-operations-encrypt"
	err := chromedp.Do(stepCtx,
		chromedp.Navigate(k.URL+"/ui/swagger/"),
		chromedp.WaitVisible(chromedp.CSS("button.btn.authorize")),
		chromedp.Click(chromedp.CSS("button.btn.authorize")),
		chromedp.WaitVisible(basicInput("text")),
		chromedp.SendKeys(basicInput("text"), writer.Username),
		chromedp.SendKeys(basicInput("password"), writer.Password),
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('.auth-container')].find(e => e.textContent.includes('basicAuth')).querySelector('button.authorize')`)),
		chromedp.WaitVisible(chromedp.CSS("button.btn-done")),
		chromedp.Click(chromedp.CSS("button.btn-done")),
		chromedp.Click(chromedp.CSS(op+" .opblock-summary")),
		chromedp.WaitVisible(chromedp.CSS(op+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn")),
		chromedp.WaitVisible(chromedp.CSS(op+" .parameters input[type=text]")),
		chromedp.SendKeys(chromedp.CSS(op+" .parameters input[type=text]"), keyID),
		chromedp.Click(chromedp.CSS(op+" .btn.execute")),
	)
	require.NoError(t, err, "drive Swagger UI")
	type result struct {
		Status string `json:"status"`
		Body   string `json:"body"`
	}
	res, err := chromedp.Run(stepCtx, chromedp.Poll[result](`(() => {
		const op = document.querySelector('`+op+`');
		const status = op && op.querySelector('.live-responses-table .response .response-col_status');
		const body = op && op.querySelector('.live-responses-table .response-col_description pre');
		if (!status || !body) return null;
		return {status: status.textContent.trim(), body: body.textContent};
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "wait for the live response")
	require.True(t, strings.HasPrefix(res.Status, "200"), "status %q body %s", res.Status, res.Body)
	assert.Contains(t, res.Body, `"ciphertext"`)
	assert.Contains(t, res.Body, `"kid"`)
	start := strings.Index(res.Body, "eyJ")
	require.GreaterOrEqual(t, start, 0, "a compact JWE starts with a base64url JSON header: %s", res.Body)
	jwe := res.Body[start:]
	jwe = jwe[:strings.IndexByte(jwe, '"')]
	assert.Len(t, strings.Split(jwe, "."), 5, "compact JWE has five parts")
}
