package oauth

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/http"

	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
)

//go:embed templates/*.html
var templateFS embed.FS

type pages struct{ t *template.Template }

func newPages() (*pages, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	return &pages{t: t}, nil
}

// pageData is what the templates see.
type pageData struct {
	Title      string
	Message    string
	Action     string
	Request    string
	CSRF       string
	ClientName string
	Username   string
	Scopes     []scopeInfo
}

type scopeInfo struct{ Name, Description string }

var scopeDescriptions = map[string]string{
	"openid":         "sign you in and know who you are",
	"profile":        "your name and username",
	"email":          "your email address",
	"offline_access": "keep access while you are away",
	"identity:admin": "administer users and clients of your tenant",
	"kms:admin":      "administer keys in the KMS",
	"kms:write":      "use and change keys in the KMS",
	"kms:read":       "read keys in the KMS",
}

func describeScopes(scopes []string) []scopeInfo {
	out := make([]scopeInfo, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, scopeInfo{Name: s, Description: scopeDescriptions[s]})
	}
	return out
}

// render writes a page with headers that keep it out of caches and frames.
// Templates are executed into a buffer first so a failure never sends half a page.
func (p *pages) render(w http.ResponseWriter, status int, name string, d pageData) {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, d); err != nil {
		http.Error(w, "page rendering failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error to the user without redirecting anywhere: used
// when the client or redirect URI cannot be trusted.
func (s *Server) errorPage(w http.ResponseWriter, status int, title, msg string) {
	s.pages.render(w, status, "message", pageData{Title: title, Message: msg})
}

// failPage answers a browser request that failed for want of something
// other than the user's input: 503 with Retry-After when the database cannot
// serve (the user may simply try again), 500 otherwise. what names the
// step for the log; the page never shows the cause.
func (s *Server) failPage(ctx context.Context, w http.ResponseWriter, what string, err error) {
	if ue, ok := db.Unavailable(err); ok {
		s.cfg.Logger.WarnContext(ctx, what+": database unavailable", "error", err)
		httpx.SetRetryAfter(w.Header(), ue.RetryAfter)
		s.errorPage(w, http.StatusServiceUnavailable, "Temporarily unavailable", "The service cannot sign you in right now. Try again in a moment.")
		return
	}
	s.cfg.Logger.ErrorContext(ctx, what, "error", err)
	s.errorPage(w, http.StatusInternalServerError, "Error", "Something went wrong. Try again later.")
}
