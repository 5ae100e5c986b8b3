package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/scenarios/target"
	"github.com/passthru-dev/passthru/services/infra/demofile"
)

// variants is how many distinct plaintexts and payloads a run cycles
// through: enough that no cache could answer from one value, few enough to
// prepare in a moment.
const variants = 64

// payloadSize is the plaintext and payload size of the KMS endpoints.
const payloadSize = 1024

// session is what the scenarios share: the client, the demo credentials
// and the keys and inputs prepared before measuring.
type session struct {
	client *http.Client
	tgt    *Target

	admin, writer demofile.User   // KMS realm users: creates keys; uses them
	service       demofile.Client // Identity service client (audience kms)
	rs            demofile.Client // Identity resource-server client
	bearer        bool            // the KMS trusts the Identity provider

	tokens tokenSource

	encKey, sigKey string   // created for the run
	plain          [][]byte // 1 KiB each
	encBodies      [][]byte // {"plaintext"} for each of plain
	decBodies      [][]byte // {"ciphertext"} of each of plain
	signBodies     [][]byte // {"payload"} for each of plain
	verifyBodies   [][]byte // {"signature"} over each of plain
}

// newSession picks the demo credentials the scenarios use.
func newSession(client *http.Client, tgt *Target) (*session, error) {
	s := &session{client: client, tgt: tgt}
	tenant := &tgt.KMS.Tenants[0]
	var err error
	if s.admin, err = target.UserWithRole(tenant, "admin"); err != nil {
		return nil, fmt.Errorf("kms demo.json: %w", err)
	}
	if s.writer, err = target.UserWithRole(tenant, "writer"); err != nil {
		return nil, fmt.Errorf("kms demo.json: %w", err)
	}
	// The same tenant at Identity, so its tokens map to the KMS tenant.
	idTenant := &tgt.Identity.Tenants[0]
	for i := range tgt.Identity.Tenants {
		if tgt.Identity.Tenants[i].ID == tenant.ID {
			idTenant = &tgt.Identity.Tenants[i]
		}
	}
	found := false
	for _, c := range idTenant.Clients {
		if c.Kind == demofile.KindService && c.Audience == "kms" && c.ClientSecret != "" && hasAny(c.Scopes, "kms:admin", "kms:write") {
			s.service, found = c, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("identity demo.json: no service client with audience kms and kms:write in tenant %s", idTenant.Name)
	}
	if s.rs, err = idTenant.ClientOfKind(demofile.KindResourceServer); err != nil {
		return nil, fmt.Errorf("identity demo.json: %w", err)
	}
	s.bearer = tgt.KMS.Trust != nil && idTenant.ID == tenant.ID
	s.tokens = tokenSource{fetch: s.fetchToken}
	return s, nil
}

func hasAny(have []string, want ...string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// do sends one request and returns the status and the whole body.
func (s *session) do(ctx context.Context, method, u string, body []byte, contentType string, auth authFunc) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("request %s: %w", u, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != nil {
		if err := auth(req); err != nil {
			return 0, nil, err
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, req.URL.Path, err)
	}
	return resp.StatusCode, data, nil
}

func basic(user, password string) authFunc {
	return func(r *http.Request) error {
		r.SetBasicAuth(user, password)
		return nil
	}
}

func (s *session) bearerAuth(ctx context.Context) authFunc {
	return func(r *http.Request) error {
		tok, err := s.tokens.get(ctx)
		if err != nil {
			return err
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

// kmsOp posts a JSON body to an operation of a key.
func (s *session) kmsOp(ctx context.Context, key, op string, body []byte, auth authFunc) (int, []byte, error) {
	return s.do(ctx, http.MethodPost, s.tgt.KMSURL+"/api/v1/elastic-keys/"+key+"/"+op, body, "application/json", auth)
}

// clientCredentials asks Identity for a token of the service client,
// authenticated with client_secret_basic.
func (s *session) clientCredentials(ctx context.Context) (int, []byte, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	c := s.service
	// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
	auth := basic(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	return s.do(ctx, http.MethodPost, s.tgt.IdentityURL+"/oauth2/v1/token", []byte(form.Encode()), "application/x-www-form-urlencoded", auth)
}

// introspect asks Identity, as the resource server, about token.
func (s *session) introspect(ctx context.Context, token string) (int, []byte, error) {
	form := url.Values{"token": {token}}
	auth := basic(url.QueryEscape(s.rs.ClientID), url.QueryEscape(s.rs.ClientSecret))
	return s.do(ctx, http.MethodPost, s.tgt.IdentityURL+"/oauth2/v1/introspect", []byte(form.Encode()), "application/x-www-form-urlencoded", auth)
}

func (s *session) fetchToken(ctx context.Context) (tokenResponse, error) {
	status, body, err := s.clientCredentials(ctx)
	if err != nil {
		return tokenResponse{}, err
	}
	return verifyToken(status, body)
}

// tokenSource holds the service client's current access token and gets a
// new one shortly before it expires, so a long run keeps a valid token.
type tokenSource struct {
	fetch func(context.Context) (tokenResponse, error)
	now   func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// renewBefore is how long before its expiry a token is replaced: longer
// than any request takes, so no request carries a token that expires on
// the way.
const renewBefore = 30 * time.Second

func (t *tokenSource) get(ctx context.Context) (string, error) {
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && now().Before(t.renewAt) {
		return t.token, nil
	}
	r, err := t.fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	t.token = r.AccessToken
	t.renewAt = now().Add(time.Duration(r.ExpiresIn)*time.Second - renewBefore)
	return t.token, nil
}

// prepare creates the run's two keys and the inputs of the decrypt and
// verify scenarios. Every answer is verified like a measured one.
func (s *session) prepare(ctx context.Context) error {
	var err error
	if s.encKey, err = s.createKey(ctx, "A256GCM"); err != nil {
		return err
	}
	if s.sigKey, err = s.createKey(ctx, "ES256"); err != nil {
		return err
	}
	writer := basic(s.writer.Username, s.writer.Password)
	for range variants {
		p := make([]byte, payloadSize)
		if _, err := rand.Read(p); err != nil {
			return fmt.Errorf("random plaintext: %w", err)
		}
		s.plain = append(s.plain, p)
		s.encBodies = append(s.encBodies, mustJSON(map[string][]byte{"plaintext": p}))
		s.signBodies = append(s.signBodies, mustJSON(map[string][]byte{"payload": p}))
	}
	for i, p := range s.plain {
		status, body, err := s.kmsOp(ctx, s.encKey, "encrypt", s.encBodies[i], writer)
		if err != nil {
			return fmt.Errorf("prepare ciphertexts: %w", err)
		}
		ct, err := verifyEncrypt(status, body)
		if err != nil {
			return fmt.Errorf("prepare ciphertexts: %w", err)
		}
		s.decBodies = append(s.decBodies, mustJSON(map[string]string{"ciphertext": ct}))
		status, body, err = s.kmsOp(ctx, s.sigKey, "sign", s.signBodies[i], writer)
		if err != nil {
			return fmt.Errorf("prepare signatures: %w", err)
		}
		sig, err := verifySign(status, body, p)
		if err != nil {
			return fmt.Errorf("prepare signatures: %w", err)
		}
		s.verifyBodies = append(s.verifyBodies, mustJSON(map[string]string{"signature": sig}))
	}
	return nil
}

// createKey creates an elastic key named for the run (the name carries a
// UUIDv7, so runs against one long-lived stack never collide).
func (s *session) createKey(ctx context.Context, alg string) (string, error) {
	name := "load-" + strings.ToLower(alg) + "-" + uuid.Must(uuid.NewV7()).String()
	body := mustJSON(map[string]string{"name": name, "algorithm": alg})
	status, resp, err := s.do(ctx, http.MethodPost, s.tgt.KMSURL+"/api/v1/elastic-keys", body, "application/json", basic(s.admin.Username, s.admin.Password))
	if err != nil {
		return "", fmt.Errorf("create %s key: %w", alg, err)
	}
	var k struct{ ID, Algorithm string }
	if err := decode(status, http.StatusCreated, resp, &k); err != nil {
		return "", fmt.Errorf("create %s key: %w", alg, err)
	}
	if k.ID == "" || k.Algorithm != alg {
		return "", fmt.Errorf("create %s key: %w", alg, wrong(status, "answer lacks the id or has algorithm %q", k.Algorithm))
	}
	return k.ID, nil
}

// mustJSON encodes values that cannot fail to encode (maps of strings and
// byte slices).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(errors.New("load: encode request body: " + err.Error()))
	}
	return b
}
