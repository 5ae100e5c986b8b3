package oauth

import (
	"context"
	"crypto/x509"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/passthru-dev/passthru/services/identity"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/password"
)

// Client authentication methods, as discovery names them.
const (
	AuthBasic = identity.AuthSecretBasic
	AuthPost  = identity.AuthSecretPost
	AuthTLS   = identity.AuthTLSClientAuth
	AuthNone  = identity.AuthNone
)

const formType = "application/x-www-form-urlencoded"

// parsePostForm reads an application/x-www-form-urlencoded body. Parameters
// in the query string are ignored: credentials and grants travel in the body.
// A parameter given twice is refused (which one would count is ambiguous),
// except those the endpoint names in repeatable, whose values it reads as a
// list.
func parsePostForm(r *http.Request, repeatable ...string) *Error {
	// The exact type, as clients send it, needs no parsing (parameters
	// such as a charset do).
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(ct, formType) {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formType {
			return badRequest("invalid_request", "the body must be application/x-www-form-urlencoded")
		}
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("invalid_request", "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 && !slices.Contains(repeatable, k) {
			return badRequest("invalid_request", "parameter "+k+" given more than once")
		}
	}
	return nil
}

// authenticateClient authenticates the calling client from a parsed form
// request with the client's own method: client_secret_basic or
// client_secret_post for a client with a secret (either one, whichever it
// registered), tls_client_auth for a client registered with a certificate,
// or (when allowPublic) none for a public client naming itself by client_id.
// A client never authenticates with another method than its own: a
// certificate does not stand in for a secret, nor a secret for a
// certificate.
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
	client, err := s.clients.Client(ctx, id)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, serverError(err)
	}
	active := err == nil && !client.Disabled
	if active && client.Public() {
		if !allowPublic || secret != "" || basic {
			return nil, fail
		}
		return client, nil
	}
	if active && client.UsesTLSClientAuth() && secret == "" {
		// RFC 8705 §2.1: the client names itself by client_id and proves
		// who it is with the certificate the TLS layer verified.
		if basic || !client.CertificateMatches(verifiedLeaf(r)) {
			return nil, fail
		}
		return client, nil
	}
	// A secret presented for a certificate client is wrong whatever it is;
	// it is refused below at the cost of a wrong secret, so the answer's
	// timing does not tell which client ids exist and use certificates.
	if secret == "" {
		return nil, fail
	}
	// An unknown or disabled client (or one with a method this server does
	// not know) is checked against no hash: it costs what a wrong secret
	// costs, and counts towards the same lockout.
	stored := ""
	if active && client.UsesSecret() {
		stored = client.SecretHash
	}
	if err := s.creds.Verify(ctx, credential.Account{Realm: "clients", Name: id}, stored, secret); err != nil {
		return nil, s.credentialError(ctx, err, fail)
	}
	return client, nil
}

// verifiedLeaf is the end-entity certificate of the client's chain that the
// TLS layer verified against the configured client CAs; nil when the
// connection is not TLS, carried no certificate, or carried one that was
// not verified (certificates that were only presented prove nothing).
func verifiedLeaf(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
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
