package oauth

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
)

// Client authentication methods.
const (
	AuthBasic = "client_secret_basic"
	AuthPost  = "client_secret_post"
	AuthNone  = "none"
)

// parsePostForm reads an application/x-www-form-urlencoded body. Parameters
// in the query string are ignored: credentials and grants travel in the body.
func parsePostForm(r *http.Request) *Error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return badRequest("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("invalid_request", "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return badRequest("invalid_request", "parameter "+k+" given more than once")
		}
	}
	return nil
}

// authenticateClient authenticates the calling client from a parsed form
// request: client_secret_basic, client_secret_post, or (when allowPublic)
// none for a public client naming itself by client_id.
func (s *Server) authenticateClient(r *http.Request, allowPublic bool) (*identity.Client, *Error) {
	ctx := r.Context()
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id) // RFC 6749 §2.3.1: form-encoded before Basic
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "malformed Basic credentials", basic: true}
		}
		if r.PostForm.Get("client_secret") != "" {
			return nil, badRequest("invalid_request", "use exactly one client authentication method")
		}
		if fid := r.PostForm.Get("client_id"); fid != "" && fid != id {
			return nil, badRequest("invalid_request", "client_id does not match the authenticated client")
		}
	} else {
		id = r.PostForm.Get("client_id")
		secret = r.PostForm.Get("client_secret")
	}
	fail := &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", basic: basic}
	if id == "" {
		fail.Description = "client authentication required"
		return nil, fail
	}
	client, err := s.cfg.Store.Client(ctx, id)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, serverError(err)
	}
	if err == nil && client.Public() && !client.Disabled {
		if !allowPublic || secret != "" || basic {
			return nil, fail
		}
		return client, nil
	}
	if secret == "" {
		return nil, fail
	}
	// An unknown or disabled client is checked against no hash: it costs
	// what a wrong secret costs, and counts towards the same lockout.
	stored := ""
	if err == nil && !client.Disabled {
		stored = client.SecretHash
	}
	if err := s.creds.Verify(ctx, credential.Account{Realm: "clients", Name: id}, stored, secret); err != nil {
		return nil, s.credentialError(ctx, err, fail)
	}
	return client, nil
}

// credentialError turns a refusal of the credential verifier into the
// OAuth answer: fail for wrong credentials, 429 for a locked account and
// 503 when the server is too busy to check, both with Retry-After.
func (s *Server) credentialError(ctx context.Context, err error, fail *Error) *Error {
	var retry *credential.RetryError
	switch {
	case errors.Is(err, credential.ErrMismatch):
		if errors.Is(err, password.ErrMalformed) {
			s.cfg.Logger.ErrorContext(ctx, "unusable stored secret hash", "error", err)
		}
		return fail
	case errors.As(err, &retry) && errors.Is(err, credential.ErrLocked):
		return &Error{Status: http.StatusTooManyRequests, Code: "temporarily_unavailable", Cause: err, RetryAfter: retry.After,
			Description: "too many failed authentication attempts for this client: retry later"}
	case errors.As(err, &retry):
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Cause: err, RetryAfter: retry.After,
			Description: "the server is too busy to check credentials: retry later"}
	}
	return serverError(err)
}
