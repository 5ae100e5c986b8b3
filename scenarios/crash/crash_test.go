package crash_test

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
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/passthru-dev/passthru/services/infra/demofile"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/kms/api"
	kmsserver "github.com/passthru-dev/passthru/services/kms/server"
	"github.com/passthru-dev/passthru/testkit/dbtest"
	"github.com/passthru-dev/passthru/testkit/fixture"
	"github.com/passthru-dev/passthru/testkit/procs"
)

func TestMain(m *testing.M) {
	procs.RunIfChild()
	os.Exit(m.Run())
}

// Bounds of the load: how long it runs before the kill, how many workers
// of each kind, and at most how many of each thing are created. The caps
// are a safety bound for a fast machine, above what the load reaches in
// loadDuration here: a kind that reached its cap early would have nothing
// in flight at the kill.
const (
	loadDuration   = 4 * time.Second
	kmsWorkers     = 3
	tokenWorkers   = 2
	refreshWorkers = 2
	maxKeys        = 1000
	maxRealmUsers  = 300
	maxIDUsers     = 300
	maxTokens      = 1500
	maxChains      = 150
	refreshPerLoop = 8 // refreshes of one chain before a new login starts another
	verifyWorkers  = 4
)

// requirePostgres returns when this run tests PostgreSQL. The SQLite leg
// skips (the PostgreSQL leg of the same run covers this test); a CI run
// without PostgreSQL fails, since then nothing would cover it.
func requirePostgres(t *testing.T) {
	t.Helper()
	for _, b := range dbtest.Backends(t) { // fails t when PostgreSQL was requested and is missing
		if b == dbtest.Postgres {
			return
		}
	}
	if os.Getenv(dbtest.EnvDB) == string(dbtest.SQLite) {
		t.Skip("crash safety is tested on PostgreSQL: this is the SQLite leg, the PostgreSQL leg (PASSTHRU_TEST_DB=postgres or all; `make crash-test`) runs it")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but no PostgreSQL for the crash test: %s", dbtest.PostgresSkippedNote())
	}
	t.Skip(dbtest.PostgresSkippedNote())
}

// TestCrashUnderLoadLosesNothingAcknowledged runs the KMS and Identity as
// processes on PostgreSQL, writes to both from concurrent workers, kills both
// with SIGKILL in the middle of the load, restarts them on the same
// databases and data directories, and checks that everything a 2xx answer
// acknowledged before the kill is still there: keys, key versions,
// ciphertexts (they decrypt to their plaintext), the audit events of those
// operations, KMS realm users and Identity users (they still sign in),
// access tokens (active) and refresh tokens (active, and they refresh).
func TestCrashUnderLoadLosesNothingAcknowledged(t *testing.T) {
	requirePostgres(t)
	sys := procs.StartSystem(t, dbtest.Postgres)
	env := newEnv(t, sys)
	var led ledger

	ctx, cancel := context.WithTimeout(fixture.ITContext(t), 2*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range kmsWorkers {
		wg.Go(func() { env.kmsWorker(ctx, stop, i, &led) })
	}
	for i := range tokenWorkers {
		wg.Go(func() { env.tokenWorker(ctx, stop, i, &led) })
	}
	for range refreshWorkers {
		wg.Go(func() { env.refreshWorker(ctx, stop, &led) })
	}

	// The kill comes while every worker is mid-request: whatever was in
	// flight is not acknowledged and is not checked.
	select {
	case <-time.After(loadDuration):
	case <-ctx.Done():
		t.Fatalf("load: %v", ctx.Err())
	}
	var kill sync.WaitGroup
	kill.Go(func() { sys.KMS.Kill(t) })
	kill.Go(func() { sys.Identity.Kill(t) })
	kill.Wait()
	close(stop)
	wg.Wait()
	t.Logf("acknowledged before the kill: %s", led.summary())
	if led.empty() {
		t.Fatalf("the load acknowledged nothing of some kind (%s); the check would prove nothing", led.summary())
	}

	sys.Identity.Restart(t)
	sys.KMS.Restart(t)
	env.verify(t, &led)
}

// env holds the clients and demo credentials of the running system.
type env struct {
	sys *procs.System
	// KMS demo tenant 0: its writer and admin users.
	kmsTenant             demofile.Tenant
	kmsWriter, kmsAdmin   demofile.User
	idTenant              demofile.Tenant
	service, admin, rs    demofile.Client // client credentials, identity:admin, introspection
	web                   demofile.Client // authorization code + refresh tokens
	demoUser              demofile.User   // Identity's demo user, for the code flow
	requestSeq            atomic.Int64
	keyCount, realmCount  atomic.Int64
	idUserCount, tokCount atomic.Int64
	chainCount            atomic.Int64
}

func newEnv(t *testing.T, sys *procs.System) *env {
	t.Helper()
	e := &env{sys: sys}
	kt := sys.KMS.Demo(t).Tenants[0]
	it := sys.Identity.Demo(t).Tenants[0]
	e.kmsTenant, e.idTenant = kt, it
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("demo data: %v", err)
		}
	}
	e.kmsWriter, err = kt.User(kmsserver.DemoUsername("writer", kt.Name))
	must(err)
	e.kmsAdmin, err = kt.User(kmsserver.DemoUsername("admin", kt.Name))
	must(err)
	e.demoUser, err = it.User("user")
	must(err)
	e.web, err = it.ClientOfKind(demofile.KindConfidential)
	must(err)
	e.rs, err = it.ClientOfKind(demofile.KindResourceServer)
	must(err)
	for _, c := range it.Clients {
		switch {
		case strings.HasPrefix(c.ClientID, "demo-service"):
			e.service = c
		case strings.HasPrefix(c.ClientID, "demo-admin"):
			e.admin = c
		}
	}
	if e.service.ClientID == "" || e.admin.ClientID == "" {
		t.Fatalf("identity demo tenant %s lacks the demo-service or demo-admin client", it.Name)
	}
	return e
}

// ledger records what was acknowledged: only a 2xx answer puts an entry here.
type ledger struct {
	mu          sync.Mutex
	keys        []uuid.UUID
	versions    []version
	ciphertexts []ciphertext
	realmUsers  []realmUser
	auditIDs    []string // request ids of acknowledged KMS operations
	idUsers     []idUser
	tokens      []string
	chains      []*chain
}

type version struct {
	key, material uuid.UUID
	number        int
}

type ciphertext struct {
	key                        uuid.UUID
	plaintext, aad             []byte
	ciphertext, encryptRequest string
}

type realmUser struct {
	id                 uuid.UUID
	username, password string
}

type idUser struct {
	id, username, password string
}

// chain is one refresh-token family: tail is the last acknowledged refresh
// token. A refresh that failed leaves the chain uncertain (the server may
// have consumed the tail without the answer arriving), so it is not checked.
type chain struct {
	tail      string
	acked     int
	uncertain bool
}

func (l *ledger) add(fn func(l *ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(l)
}

func (l *ledger) certainChains() []*chain {
	var out []*chain
	for _, c := range l.chains {
		if !c.uncertain && c.tail != "" {
			out = append(out, c)
		}
	}
	return out
}

func (l *ledger) refreshTokens() int {
	n := 0
	for _, c := range l.chains {
		n += c.acked
	}
	return n
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d keys, %d new versions, %d ciphertexts, %d KMS audit events, %d KMS realm users, %d Identity users, %d access tokens, %d refresh tokens in %d chains (%d checkable)",
		len(l.keys), len(l.versions), len(l.ciphertexts), len(l.auditIDs), len(l.realmUsers), len(l.idUsers),
		len(l.tokens), l.refreshTokens(), len(l.chains), len(l.certainChains()))
}

func (l *ledger) empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys) == 0 || len(l.versions) == 0 || len(l.ciphertexts) == 0 || len(l.realmUsers) == 0 ||
		len(l.idUsers) == 0 || len(l.tokens) == 0 || len(l.certainChains()) == 0
}

// stopped reports whether the load is over; after a failed request it also
// paces the retry, so a worker facing a dead server does not spin.
func stopped(ctx context.Context, stop <-chan struct{}, failed bool) bool {
	var pause <-chan time.Time
	if failed {
		pause = time.After(20 * time.Millisecond)
	}
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
	}
	if pause == nil {
		return false
	}
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	case <-pause:
		return false
	}
}

// requestID returns a fresh X-Request-Id: the KMS records the caller's in
// the audit event, which ties each acknowledged operation to its event.
func (e *env) requestID() string {
	return fmt.Sprintf("crash-%d-%s", e.requestSeq.Add(1), uuid.NewString()[:8])
}

func withRequestID(id string) api.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set(httpx.RequestIDHeader, id)
		return nil
	}
}

func (e *env) kmsAPI(t testing.TB, u demofile.User) *api.ClientWithResponses {
	c, err := api.NewClientWithResponses(e.sys.KMS.URL, api.WithHTTPClient(e.sys.KMS.Client),
		api.WithRequestEditorFn(fixture.BasicAuth(u.Username, u.Password)))
	if err != nil {
		t.Fatalf("kms api client: %v", err)
	}
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// kmsWorker creates a key, rotates it, encrypts under it twice and now and
// then creates a realm user, recording each acknowledged answer.
func (e *env) kmsWorker(ctx context.Context, stop <-chan struct{}, n int, led *ledger) {
	writer := e.kmsAPIQuiet(e.kmsWriter)
	admin := e.kmsAPIQuiet(e.kmsAdmin)
	failed := false
	for i := 0; !stopped(ctx, stop, failed); i++ {
		failed = true
		if e.keyCount.Load() >= maxKeys {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ok := e.kmsRound(rctx, writer, admin, n, i, led)
		cancel()
		failed = !ok
	}
}

func (e *env) kmsAPIQuiet(u demofile.User) *api.ClientWithResponses {
	c, _ := api.NewClientWithResponses(e.sys.KMS.URL, api.WithHTTPClient(e.sys.KMS.Client),
		api.WithRequestEditorFn(fixture.BasicAuth(u.Username, u.Password)))
	return c
}

func (e *env) kmsRound(ctx context.Context, writer, admin *api.ClientWithResponses, n, i int, led *ledger) bool {
	rid := e.requestID()
	created, err := writer.CreateElasticKeyWithResponse(ctx, api.CreateElasticKeyRequest{
		Name: fmt.Sprintf("crash-%d-%d-%s", n, i, uuid.NewString()[:8]), Algorithm: "A256GCM",
	}, withRequestID(rid))
	if err != nil || created.StatusCode() != http.StatusCreated || created.JSON201 == nil {
		return false
	}
	key := uuid.UUID(created.JSON201.Id)
	e.keyCount.Add(1)
	led.add(func(l *ledger) { l.keys = append(l.keys, key); l.auditIDs = append(l.auditIDs, rid) })

	rid = e.requestID()
	rot, err := writer.RotateElasticKeyWithResponse(ctx, key, withRequestID(rid))
	if err != nil || rot.StatusCode() != http.StatusCreated || rot.JSON201 == nil {
		return false
	}
	v := version{key: key, material: uuid.UUID(rot.JSON201.Id), number: rot.JSON201.Version}
	led.add(func(l *ledger) { l.versions = append(l.versions, v); l.auditIDs = append(l.auditIDs, rid) })

	for range 2 {
		pt, aad := randomBytes(32), randomBytes(8)
		rid = e.requestID()
		enc, err := writer.EncryptWithResponse(ctx, key, api.EncryptRequest{Plaintext: pt, Context: &aad}, withRequestID(rid))
		if err != nil || enc.StatusCode() != http.StatusOK || enc.JSON200 == nil {
			return false
		}
		c := ciphertext{key: key, plaintext: pt, aad: aad, ciphertext: enc.JSON200.Ciphertext, encryptRequest: rid}
		led.add(func(l *ledger) { l.ciphertexts = append(l.ciphertexts, c); l.auditIDs = append(l.auditIDs, rid) })
	}

	if i%3 != 0 || e.realmCount.Load() >= maxRealmUsers {
		return true
	}
	u := realmUser{username: fmt.Sprintf("crash-%s@%s", uuid.NewString()[:13], e.kmsTenant.Name), password: "crash-pw-" + uuid.NewString()}
	rid = e.requestID()
	ru, err := admin.CreateRealmUserWithResponse(ctx, api.CreateRealmUserJSONRequestBody{Username: u.username, Password: u.password, Roles: []string{"reader"}}, withRequestID(rid))
	if err != nil || ru.StatusCode() != http.StatusCreated || ru.JSON201 == nil {
		return false
	}
	u.id = uuid.UUID(ru.JSON201.Id)
	e.realmCount.Add(1)
	led.add(func(l *ledger) { l.realmUsers = append(l.realmUsers, u); l.auditIDs = append(l.auditIDs, rid) })
	return true
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// token posts form to Identity's token endpoint as client (HTTP Basic).
func (e *env) token(ctx context.Context, client demofile.Client, form url.Values) (tokenResponse, error) {
	var out tokenResponse
	status, body, err := e.idCall(ctx, http.MethodPost, "/oauth2/v1/token", form, nil, func(r *http.Request) {
		r.SetBasicAuth(url.QueryEscape(client.ClientID), url.QueryEscape(client.ClientSecret))
	})
	if err != nil {
		return out, err
	}
	if status != http.StatusOK {
		return out, fmt.Errorf("token: %d %.200s", status, body)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("token: %w", err)
	}
	return out, nil
}

// idCall sends one request to Identity: a form or a JSON body.
func (e *env) idCall(ctx context.Context, method, path string, form url.Values, jsonBody any, edit func(*http.Request)) (int, []byte, error) {
	var body io.Reader
	ctype := ""
	switch {
	case form != nil:
		body, ctype = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case jsonBody != nil:
		raw, err := json.Marshal(jsonBody)
		if err != nil {
			return 0, nil, err
		}
		body, ctype = bytes.NewReader(raw), "application/json"
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, e.sys.Identity.URL+path, body)
	if err != nil {
		return 0, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := e.sys.Identity.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw, err
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// tokenWorker gets client-credentials tokens and now and then creates an
// Identity user through the admin API.
func (e *env) tokenWorker(ctx context.Context, stop <-chan struct{}, n int, led *ledger) {
	adminToken := ""
	failed := false
	for i := 0; !stopped(ctx, stop, failed); i++ {
		failed = true
		if e.tokCount.Load() < maxTokens {
			tok, err := e.token(ctx, e.service, url.Values{"grant_type": {"client_credentials"}})
			if err != nil {
				continue
			}
			e.tokCount.Add(1)
			led.add(func(l *ledger) { l.tokens = append(l.tokens, tok.AccessToken) })
		}
		if i%3 != n%3 || e.idUserCount.Load() >= maxIDUsers {
			failed = false
			continue
		}
		if adminToken == "" {
			tok, err := e.token(ctx, e.admin, url.Values{"grant_type": {"client_credentials"}, "scope": {"identity:admin"}})
			if err != nil {
				continue
			}
			adminToken = tok.AccessToken
		}
		u := idUser{username: "crash-" + uuid.NewString()[:13], password: "crash-pw-" + uuid.NewString()}
		status, body, err := e.idCall(ctx, http.MethodPost, "/api/v1/admin/users", nil,
			map[string]any{"username": u.username, "password": u.password, "roles": []string{"user"}}, bearer(adminToken))
		if err != nil || status != http.StatusCreated {
			continue
		}
		var created struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &created) != nil || created.ID == "" {
			continue
		}
		u.id = created.ID
		e.idUserCount.Add(1)
		led.add(func(l *ledger) { l.idUsers = append(l.idUsers, u) })
		failed = false
	}
}

// webConfig is the demo web client's code flow.
func (e *env) webConfig() *oauth2.Config {
	iss := e.sys.Identity.Issuer()
	return &oauth2.Config{ClientID: e.web.ClientID, ClientSecret: e.web.ClientSecret, RedirectURL: e.web.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{AuthURL: iss + "/oauth2/v1/authorize", TokenURL: iss + "/oauth2/v1/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid"}}
}

// signIn runs the code flow as username through the real login pages.
func (e *env) signIn(ctx context.Context, username, password string) (*oauth2.Token, error) {
	cfg := e.webConfig()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, e.sys.Identity.Client)
	verifier := oauth2.GenerateVerifier()
	loc, err := fixture.IdentityLogin(ctx, e.sys.Identity.Client, e.sys.Identity.Issuer(), cfg.AuthCodeURL("crash", oauth2.S256ChallengeOption(verifier)), username, password)
	if err != nil {
		return nil, err
	}
	code := loc.Query().Get("code")
	if code == "" {
		return nil, fmt.Errorf("sign in %s: no code in %s", username, loc)
	}
	return cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
}

// refreshWorker signs the demo user in and rotates the refresh token a few
// times, then starts another chain.
func (e *env) refreshWorker(ctx context.Context, stop <-chan struct{}, led *ledger) {
	var c *chain
	failed := false
	for !stopped(ctx, stop, failed) {
		failed = true
		if c == nil {
			if e.chainCount.Load() >= maxChains {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			tok, err := e.signIn(rctx, e.demoUser.Username, e.demoUser.Password)
			cancel()
			if err != nil || tok.RefreshToken == "" {
				continue
			}
			e.chainCount.Add(1)
			c = &chain{tail: tok.RefreshToken, acked: 1}
			led.add(func(l *ledger) { l.chains = append(l.chains, c) })
			failed = false
			continue
		}
		tok, err := e.token(ctx, e.web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.tail}})
		led.add(func(*ledger) {
			if err != nil || tok.RefreshToken == "" {
				c.uncertain = true
				return
			}
			c.tail = tok.RefreshToken
			c.acked++
		})
		if err != nil {
			c = nil
			continue
		}
		failed = false
		if c.acked > refreshPerLoop {
			c = nil
		}
	}
}

// verify checks everything the ledger holds against the restarted system.
func (e *env) verify(t *testing.T, led *ledger) {
	t.Helper()
	ctx := fixture.ITContext(t)
	// The demo credentials survive the restart (demo.json is kept); read
	// them again anyway, as a client of the restarted system would.
	e.kmsTenant = e.sys.KMS.Demo(t).Tenants[0]
	writer, admin := e.kmsAPI(t, e.kmsWriter), e.kmsAPI(t, e.kmsAdmin)
	var errs errList

	parallel(led.keys, func(key uuid.UUID) {
		r, err := writer.GetElasticKeyWithResponse(ctx, key)
		if err != nil || r.StatusCode() != http.StatusOK {
			errs.add("key %s: %s", key, answer(err, func() (int, []byte) { return r.StatusCode(), r.Body }))
		}
	})
	parallel(led.versions, func(v version) {
		r, err := writer.GetMaterialKeyWithResponse(ctx, v.key, v.material)
		switch {
		case err != nil || r.StatusCode() != http.StatusOK || r.JSON200 == nil:
			errs.add("key %s version %d (%s): %s", v.key, v.number, v.material, answer(err, func() (int, []byte) { return r.StatusCode(), r.Body }))
		case r.JSON200.Version != v.number:
			errs.add("key %s material %s: version %d, acknowledged as %d", v.key, v.material, r.JSON200.Version, v.number)
		}
	})
	parallel(led.ciphertexts, func(c ciphertext) {
		r, err := writer.DecryptWithResponse(ctx, c.key, api.DecryptRequest{Ciphertext: c.ciphertext, Context: &c.aad})
		switch {
		case err != nil || r.StatusCode() != http.StatusOK || r.JSON200 == nil:
			errs.add("ciphertext of request %s under key %s: %s", c.encryptRequest, c.key, answer(err, func() (int, []byte) { return r.StatusCode(), r.Body }))
		case !bytes.Equal(r.JSON200.Plaintext, c.plaintext):
			errs.add("ciphertext of request %s under key %s decrypts to other bytes", c.encryptRequest, c.key)
		}
	})
	parallel(led.realmUsers, func(u realmUser) {
		r, err := admin.GetRealmUserWithResponse(ctx, u.id)
		if err != nil || r.StatusCode() != http.StatusOK {
			errs.add("realm user %s (%s): %s", u.username, u.id, answer(err, func() (int, []byte) { return r.StatusCode(), r.Body }))
			return
		}
		l, err := e.kmsAPIQuiet(demofile.User{Username: u.username, Password: u.password}).ListElasticKeysWithResponse(ctx, &api.ListElasticKeysParams{PageSize: ptr(1)})
		if err != nil || l.StatusCode() != http.StatusOK {
			errs.add("realm user %s cannot authenticate: %s", u.username, answer(err, func() (int, []byte) { return l.StatusCode(), l.Body }))
		}
	})
	e.verifyAudit(ctx, admin, led, &errs)

	adminTok, err := e.token(ctx, e.admin, url.Values{"grant_type": {"client_credentials"}, "scope": {"identity:admin"}})
	if err != nil {
		t.Fatalf("identity admin token after the restart: %v", err)
	}
	parallel(led.idUsers, func(u idUser) {
		status, raw, err := e.idCall(ctx, http.MethodGet, "/api/v1/admin/users/"+u.id, nil, nil, bearer(adminTok.AccessToken))
		if err != nil || status != http.StatusOK {
			errs.add("identity user %s (%s): %s", u.username, u.id, answer(err, func() (int, []byte) { return status, raw }))
			return
		}
		if _, err := e.signIn(ctx, u.username, u.password); err != nil {
			errs.add("identity user %s cannot sign in: %v", u.username, err)
		}
	})
	parallel(led.tokens, func(tok string) {
		if err := e.active(ctx, tok); err != nil {
			errs.add("access token: %v", err)
		}
	})
	parallel(led.certainChains(), func(c *chain) {
		if err := e.active(ctx, c.tail); err != nil {
			errs.add("refresh token (chain of %d): %v", c.acked, err)
			return
		}
		if _, err := e.token(ctx, e.web, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.tail}}); err != nil {
			errs.add("refresh token (chain of %d) does not refresh: %v", c.acked, err)
		}
	})
	errs.report(t)
}

// verifyAudit reads the tenant's whole audit log and looks for a successful
// event carrying the request id of every acknowledged operation.
func (e *env) verifyAudit(ctx context.Context, admin *api.ClientWithResponses, led *ledger, errs *errList) {
	seen := map[string]bool{}
	params := &api.ListAuditEventsParams{PageSize: ptr(200)}
	for page := 0; page < 500; page++ {
		r, err := admin.ListAuditEventsWithResponse(ctx, params)
		if err != nil || r.StatusCode() != http.StatusOK || r.JSON200 == nil {
			errs.add("list audit events: %s", answer(err, func() (int, []byte) { return r.StatusCode(), r.Body }))
			return
		}
		for _, ev := range r.JSON200.Items {
			if ev.RequestId != nil && ev.Outcome == "success" {
				seen[*ev.RequestId] = true
			}
		}
		if r.JSON200.NextPageToken == "" {
			break
		}
		tok := r.JSON200.NextPageToken
		params = &api.ListAuditEventsParams{PageSize: ptr(200), PageToken: &tok}
	}
	for _, id := range led.auditIDs {
		if !seen[id] {
			errs.add("no audit event for the acknowledged request %s", id)
		}
	}
}

// active introspects tok as the demo resource server and wants it active.
func (e *env) active(ctx context.Context, tok string) error {
	status, raw, err := e.idCall(ctx, http.MethodPost, "/oauth2/v1/introspect", url.Values{"token": {tok}}, nil, func(r *http.Request) {
		r.SetBasicAuth(url.QueryEscape(e.rs.ClientID), url.QueryEscape(e.rs.ClientSecret))
	})
	if err != nil {
		return err
	}
	var out struct {
		Active bool `json:"active"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		return fmt.Errorf("introspect: %d %.200s", status, raw)
	}
	if !out.Active {
		return errors.New("introspection says inactive")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// answer describes a failed call for a message: the transport error, or
// the status and the start of the body.
func answer(err error, resp func() (int, []byte)) string {
	if err != nil {
		return err.Error()
	}
	status, body := resp()
	return fmt.Sprintf("%d %.200s", status, body)
}

// parallel runs fn over items on a few goroutines.
func parallel[T any](items []T, fn func(T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range verifyWorkers {
		wg.Go(func() {
			for it := range ch {
				fn(it)
			}
		})
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
}

// errList collects failures from the verification goroutines and reports a
// bounded number of them.
type errList struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errList) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, fmt.Sprintf(format, args...))
}

func (l *errList) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	const shown = 30
	for i, m := range l.msgs {
		if i == shown {
			t.Errorf("... and %d more", len(l.msgs)-shown)
			break
		}
		t.Errorf("lost after the crash: %s", m)
	}
}
