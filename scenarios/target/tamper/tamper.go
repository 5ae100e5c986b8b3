// Package tamper puts a TLS reverse proxy in front of a real service so a
// test can rewrite chosen answers and prove that a scenario step notices:
// a step that still passed against a lying server would check nothing.
// It is for tests only.
package tamper

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/passthru-dev/passthru/services/infra/tlsx"
)

// Response is an upstream answer a Rule may change.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Rule rewrites the answers to the requests it matches. Request bodies are
// readable in Match (they are buffered and forwarded unchanged).
type Rule struct {
	Match   func(r *http.Request, body []byte, resp *Response) bool
	Rewrite func(resp *Response)
}

// Start serves a proxy to upstream (reached with client) on loopback TLS,
// with a certificate from the demo CA in pkiDir, so a client that trusts
// that CA trusts both. It returns the proxy's base URL.
func Start(t testing.TB, pkiDir, upstream string, client *http.Client, rules ...Rule) string {
	t.Helper()
	// Redirects go back to the caller untouched, as a real proxy would.
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client = &noFollow
	pki, err := tlsx.EnsureDemoPKI(pkiDir, "tamper")
	if err != nil {
		t.Fatalf("tamper proxy PKI: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := client.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		rb, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		res := &Response{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: rb}
		for _, rule := range rules {
			if rule.Match(r, body, res) {
				rule.Rewrite(res)
			}
		}
		res.Header.Del("Content-Length")
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.Status)
		_, _ = w.Write(res.Body)
	}))
	srv.TLS = tlsx.ServerConfig(pki.Certificate, nil)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}
