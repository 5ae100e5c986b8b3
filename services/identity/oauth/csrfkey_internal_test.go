package oauth

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/store"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/barrier"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/infra/password"
	"github.com/passthru-dev/passthru/testkit/dbtest"
)

// openTwice opens one fresh database through two handles, as two replicas
// of the service on it would.
func openTwice(t *testing.T, b dbtest.Backend) (*db.DB, *db.DB) {
	t.Helper()
	opts := dbtest.Options(t, b)
	var out [2]*db.DB
	for i := range out {
		d, err := db.Open(t.Context(), opts)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, d.Close()) })
		out[i] = d
	}
	return out[0], out[1]
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// TestLoginFormAcrossReplicas renders a login form on one replica and posts
// it to another on the same database, as a load balancer may: the CSRF
// token one signed must be accepted by the other.
func TestLoginFormAcrossReplicas(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		d1, d2 := openTwice(t, b)
		one, _ := newServer(t, d1, clock)
		two, _ := newServer(t, d2, clock)
		assert.Equal(t, one.csrfKey, two.csrfKey, "the replicas share the CSRF key")

		st := storeOf(one)
		tenant := ids.NewTenant()
		require.NoError(t, st.CreateTenant(ctx, tenant, "t", false))
		hash, err := password.Hasher{Iterations: 1000}.Hash("pw-pw-pw-pw-pw")
		require.NoError(t, err)
		require.NoError(t, st.CreateUser(ctx, tenant, &identity.User{ID: ids.NewEntity(), Username: "user", PasswordHash: hash}))
		client := &identity.Client{ClientID: "web-" + uuid.NewString()[:8], Name: "web", Kind: identity.KindPublic,
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, Audiences: []string{"identity"}, RedirectURIs: []string{"https://app.test/cb"}}
		require.NoError(t, st.CreateClient(ctx, tenant, client))
		handle := newOpaque()
		require.NoError(t, st.SaveAuthRequest(ctx, &identity.AuthRequest{
			IDHash: hashOpaque(handle), TenantID: tenant, ClientID: client.ClientID, RedirectURI: "https://app.test/cb",
			Scope: "openid", CodeChallenge: strings.Repeat("c", 43), Audience: SelfAudience, ExpiresAt: now.Add(time.Minute),
		}))

		mux := func(s *Server) *http.ServeMux {
			m := http.NewServeMux()
			s.Register(m)
			return m
		}
		page := httptest.NewRecorder()
		mux(one).ServeHTTP(page, httptest.NewRequest(http.MethodGet, PathLogin+"?request="+url.QueryEscape(handle), nil))
		require.Equal(t, http.StatusOK, page.Code, page.Body.String())
		m := csrfField.FindStringSubmatch(page.Body.String())
		require.NotNil(t, m, "the login form carries a CSRF token")
		cookies := page.Result().Cookies()
		require.NotEmpty(t, cookies, "the login page sets the CSRF cookie")

		for _, tc := range []struct {
			desc   string
			token  string
			status int
		}{
			{desc: "a forged token is refused", token: strings.Repeat("A", 43), status: http.StatusForbidden},
			{desc: "the other replica's token is accepted", token: html.UnescapeString(m[1]), status: http.StatusSeeOther},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				form := url.Values{"request": {handle}, "csrf_token": {tc.token}, "username": {"user"}, "password": {"pw-pw-pw-pw-pw"}}
				req := httptest.NewRequest(http.MethodPost, PathLogin, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for _, c := range cookies {
					req.AddCookie(c)
				}
				w := httptest.NewRecorder()
				mux(two).ServeHTTP(w, req)
				assert.Equal(t, tc.status, w.Code, w.Body.String())
			})
		}
	})
}

// TestLoadCSRFKey: replicas starting together agree on one key, which is
// stored only wrapped; a barrier that cannot unwrap it is an error, never a
// silently different key.
func TestLoadCSRFKey(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, b dbtest.Backend) {
		ctx := t.Context()
		d1, d2 := openTwice(t, b)
		type replica struct {
			st  *store.Store
			bar *barrier.Barrier
		}
		var replicas []replica
		for _, d := range []*db.DB{d1, d2} {
			st, err := store.New(ctx, d)
			require.NoError(t, err)
			bar, err := barrier.Open(ctx, d.Gorm(), testUnseal)
			require.NoError(t, err)
			replicas = append(replicas, replica{st, bar})
		}
		const starts = 6
		keys := make([][]byte, starts)
		errs := make([]error, starts)
		var wg sync.WaitGroup
		for i := range starts {
			wg.Go(func() {
				r := replicas[i%len(replicas)]
				keys[i], errs[i] = LoadCSRFKey(ctx, r.st, r.bar)
			})
		}
		wg.Wait()
		for i := range starts {
			require.NoError(t, errs[i])
			assert.Len(t, keys[i], csrfKeySize)
			assert.Equal(t, keys[0], keys[i], "start %d got another key", i)
		}

		stored, err := replicas[0].st.StoreSecretOnce(ctx, csrfKeyName, []byte("ignored"))
		require.NoError(t, err)
		assert.False(t, bytes.Contains(stored, keys[0]), "the key is stored wrapped, not in the clear")

		_, err = LoadCSRFKey(ctx, replicas[0].st, otherBarrier{replicas[0].bar})
		assert.ErrorIs(t, err, barrier.ErrUnwrap)
	})
}

// otherBarrier unwraps under another tenant than the one wrapping used, so
// it cannot open what the real barrier stored.
type otherBarrier struct{ *barrier.Barrier }

func (o otherBarrier) Unwrap(ctx context.Context, _ uuid.UUID, purpose string, wrapped []byte) ([]byte, error) {
	return o.Barrier.Unwrap(ctx, uuid.New(), purpose, wrapped)
}

func TestNewRefusesAShortCSRFKey(t *testing.T) {
	for _, tc := range []struct {
		desc string
		key  []byte
	}{
		{desc: "no key"},
		{desc: "a key one byte short", key: randomBytes(csrfKeySize - 1)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(Config{Issuer: testIssuer, Store: &store.Store{}, Tokens: &tokens.Issuer{}, CSRFKey: tc.key})
			assert.ErrorContains(t, err, "CSRF key")
		})
	}
}
