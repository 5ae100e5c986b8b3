package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/identity/tokens"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/infra/password"
)

// Cookie names. The __Host- prefix makes browsers insist on Secure, Path=/
// and no Domain, so no other host can plant or read them.
const (
	sessionCookie = "__Host-passthru-session"
	csrfCookie    = "__Host-passthru-csrf"
)

// maxEchoParam bounds state and nonce, which are stored and echoed back.
const maxEchoParam = 2048

// maxAgeCap keeps max_age * time.Second from overflowing; a century is "any
// sign-in counts".
const maxAgeCap = 100 * 365 * 24 * 3600

// pkceChallenge is a base64url SHA-256 (RFC 7636 §4.2): 43 characters.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// pkceVerifier is RFC 7636 §4.1: 43-128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authorize validates an authorization request (RFC 6749 §4.1.1 with the
// OAuth 2.1 rules) and sends the browser on to login or consent.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "Invalid request", "The authorization request could not be read.")
		return
	}
	q := r.Form
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "resource", "prompt", "max_age"} {
		if len(q[k]) > 1 {
			s.errorPage(w, http.StatusBadRequest, "Invalid request", "The parameter "+k+" was given more than once.")
			return
		}
	}
	ctx := r.Context()
	client, err := s.cfg.Store.Client(ctx, q.Get("client_id"))
	if err != nil || client.Disabled {
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			s.failPage(ctx, w, "authorize: load client", err)
			return
		}
		s.errorPage(w, http.StatusBadRequest, "Unknown client", "The application that sent you here is not registered.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !redirectAllowed(client, redirectURI) {
		s.errorPage(w, http.StatusBadRequest, "Invalid redirect URI", "The application sent you here with a redirect address that is not registered for it.")
		return
	}
	// From here on the redirect URI is trusted: errors go back to the client.
	state := q.Get("state")
	fail := func(code, desc string) {
		s.redirectError(w, r, redirectURI, state, code, desc)
	}
	if q.Get("request") != "" {
		fail("request_not_supported", "request objects are not supported")
		return
	}
	if q.Get("request_uri") != "" {
		fail("request_uri_not_supported", "request_uri is not supported")
		return
	}
	// state and nonce are stored with the request: longer values would fail
	// in the database as a server error instead of a clear refusal.
	if len(state) > maxEchoParam {
		s.redirectError(w, r, redirectURI, "", "invalid_request", "state is limited to 2048 bytes")
		return
	}
	if len(q.Get("nonce")) > maxEchoParam {
		fail("invalid_request", "nonce is limited to 2048 bytes")
		return
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		// Discovery advertises query only; answering in another mode than
		// the client asked for would hand the code to a page not expecting it.
		fail("invalid_request", "only response_mode=query is supported")
		return
	}
	if !client.AllowsGrant(GrantAuthorizationCode) {
		fail("unauthorized_client", "the client may not use the authorization code grant")
		return
	}
	challenge := q.Get("code_challenge")
	if challenge == "" {
		fail("invalid_request", "code_challenge is required (PKCE)")
		return
	}
	if q.Get("code_challenge_method") != "S256" {
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	if !pkceChallenge.MatchString(challenge) {
		fail("invalid_request", "code_challenge is malformed")
		return
	}
	scopes := parseScope(q.Get("scope"))
	if len(scopes) == 0 {
		fail("invalid_scope", "scope is required")
		return
	}
	if bad, ok := subset(scopes, client.Scopes); !ok {
		fail("invalid_scope", "scope "+bad+" is not allowed for this client")
		return
	}
	audience, oerr := resolveAudience(client, q.Get("resource"))
	if oerr != nil {
		fail(oerr.Code, oerr.Description)
		return
	}
	prompt := q.Get("prompt")
	if prompt != "" && prompt != "none" && prompt != "login" && prompt != "consent" {
		fail("invalid_request", "unsupported prompt value")
		return
	}
	sess := s.session(r, client.TenantID)
	// max_age (OIDC Core §3.1.2.1): a sign-in older than this many seconds
	// does not count; the user authenticates again.
	forceLogin := prompt == "login"
	if v := q.Get("max_age"); v != "" {
		maxAge, err := strconv.ParseInt(v, 10, 64)
		if err != nil || maxAge < 0 {
			fail("invalid_request", "max_age must be a non-negative number of seconds")
			return
		}
		if sess != nil && s.cfg.Now().Sub(sess.AuthTime) > time.Duration(min(maxAge, maxAgeCap))*time.Second {
			if prompt == "none" {
				fail("login_required", "the sign-in is older than max_age")
				return
			}
			forceLogin = true
		}
	}
	handle := newOpaque()
	req := &identity.AuthRequest{
		IDHash: hashOpaque(handle), TenantID: client.TenantID, ClientID: client.ClientID,
		RedirectURI: redirectURI, Scope: strings.Join(scopes, " "), State: state, Nonce: q.Get("nonce"),
		CodeChallenge: challenge, Audience: audience, PromptLogin: forceLogin,
		ExpiresAt: s.cfg.Now().Add(s.cfg.RequestTTL).UTC(),
	}
	if err := s.cfg.Store.SaveAuthRequest(ctx, req); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "authorize: save request", "error", err)
		fail(redirectFailure(err))
		return
	}
	switch {
	case prompt == "none" && sess == nil:
		s.finishError(w, r, req, handle, "login_required", "the user is not signed in")
	case sess == nil || req.PromptLogin:
		http.Redirect(w, r, PathLogin+"?request="+url.QueryEscape(handle), http.StatusSeeOther)
	case prompt == "none":
		ok, err := s.cfg.Store.HasConsent(ctx, req.TenantID, sess.UserID, req.ClientID, scopeKey(strings.Fields(req.Scope)))
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "authorize: check consent", "error", err)
			code, desc := redirectFailure(err)
			s.finishError(w, r, req, handle, code, desc)
			return
		}
		if !ok {
			s.finishError(w, r, req, handle, "consent_required", "the user has not approved this client")
			return
		}
		s.finish(w, r, req, handle, sess)
	default:
		if prompt == "consent" {
			http.Redirect(w, r, PathConsent+"?request="+url.QueryEscape(handle)+"&prompt=consent", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, PathConsent+"?request="+url.QueryEscape(handle), http.StatusSeeOther)
	}
}

// resolveAudience applies RFC 8707: the requested resource if the client may
// use it, the client's default audience when none was requested.
func resolveAudience(client *identity.Client, resource string) (string, *Error) {
	if resource == "" {
		if d := client.DefaultAudience(); d != "" {
			return d, nil
		}
		return "", badRequest("invalid_target", "the client has no audience")
	}
	if !client.AllowsAudience(resource) {
		return "", badRequest("invalid_target", "resource "+resource+" is not allowed for this client")
	}
	return resource, nil
}

// redirectAllowed is exact string matching against the registered URIs,
// except that a public (native) client's loopback IP redirect may use any
// port (RFC 8252 §7.3).
func redirectAllowed(c *identity.Client, uri string) bool {
	if uri == "" {
		return false
	}
	for _, reg := range c.RedirectURIs {
		if uri == reg {
			return true
		}
		if c.Public() && loopbackMatch(reg, uri) {
			return true
		}
	}
	return false
}

// loopbackMatch reports whether uri is the loopback IP redirect URI
// registered with another port. Like every redirect URI it is compared as
// text, only the port aside: a scheme in other case, a user, an empty query
// or fragment, an encoded character is another URI, refused even where a
// parser would read it as the same one.
func loopbackMatch(registered, uri string) bool {
	regHost, regRest, ok := splitLoopback(registered)
	if !ok {
		return false
	}
	host, rest, ok := splitLoopback(uri)
	return ok && host == regHost && rest == regRest
}

// splitLoopback splits an http URI whose host is a loopback IP literal into
// that host (without its port) and what follows the authority; ok is false
// for any other URI, one with a fragment, or one whose port is not a port
// number.
func splitLoopback(uri string) (host, rest string, ok bool) {
	after, ok := strings.CutPrefix(uri, "http://")
	if !ok {
		return "", "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	host, rest = after[:end], after[end:]
	if i := strings.LastIndexByte(host, ':'); i > strings.LastIndexByte(host, ']') {
		if _, err := strconv.ParseUint(host[i+1:], 10, 16); err != nil {
			return "", "", false
		}
		host = host[:i]
	}
	literal, bracketed := strings.CutPrefix(host, "[")
	if bracketed {
		if literal, bracketed = strings.CutSuffix(literal, "]"); !bracketed {
			return "", "", false
		}
	}
	ip, err := netip.ParseAddr(literal)
	if err != nil || !ip.IsLoopback() || ip.Zone() != "" || ip.Is6() != bracketed || strings.Contains(rest, "#") {
		return "", "", false
	}
	return host, rest, true
}

// redirectWith appends params to uri, keeping its existing query as it is.
func redirectWith(uri string, params url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	if u.RawQuery == "" {
		u.RawQuery = params.Encode()
	} else {
		u.RawQuery += "&" + params.Encode()
	}
	return u.String()
}

// redirectError sends an authorization error back to the client (RFC 6749
// §4.1.2.1) with iss (RFC 9207).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}, "iss": {s.cfg.Issuer}}
	if state != "" {
		v.Set("state", state)
	}
	s.cfg.Logger.InfoContext(r.Context(), "authorization refused", "error", code, "description", desc)
	http.Redirect(w, r, redirectWith(redirectURI, v), http.StatusSeeOther)
}

// finishError ends a pending request with an error redirect.
func (s *Server) finishError(w http.ResponseWriter, r *http.Request, req *identity.AuthRequest, handle, code, desc string) {
	if _, err := s.cfg.Store.DeleteAuthRequest(r.Context(), hashOpaque(handle)); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "delete authorization request", "error", err)
	}
	s.redirectError(w, r, req.RedirectURI, req.State, code, desc)
}

// finish issues the code for an approved request and redirects to the client.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, req *identity.AuthRequest, handle string, sess *identity.Session) {
	ctx := r.Context()
	deleted, err := s.cfg.Store.DeleteAuthRequest(ctx, hashOpaque(handle))
	if err != nil {
		s.failPage(ctx, w, "finish authorization", err)
		return
	}
	if !deleted {
		s.errorPage(w, http.StatusBadRequest, "Request already completed", "This sign-in request was already completed. Start again from the application.")
		return
	}
	code := newOpaque()
	now := s.cfg.Now().UTC()
	err = s.cfg.Store.SaveCode(ctx, req.TenantID, &identity.AuthCode{
		IDHash: hashOpaque(code), ClientID: req.ClientID, UserID: sess.UserID, RedirectURI: req.RedirectURI,
		Scope: req.Scope, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, Audience: req.Audience,
		AuthTime: sess.AuthTime, ExpiresAt: now.Add(s.cfg.CodeTTL),
	})
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "save code", "error", err)
		code, desc := redirectFailure(err)
		s.redirectError(w, r, req.RedirectURI, req.State, code, desc)
		return
	}
	v := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if req.State != "" {
		v.Set("state", req.State)
	}
	http.Redirect(w, r, redirectWith(req.RedirectURI, v), http.StatusSeeOther)
}

// redirectFailure is the error an authorization response carries back to
// the client when the server failed: temporarily_unavailable when the
// database cannot serve (RFC 6749 §4.1.2.1: the client may retry),
// server_error otherwise.
func redirectFailure(err error) (code, description string) {
	if ue, ok := db.Unavailable(err); ok {
		return "temporarily_unavailable", "the server cannot serve requests right now (" + ue.Reason + "): retry later"
	}
	return "server_error", "internal error"
}

// pendingRequest loads a live authorization request named by a handle.
func (s *Server) pendingRequest(ctx context.Context, handle string) (*identity.AuthRequest, error) {
	if handle == "" {
		return nil, identity.ErrNotFound
	}
	req, err := s.cfg.Store.AuthRequest(ctx, hashOpaque(handle))
	if err != nil {
		return nil, err
	}
	if !s.cfg.Now().Before(req.ExpiresAt) {
		return nil, identity.ErrNotFound
	}
	return req, nil
}

func (s *Server) requestGone(ctx context.Context, w http.ResponseWriter, err error) {
	if errors.Is(err, identity.ErrNotFound) {
		s.errorPage(w, http.StatusBadRequest, "Sign-in request expired", "This sign-in request is unknown or has expired. Start again from the application.")
		return
	}
	s.failPage(ctx, w, "load authorization request", err)
}

// ---- sessions and CSRF ----

// session returns the caller's live login session for tenant, or nil.
func (s *Server) session(r *http.Request, tenant uuid.UUID) *identity.Session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	sess, err := s.cfg.Store.Session(r.Context(), hashOpaque(c.Value))
	if err != nil || sess.TenantID != tenant || !s.cfg.Now().Before(sess.ExpiresAt) {
		return nil
	}
	return sess
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// csrfToken returns the form token for this browser, setting the CSRF cookie
// when it has none (signed double-submit cookie: the form carries an HMAC of
// the cookie value, which another site can neither read nor forge).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 43 {
		return s.mac("csrf", c.Value)
	}
	v := newOpaque()
	s.setCookie(w, csrfCookie, v, 0)
	return s.mac("csrf", v)
}

func (s *Server) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 43 {
		return false
	}
	got := r.PostForm.Get("csrf_token")
	want := s.mac("csrf", c.Value)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// submittedRequest reads a login or consent form and the pending request it
// names, refusing a form without this browser's CSRF token. When it returns
// false the answer has been written.
func (s *Server) submittedRequest(w http.ResponseWriter, r *http.Request) (*identity.AuthRequest, string, bool) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return nil, "", false
	}
	handle := r.PostForm.Get("request")
	req, err := s.pendingRequest(r.Context(), handle)
	if err != nil {
		s.requestGone(r.Context(), w, err)
		return nil, "", false
	}
	if !s.csrfValid(r) {
		s.errorPage(w, http.StatusForbidden, "Invalid form", "The form expired or did not come from this site. Go back and try again.")
		return nil, "", false
	}
	return req, handle, true
}

// ---- login ----

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	handle := r.URL.Query().Get("request")
	req, err := s.pendingRequest(r.Context(), handle)
	if err != nil {
		s.requestGone(r.Context(), w, err)
		return
	}
	s.renderLogin(w, r, req, handle, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, req *identity.AuthRequest, handle string, status int, username, msg string) {
	name := req.ClientID
	if c, err := s.cfg.Store.TenantClient(r.Context(), req.TenantID, req.ClientID); err == nil {
		name = c.Name
	}
	s.pages.render(w, status, "login", pageData{
		Title: "Sign in", Action: PathLogin, Request: handle, CSRF: s.csrfToken(w, r),
		ClientName: name, Username: username, Message: msg,
	})
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	req, handle, ok := s.submittedRequest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	user, err := s.cfg.Store.UserByUsername(ctx, req.TenantID, username)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		s.failPage(ctx, w, "login: look up user", err)
		return
	}
	// An unknown or disabled user is checked against no hash: it costs what
	// a wrong password costs, and counts towards the same lockout.
	stored := ""
	if err == nil && !user.Disabled {
		stored = user.PasswordHash
	}
	acct := credential.Account{Realm: "users/" + req.TenantID.String(), Name: username}
	if err := s.creds.Verify(ctx, acct, stored, pw); err != nil {
		var retry *credential.RetryError
		switch {
		case errors.Is(err, credential.ErrMismatch):
			if errors.Is(err, password.ErrMalformed) {
				s.cfg.Logger.ErrorContext(ctx, "login: unusable stored password hash", "error", err)
			}
			s.renderLogin(w, r, req, handle, http.StatusUnauthorized, username, "Wrong username or password.")
		case errors.As(err, &retry) && errors.Is(err, credential.ErrLocked):
			httpx.SetRetryAfter(w.Header(), retry.After)
			s.renderLogin(w, r, req, handle, http.StatusTooManyRequests, username, "Too many failed sign-in attempts. Wait a while and try again.")
		case errors.As(err, &retry):
			httpx.SetRetryAfter(w.Header(), retry.After)
			s.renderLogin(w, r, req, handle, http.StatusServiceUnavailable, username, "The service is busy. Try again in a moment.")
		default:
			s.failPage(ctx, w, "login", err)
		}
		return
	}
	value := newOpaque()
	now := s.cfg.Now().UTC()
	sess := &identity.Session{
		IDHash: hashOpaque(value), TenantID: req.TenantID, UserID: user.ID,
		AuthTime: now.Truncate(time.Second), ExpiresAt: now.Add(s.cfg.SessionTTL),
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = s.cfg.Store.DeleteSession(ctx, hashOpaque(old.Value)) // a fresh session id on login
	}
	if err := s.cfg.Store.SaveSession(ctx, sess); err != nil {
		s.failPage(ctx, w, "save session", err)
		return
	}
	s.setCookie(w, sessionCookie, value, int(s.cfg.SessionTTL.Seconds()))
	http.Redirect(w, r, PathConsent+"?request="+url.QueryEscape(handle), http.StatusSeeOther)
}

// ---- consent ----

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	handle := r.URL.Query().Get("request")
	req, err := s.pendingRequest(ctx, handle)
	if err != nil {
		s.requestGone(r.Context(), w, err)
		return
	}
	sess := s.session(r, req.TenantID)
	if sess == nil {
		http.Redirect(w, r, PathLogin+"?request="+url.QueryEscape(handle), http.StatusSeeOther)
		return
	}
	scopes := strings.Fields(req.Scope)
	if r.URL.Query().Get("prompt") != "consent" {
		ok, err := s.cfg.Store.HasConsent(ctx, req.TenantID, sess.UserID, req.ClientID, scopeKey(scopes))
		if err != nil {
			s.failPage(ctx, w, "check consent", err)
			return
		}
		if ok {
			s.finish(w, r, req, handle, sess)
			return
		}
	}
	s.renderConsent(w, r, req, handle, sess)
}

func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, req *identity.AuthRequest, handle string, sess *identity.Session) {
	ctx := r.Context()
	name, username := req.ClientID, ""
	if c, err := s.cfg.Store.TenantClient(ctx, req.TenantID, req.ClientID); err == nil {
		name = c.Name
	}
	if u, err := s.cfg.Store.User(ctx, req.TenantID, sess.UserID); err == nil {
		username = u.Username
	}
	s.pages.render(w, http.StatusOK, "consent", pageData{
		Title: "Allow access", Action: PathConsent, Request: handle, CSRF: s.csrfToken(w, r),
		ClientName: name, Username: username, Scopes: describeScopes(strings.Fields(req.Scope)),
	})
}

func (s *Server) consentSubmit(w http.ResponseWriter, r *http.Request) {
	req, handle, ok := s.submittedRequest(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sess := s.session(r, req.TenantID)
	if sess == nil {
		http.Redirect(w, r, PathLogin+"?request="+url.QueryEscape(handle), http.StatusSeeOther)
		return
	}
	switch r.PostForm.Get("decision") {
	case "allow":
		err := s.cfg.Store.SaveConsent(ctx, req.TenantID, &identity.Consent{
			UserID: sess.UserID, ClientID: req.ClientID, ScopeKey: scopeKey(strings.Fields(req.Scope)),
		})
		if err != nil {
			s.failPage(ctx, w, "save consent", err)
			return
		}
		s.finish(w, r, req, handle, sess)
	case "deny":
		s.finishError(w, r, req, handle, "access_denied", "the user denied the request")
	default:
		s.errorPage(w, http.StatusBadRequest, "Invalid request", "Choose Allow or Deny.")
	}
}

// ---- logout (OpenID Connect RP-Initiated Logout 1.0) ----

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "Invalid request", "The logout request could not be read.")
		return
	}
	ctx := r.Context()
	hint := r.Form.Get("id_token_hint")
	clientID := r.Form.Get("client_id")
	postLogout := r.Form.Get("post_logout_redirect_uri")
	state := r.Form.Get("state")
	hinted := false
	if hint != "" {
		claims, err := s.cfg.Tokens.ParseID(ctx, hint)
		if err != nil || len(claims.Audience) != 1 {
			s.errorPage(w, http.StatusBadRequest, "Invalid logout request", "The ID token hint is not valid.")
			return
		}
		if clientID != "" && clientID != claims.Audience[0] {
			s.errorPage(w, http.StatusBadRequest, "Invalid logout request", "client_id does not match the ID token hint.")
			return
		}
		clientID = claims.Audience[0]
		// The hint only stands in for the user's confirmation when it names
		// the signed-in user: anyone's ID token must not let another site
		// sign this browser's user out with a link.
		hinted = s.sessionMatchesHint(r, claims)
	}
	if postLogout != "" {
		if clientID == "" {
			s.errorPage(w, http.StatusBadRequest, "Invalid logout request", "A post-logout redirect needs id_token_hint or client_id.")
			return
		}
		c, err := s.cfg.Store.Client(ctx, clientID)
		if err != nil || !slices.Contains(c.PostLogoutRedirectURIs, postLogout) {
			s.errorPage(w, http.StatusBadRequest, "Invalid logout request", "The post-logout redirect address is not registered.")
			return
		}
	}
	// Without a valid hint the user confirms, so another site cannot sign
	// them out by linking here.
	if !hinted {
		if r.Method != http.MethodPost || r.PostForm.Get("confirm") != "yes" || !s.csrfValid(r) {
			// A logout without a hint never redirects afterwards: the
			// redirect is only honoured for a hinted request.
			s.pages.render(w, http.StatusOK, "logout", pageData{Title: "Sign out", Action: PathLogout, CSRF: s.csrfToken(w, r)})
			return
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.cfg.Store.DeleteSession(ctx, hashOpaque(c.Value)); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "delete session", "error", err)
		}
	}
	s.setCookie(w, sessionCookie, "", -1)
	if hinted && postLogout != "" {
		v := url.Values{}
		if state != "" {
			v.Set("state", state)
		}
		target := postLogout
		if len(v) > 0 {
			target = redirectWith(postLogout, v)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	s.pages.render(w, http.StatusOK, "message", pageData{Title: "Signed out", Message: "You are signed out."})
}

// sessionMatchesHint reports whether the browser has no live session, or one
// of the user (and tenant) the ID token hint names.
func (s *Server) sessionMatchesHint(r *http.Request, claims *tokens.IDClaims) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return true
	}
	sess, err := s.cfg.Store.Session(r.Context(), hashOpaque(c.Value))
	if err != nil || !s.cfg.Now().Before(sess.ExpiresAt) {
		return true
	}
	return sess.UserID.String() == claims.Subject && sess.TenantID.String() == claims.TenantID
}
