package target

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StatusError is an HTTP exchange that answered an unexpected status. It
// implements StatusCode so the step engine retries a 503 and nothing else.
type StatusError struct {
	Method string
	URL    string
	Got    int
	Want   []int
	Body   string // excerpt, for the report
}

func (e *StatusError) Error() string {
	want := make([]string, len(e.Want))
	for i, w := range e.Want {
		want[i] = fmt.Sprint(w)
	}
	msg := fmt.Sprintf("%s %s: got HTTP %d %s, want %s", e.Method, e.URL, e.Got, http.StatusText(e.Got), strings.Join(want, " or "))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// StatusCode is the status the server answered.
func (e *StatusError) StatusCode() int { return e.Got }

// maxExcerpt keeps reports readable; problem+json bodies are short anyway.
const maxExcerpt = 300

// Excerpt shortens a body for an error message.
func Excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > maxExcerpt {
		s = s[:maxExcerpt] + "…"
	}
	return s
}

// CheckStatus returns a *StatusError unless resp has one of the wanted statuses.
func CheckStatus(resp *http.Response, body []byte, want ...int) error {
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	return &StatusError{Method: resp.Request.Method, URL: resp.Request.URL.String(), Got: resp.StatusCode, Want: want, Body: Excerpt(body)}
}

// Do sends req and reads the whole body (bounded at 4 MiB).
func (t *Target) Do(req *http.Request) (*http.Response, []byte, error) {
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL, err)
	}
	return resp, body, nil
}

// WaitReady polls GET /readyz until it answers 200 or ctx ends, and returns
// the last failure (connection refused, 503 with the body naming what is not
// ready, ...) when it gives up. A certificate the CA bundle does not verify
// fails at once: waiting cannot fix it.
func (t *Target) WaitReady(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	start := time.Now()
	var last error
	for {
		err := t.readyOnce(ctx)
		if err == nil {
			return nil
		}
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return fmt.Errorf("%s at %s: TLS certificate not trusted by %s: %w", t.Service, t.BaseURL, t.CAFile, err)
		}
		// An attempt cut short by ctx says nothing about the service; keep
		// the last one that completed.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s at %s not ready after %s (%v): %w", t.Service, t.BaseURL, time.Since(start).Round(time.Millisecond), ctx.Err(), last)
		case <-timer.C:
		}
	}
}

func (t *Target) readyOnce(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL("/readyz"), nil)
	if err != nil {
		return fmt.Errorf("readyz request: %w", err)
	}
	resp, body, err := t.Do(req)
	if err != nil {
		return err
	}
	return CheckStatus(resp, body, http.StatusOK)
}
