// Package browser starts headless Chromium for tests, trusting exactly one CA.
//
// Chromium on Linux takes its trust anchors from the NSS database under
// $HOME/.pki/nssdb. Each browser gets a fresh HOME whose NSS database holds
// only the test's CA (added with certutil), so pages load with full
// certificate verification against our CA, the same way curl --cacert does;
// no certificate error is ever ignored.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/passthru-dev/passthru/testkit/fixture"
)

// EnvChromium overrides the Chromium executable (default: chromium on PATH).
const EnvChromium = "PASSTHRU_CHROMIUM"

// Options tune a browser; the zero value is what most tests want.
type Options struct {
	// Exec overrides EnvChromium and the PATH lookup.
	Exec string
}

// New starts a headless Chromium that trusts only the CA certificates in
// caFile and returns a chromedp context for it. The browser is stopped when
// the test ends. A missing Chromium or certutil fails the test with the
// package to install: browser tests never skip.
func New(t testing.TB, caFile string, opts ...Options) context.Context {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	execPath, err := chromiumPath(o.Exec)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	home := t.TempDir()
	if err := TrustCA(t.Context(), home, caFile); err != nil {
		t.Fatalf("browser: %v", err)
	}
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these Chromium dials Google's services, which this closed
		// network refuses (and tests must not depend on anyway).
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("HOME=" + home),
	}
	// The browser lives at most PASSTHRU_IT_TIMEOUT: one that hangs while
	// starting or navigating fails the test instead of hanging it.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(fixture.ITContext(t), allocOpts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first action starts the browser. It runs on ctx itself, not on a
	// shorter-lived child, because chromedp stops the browser when the
	// context of that first action ends.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browser: start %s: %v", execPath, err)
	}
	return ctx
}

func chromiumPath(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(EnvChromium)
	}
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("chromium at %s: %w", explicit, err)
		}
		return explicit, nil
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		return "", fmt.Errorf("chromium not found on PATH (install the Debian package chromium, or set %s): %w", EnvChromium, err)
	}
	return p, nil
}

// TrustCA creates home/.pki/nssdb holding the certificates of caFile as the
// only trusted CAs for TLS servers.
func TrustCA(ctx context.Context, home, caFile string) error {
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		return fmt.Errorf("certutil not found on PATH (install the Debian package libnss3-tools): %w", err)
	}
	if _, err := os.Stat(caFile); err != nil {
		return fmt.Errorf("CA bundle: %w", err)
	}
	dir := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create NSS database dir: %w", err)
	}
	db := "sql:" + dir
	steps := [][]string{
		{"-N", "-d", db, "--empty-password"},
		// "C,," trusts the certificate as a CA for TLS servers only.
		{"-A", "-d", db, "-t", "C,,", "-n", "passthru-test-ca", "-i", caFile},
	}
	for _, args := range steps {
		if out, err := exec.CommandContext(ctx, certutil, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %v: %w: %s", args, err, out)
		}
	}
	return nil
}
