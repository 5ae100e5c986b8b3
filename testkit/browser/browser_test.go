package browser

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/testkit/tlstest"
)

func page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<html><body><p id="msg">hello over TLS 1.3</p></body></html>`))
}

func TestBrowserTrustsOnlyTheGivenCA(t *testing.T) {
	ours := tlstest.New(t)
	srv := ours.NewServer(t, http.HandlerFunc(page))
	// The test server certificate names localhost and 127.0.0.1.
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	cases := []struct {
		desc   string
		caFile string
		wantOK bool
	}{
		{desc: "our CA: the page loads with full verification", caFile: ours.CAFile, wantOK: true},
		{desc: "another CA: the certificate is refused", caFile: tlstest.New(t).CAFile, wantOK: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := New(t, tc.caFile)
			err := chromedp.Do(ctx, chromedp.Navigate(url))
			if !tc.wantOK {
				// Chromium reports the refused certificate as a navigation error.
				require.Error(t, err)
				assert.Contains(t, err.Error(), "ERR_CERT")
				return
			}
			require.NoError(t, err)
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#msg")))
			require.NoError(t, err)
			assert.Equal(t, "hello over TLS 1.3", text)
		})
	}
}

func TestTrustCAErrors(t *testing.T) {
	cases := []struct {
		desc    string
		caFile  func(t *testing.T) string
		wantErr string
	}{
		{desc: "missing CA file", caFile: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.pem") }, wantErr: "CA bundle"},
		{desc: "not a certificate", caFile: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "junk.pem")
			require.NoError(t, os.WriteFile(p, []byte("junk"), 0o600))
			return p
		}, wantErr: "certutil"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := TrustCA(t.Context(), t.TempDir(), tc.caFile(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestChromiumPath(t *testing.T) {
	_, err := chromiumPath(filepath.Join(t.TempDir(), "no-chromium"))
	require.Error(t, err)
	t.Setenv(EnvChromium, "")
	p, err := chromiumPath("")
	require.NoError(t, err, "chromium must be installed for browser tests")
	assert.NotEmpty(t, p)
}
