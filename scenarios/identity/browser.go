package identity

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"github.com/passthru-dev/passthru/scenarios/target"
)

// browser is a scripted user agent: a cookie jar, the target's CA-pinned
// TLS, and no automatic redirects, so every hop of the login is checked.
type browser struct {
	t *target.Target
	c *http.Client
}

func newBrowser(t *target.Target) (*browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("cookie jar: %w", err)
	}
	return &browser{t: t, c: &http.Client{
		Transport: t.HTTP.Transport, Jar: jar, Timeout: t.HTTP.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) (page, error) {
	resp, err := b.c.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return page{}, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL, err)
	}
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}, nil
}

func (b *browser) get(ctx context.Context, u string) (page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.abs(u), nil)
	if err != nil {
		return page{}, err
	}
	return b.do(req)
}

func (b *browser) post(ctx context.Context, u string, form url.Values) (page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	if err != nil {
		return page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// abs resolves a server-relative Location against the base URL.
func (b *browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.t.BaseURL + u
	}
	return u
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)"`)

// formFields returns the hidden inputs of a rendered form (request handle,
// CSRF token).
func (p page) formFields() url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func expectRedirect(what string, p page) error {
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		return fmt.Errorf("%s: got HTTP %d, want a redirect: %s", what, p.status, target.Excerpt([]byte(p.body)))
	}
	return nil
}

// signIn follows an authorize URL to the login form and submits it. It
// returns the page after the login POST (a redirect on success).
func (b *browser) signIn(ctx context.Context, authURL, username, password string) (page, error) {
	p, err := b.get(ctx, authURL)
	if err != nil {
		return p, fmt.Errorf("authorize: %w", err)
	}
	if err := expectRedirect("authorize", p); err != nil {
		return p, err
	}
	if !strings.Contains(p.location, "/oidc/v1/login") {
		return p, nil // already signed in
	}
	p, err = b.get(ctx, p.location)
	if err != nil {
		return p, fmt.Errorf("login page: %w", err)
	}
	if p.status != http.StatusOK {
		return p, fmt.Errorf("login page: HTTP %d", p.status)
	}
	f := p.formFields()
	if f.Get("request") == "" || f.Get("csrf_token") == "" {
		return p, fmt.Errorf("login page has no request handle or CSRF token")
	}
	f.Set("username", username)
	f.Set("password", password)
	p, err = b.post(ctx, "/oidc/v1/login", f)
	if err != nil {
		return p, fmt.Errorf("submit login: %w", err)
	}
	return p, nil
}

// authorize runs the whole front channel as username: login (unless a
// session exists), consent (allowing, unless remembered), and returns the
// redirect back to the client.
func (b *browser) authorize(ctx context.Context, authURL, username, password string) (*url.URL, error) {
	p, err := b.signIn(ctx, authURL, username, password)
	if err != nil {
		return nil, err
	}
	if err := expectRedirect("login as "+username, p); err != nil {
		return nil, err
	}
	if strings.Contains(p.location, "/oidc/v1/consent") {
		p, err = b.get(ctx, p.location)
		if err != nil {
			return nil, fmt.Errorf("consent page: %w", err)
		}
		if p.status == http.StatusOK {
			f := p.formFields()
			f.Set("decision", "allow")
			if p, err = b.post(ctx, "/oidc/v1/consent", f); err != nil {
				return nil, fmt.Errorf("submit consent: %w", err)
			}
		}
		if err := expectRedirect("consent", p); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(p.location)
	if err != nil {
		return nil, fmt.Errorf("redirect to client %q: %w", p.location, err)
	}
	return u, nil
}
