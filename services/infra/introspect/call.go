package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// maxBody caps what is read of an answer: a batch of 100 RFC 7662 objects
// is a few tens of KiB, anything past 1 MiB is not an answer.
const maxBody = 1 << 20

// errBatchUnsupported: the batch endpoint does not exist at Identity.
var errBatchUnsupported = errors.New("the batch endpoint answered 404 or 405")

func errUnavailableWith(err error) error {
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

// endpoints are Identity's endpoints, configured or discovered once.
type endpoints struct {
	resolve func(context.Context) (string, string, error)

	mu              sync.Mutex
	known           bool
	endpoint, batch string
}

// get returns the endpoints, discovering them on first use. A failed
// discovery is not remembered: the next exchange tries again.
func (e *endpoints) get(ctx context.Context) (endpoint, batch string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.known {
		return e.endpoint, e.batch, nil
	}
	endpoint, batch, err = e.resolve(ctx)
	if err != nil {
		return "", "", fmt.Errorf("resolve the introspection endpoints: %w", err)
	}
	if err := checkEndpoint(endpoint); err != nil {
		return "", "", fmt.Errorf("resolved introspection endpoint: %w", err)
	}
	if batch != "" {
		if err := checkEndpoint(batch); err != nil {
			return "", "", fmt.Errorf("resolved batch introspection endpoint: %w", err)
		}
	}
	e.endpoint, e.batch, e.known = endpoint, batch, true
	return endpoint, batch, nil
}

// answer is the part of an RFC 7662 response the checker relies on.
// Active is a pointer because a response without it is malformed, not
// "inactive".
type answer struct {
	Active   *bool  `json:"active"`
	TenantID string `json:"tenant_id"`
	JTI      string `json:"jti"`
}

// singleCall asks about one token at the RFC 7662 endpoint.
func (c *Checker) singleCall(ctx context.Context, endpoint string, cred credential, f *flight) {
	body, err := c.post(ctx, endpoint, cred, []string{f.raw}, false)
	if err != nil {
		f.err = err
		return
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.Active == nil {
		c.log.WarnContext(ctx, "malformed introspection response", "endpoint", endpoint, "client_id", cred.id)
		f.err = errUnavailableWith(errors.New("malformed introspection response"))
		return
	}
	f.active = c.judge(ctx, a, f)
}

// batchCall asks about a chunk of tokens at the batch endpoint. It returns
// errBatchUnsupported, leaving the flights unanswered, when the endpoint
// does not exist; otherwise it answers every flight.
func (c *Checker) batchCall(ctx context.Context, endpoint string, cred credential, chunk []*flight) error {
	raws := make([]string, len(chunk))
	for i, f := range chunk {
		raws[i] = f.raw
	}
	body, err := c.post(ctx, endpoint, cred, raws, true)
	if errors.Is(err, errBatchUnsupported) {
		return err
	}
	if err != nil {
		for _, f := range chunk {
			f.err = err
		}
		return nil
	}
	var resp struct {
		Results []answer `json:"results"`
	}
	ok := json.Unmarshal(body, &resp) == nil && len(resp.Results) == len(chunk)
	for i := 0; ok && i < len(resp.Results); i++ {
		ok = resp.Results[i].Active != nil
	}
	if !ok {
		c.log.WarnContext(ctx, "malformed batch introspection response", "endpoint", endpoint, "client_id", cred.id, "tokens", len(chunk))
		err := errUnavailableWith(errors.New("malformed batch introspection response"))
		for _, f := range chunk {
			f.err = err
		}
		return nil
	}
	for i, f := range chunk {
		f.active = c.judge(ctx, resp.Results[i], f)
	}
	return nil
}

// judge decides whether an answer makes the flight's token active. An
// "active" answer must name the token's tenant, and its token id when the
// token has one: an answer about another tenant or token, or one that does
// not say which, does not describe this token and counts as inactive.
func (c *Checker) judge(ctx context.Context, a answer, f *flight) bool {
	if !*a.Active {
		return false
	}
	if a.TenantID != f.tenant || (f.jti != "" && a.JTI != f.jti) {
		c.log.WarnContext(ctx, "introspection answered active with another tenant or token id than the token's: treated as inactive",
			"tenant_id", f.tenant, "jti", f.jti)
		return false
	}
	return true
}

// post sends one introspection request and returns the body of its 200
// answer. Every failure wraps errUnavailable, except a 404 or 405 of the
// batch endpoint (errBatchUnsupported).
func (c *Checker) post(ctx context.Context, endpoint string, cred credential, raws []string, batch bool) ([]byte, error) {
	form := url.Values{"token": raws}
	if c.method == MethodTLSClientAuth {
		form.Set("client_id", cred.id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, errUnavailableWith(fmt.Errorf("introspection request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.method == MethodSecretBasic {
		// RFC 6749 §2.3.1: both are form-url-encoded before Basic, so a
		// ':' in the id or non-ASCII in the secret survives.
		req.SetBasicAuth(url.QueryEscape(cred.id), url.QueryEscape(cred.secret))
	}
	c.calls.Add(1)
	if batch {
		c.batchCalls.Add(1)
	}
	c.tokensChecked.Add(uint64(len(raws)))
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.WarnContext(ctx, "introspection endpoint unreachable", "endpoint", endpoint, "error", err)
		return nil, errUnavailableWith(fmt.Errorf("introspection call: %w", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		// Our client credentials are wrong: an operator must fix them, and
		// no token is to blame.
		c.log.ErrorContext(ctx, "Identity refused the introspection client's credentials",
			"endpoint", endpoint, "client_id", cred.id, "method", c.method)
		return nil, errUnavailableWith(errors.New("the introspection client was refused (401)"))
	case batch && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed):
		return nil, fmt.Errorf("%w (%d)", errBatchUnsupported, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		c.log.WarnContext(ctx, "introspection failed", "endpoint", endpoint, "client_id", cred.id, "status", resp.StatusCode)
		return nil, errUnavailableWith(fmt.Errorf("introspection answered %d", resp.StatusCode))
	case err != nil:
		c.log.WarnContext(ctx, "introspection response unreadable", "endpoint", endpoint, "error", err)
		return nil, errUnavailableWith(fmt.Errorf("read the introspection response: %w", err))
	case len(body) > maxBody:
		c.log.WarnContext(ctx, "introspection response too large", "endpoint", endpoint, "client_id", cred.id)
		return nil, errUnavailableWith(errors.New("introspection response over 1 MiB"))
	}
	return body, nil
}
