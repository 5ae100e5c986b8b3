package outage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/passthru-dev/passthru/services/identity/oauth"
	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/testkit/factory"
)

// requestTimeout bounds each request of the tests, so a request that hangs
// is recorded (as an error after this long) instead of hanging the test.
const requestTimeout = 5 * time.Second

// maxOutageLatency is the requirement's bound on every answer while the
// database is unavailable.
const maxOutageLatency = time.Second

// result is one request and its answer.
type result struct {
	endpoint   string
	start, end time.Time
	status     int
	header     http.Header
	body       []byte
	err        error
}

func (r result) latency() time.Duration { return r.end.Sub(r.start) }

// String says what came, for failure messages.
func (r result) String() string {
	if r.err != nil {
		return fmt.Sprintf("%s: transport error after %s: %v", r.endpoint, r.latency().Round(time.Millisecond), r.err)
	}
	body := string(r.body)
	if len(body) > 400 {
		body = body[:400] + "..."
	}
	return fmt.Sprintf("%s: %d Content-Type=%q Retry-After=%q after %s, body %s",
		r.endpoint, r.status, r.header.Get("Content-Type"), r.header.Get("Retry-After"), r.latency().Round(time.Millisecond), body)
}

// endpoint is one kind of request of the load.
type endpoint struct {
	name   string
	client *http.Client
	// request builds a fresh request (bodies are read once).
	request func(ctx context.Context) (*http.Request, error)
	// ok says whether an answer is the normal, successful one.
	ok func(r result) bool
	// unavailable returns nil when the answer is the one the contract asks
	// for while the database is down, else what is wrong with it.
	unavailable func(r result) error
	// cachedFor is how long after the database stopped a successful answer
	// may still come from a cache validated before it: the staleness the
	// service promises anyway (zero for requests that must reach the
	// database). Such an answer is the one the database would have given
	// at the cache's last check, not a guess.
	cachedFor time.Duration
}

// do sends one request of e and records its answer.
func (e endpoint) do(ctx context.Context) result {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	r := result{endpoint: e.name, start: time.Now()}
	req, err := e.request(ctx)
	if err != nil {
		r.err, r.end = fmt.Errorf("build request: %w", err), time.Now()
		return r
	}
	resp, err := e.client.Do(req)
	if err != nil {
		r.err, r.end = err, time.Now()
		return r
	}
	r.body, r.err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	r.end, r.status, r.header = time.Now(), resp.StatusCode, resp.Header
	return r
}

// journal collects results from concurrent workers.
type journal struct {
	mu      sync.Mutex
	results []result
}

func (l *journal) add(r result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, r)
}

// where returns the results for which keep holds, in order of start.
func (l *journal) where(keep func(r result) bool) []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []result
	for _, r := range l.results {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func ok2xx(r result) bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// retryAfter checks the Retry-After header: a positive number of seconds.
func retryAfter(r result) error {
	v := r.header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a Retry-After header with a positive number of seconds, got %q", v)
	}
	return nil
}

// kmsUnavailable is the KMS's answer while its database is unavailable:
// 503, a problem+json body with code "unavailable", Retry-After. Anything
// else (500, 401 or 403 for credentials that could not be checked) fails.
func kmsUnavailable(r result) error {
	if r.err != nil {
		return fmt.Errorf("want 503 problem+json code unavailable with Retry-After, got %s", r)
	}
	var problems []string
	if r.status != http.StatusServiceUnavailable {
		problems = append(problems, fmt.Sprintf("want status 503, got %d", r.status))
	}
	if mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type")); err != nil || mt != "application/problem+json" {
		problems = append(problems, fmt.Sprintf("want Content-Type application/problem+json, got %q", r.header.Get("Content-Type")))
	}
	var body struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Code != "unavailable" {
		problems = append(problems, fmt.Sprintf("want JSON \"code\":\"unavailable\", got code %q", body.Code))
	}
	if err := retryAfter(r); err != nil {
		problems = append(problems, err.Error())
	}
	return joinProblems(problems, r)
}

// oauthUnavailable is an OAuth endpoint's answer while Identity's database
// is unavailable: 503, {"error":"temporarily_unavailable"}, Retry-After.
func oauthUnavailable(r result) error {
	if r.err != nil {
		return fmt.Errorf("want 503 error temporarily_unavailable with Retry-After, got %s", r)
	}
	var problems []string
	if r.status != http.StatusServiceUnavailable {
		problems = append(problems, fmt.Sprintf("want status 503, got %d", r.status))
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error != "temporarily_unavailable" {
		problems = append(problems, fmt.Sprintf("want JSON \"error\":\"temporarily_unavailable\", got error %q", body.Error))
	}
	if err := retryAfter(r); err != nil {
		problems = append(problems, err.Error())
	}
	return joinProblems(problems, r)
}

// readyzBody is /readyz's answer.
type readyzBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func readyzReady(r result) bool {
	var body readyzBody
	return r.err == nil && r.status == http.StatusOK && json.Unmarshal(r.body, &body) == nil && body.Status == "ready"
}

// readyzDown is /readyz while the database is unavailable: 503, "not
// ready", the database check "unavailable" and the barrier check named
// (whether the barrier still unwraps without the database is not asked).
func readyzDown(r result) error {
	if r.err != nil {
		return fmt.Errorf(`want 503 {"status":"not ready","checks":{"database":"unavailable",...}}, got %s`, r)
	}
	var problems []string
	if r.status != http.StatusServiceUnavailable {
		problems = append(problems, fmt.Sprintf("want status 503, got %d", r.status))
	}
	var body readyzBody
	if err := json.Unmarshal(r.body, &body); err != nil {
		problems = append(problems, fmt.Sprintf("want a JSON body: %v", err))
	}
	if body.Status != "not ready" {
		problems = append(problems, fmt.Sprintf("want status %q, got %q", "not ready", body.Status))
	}
	if body.Checks["database"] != "unavailable" {
		problems = append(problems, fmt.Sprintf("want checks.database %q, got %q", "unavailable", body.Checks["database"]))
	}
	if _, ok := body.Checks["barrier"]; !ok {
		problems = append(problems, "want a checks.barrier entry")
	}
	return joinProblems(problems, r)
}

func joinProblems(problems []string, r result) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s; got %s", strings.Join(problems, "; "), r)
}

// kmsEndpoint is a KMS API request as a Basic-authenticated demo user.
func kmsEndpoint(name string, client *http.Client, user demofile.User, method, rawURL string, body func() any) endpoint {
	return endpoint{
		name: name, client: client, ok: ok2xx, unavailable: kmsUnavailable,
		request: func(ctx context.Context) (*http.Request, error) {
			var rd io.Reader
			if body != nil {
				b, err := json.Marshal(body())
				if err != nil {
					return nil, err
				}
				rd = bytes.NewReader(b)
			}
			req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
			if err != nil {
				return nil, err
			}
			req.SetBasicAuth(user.Username, user.Password)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, nil
		},
	}
}

// encryptEndpoint encrypts a fixed plaintext with key keyID.
func encryptEndpoint(client *http.Client, baseURL string, user demofile.User, keyID string) endpoint {
	return kmsEndpoint("kms encrypt", client, user, http.MethodPost, baseURL+"/api/v1/elastic-keys/"+keyID+"/encrypt",
		func() any { return map[string]any{"plaintext": []byte("outage test plaintext")} })
}

// createKeyEndpoint creates an A256GCM key with a unique name.
func createKeyEndpoint(client *http.Client, baseURL string, user demofile.User) endpoint {
	return kmsEndpoint("kms create key", client, user, http.MethodPost, baseURL+"/api/v1/elastic-keys",
		func() any { return factory.ElasticKey("A256GCM") })
}

// readyzEndpoint asks a service's /readyz.
func readyzEndpoint(name string, client *http.Client, baseURL string) endpoint {
	return endpoint{
		name: name, client: client, ok: readyzReady, unavailable: readyzDown,
		request: func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/readyz", nil)
		},
	}
}

// oauthEndpoint posts a form to an Identity OAuth endpoint with the
// client's Basic credentials (form-encoded first, as RFC 6749 2.3.1 asks).
func oauthEndpoint(name string, client *http.Client, issuer, path string, c demofile.Client, form url.Values) endpoint {
	return endpoint{
		name: name, client: client, ok: ok2xx, unavailable: oauthUnavailable,
		request: func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
			return req, nil
		},
	}
}

// tokenEndpoint is the client credentials grant for c.
func tokenEndpoint(client *http.Client, issuer string, c demofile.Client) endpoint {
	return oauthEndpoint("identity token", client, issuer, oauth.PathToken, c, url.Values{"grant_type": {"client_credentials"}})
}

// introspectEndpoint introspects token as resource server rs; an answer
// counts as ok only when it says the token is active. Identity answers a
// token it verified before from its cache while the tenant's change
// generation, read at most every change check interval, has not moved: for
// up to that interval after the database stopped, "active" is the answer
// it would give with the database up.
func introspectEndpoint(client *http.Client, issuer string, rs demofile.Client, token string, checkEvery time.Duration) endpoint {
	e := oauthEndpoint("identity introspect", client, issuer, oauth.PathIntrospect, rs, url.Values{"token": {token}})
	e.cachedFor = checkEvery
	e.ok = func(r result) bool {
		var body struct {
			Active bool `json:"active"`
		}
		return ok2xx(r) && json.Unmarshal(r.body, &body) == nil && body.Active
	}
	return e
}
