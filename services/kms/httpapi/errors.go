package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/db"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/realm"
)

// statusOf is the one table from error code to HTTP status: no status is
// ever chosen anywhere else, and never from message text.
var statusOf = map[kms.Code]int{
	kms.InvalidRequest:       http.StatusBadRequest,
	kms.MalformedJSON:        http.StatusBadRequest,
	kms.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	kms.PayloadTooLarge:      http.StatusRequestEntityTooLarge,
	kms.Unauthenticated:      http.StatusUnauthorized,
	kms.TooManyAttempts:      http.StatusTooManyRequests,
	kms.Forbidden:            http.StatusForbidden,
	kms.NotFound:             http.StatusNotFound,
	kms.MethodNotAllowed:     http.StatusMethodNotAllowed,
	kms.NameTaken:            http.StatusConflict,
	kms.UserExists:           http.StatusConflict,
	kms.KeyDisabled:          http.StatusConflict,
	kms.VersionDisabled:      http.StatusConflict,
	kms.NoEnabledVersion:     http.StatusConflict,
	kms.VersioningNotAllowed: http.StatusConflict,
	kms.KeyDestroyed:         http.StatusGone,
	kms.VersionDestroyed:     http.StatusGone,
	kms.WrongPurpose:         http.StatusBadRequest,
	kms.MalformedCiphertext:  http.StatusBadRequest,
	kms.DecryptionFailed:     http.StatusBadRequest,
	kms.ContextMismatch:      http.StatusBadRequest,
	kms.UnknownKid:           http.StatusBadRequest,
	kms.MalformedSignature:   http.StatusBadRequest,
	kms.AlgorithmMismatch:    http.StatusBadRequest,
	kms.Internal:             http.StatusInternalServerError,
	kms.NotReady:             http.StatusServiceUnavailable,
	kms.Busy:                 http.StatusServiceUnavailable,
	kms.Unavailable:          http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status of code (500 for an unknown code).
func StatusOf(code kms.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// classify turns any error the handlers meet into a *kms.Error: errors
// of other packages (authn, httpx decoding) are translated here and only here.
func classify(err error) *kms.Error {
	var ke *kms.Error
	if errors.As(err, &ke) && ke.Code != kms.Internal {
		return ke
	}
	var de *httpx.DecodeError
	if errors.As(err, &de) {
		switch de.Status {
		case http.StatusRequestEntityTooLarge:
			return kms.Wrap(err, kms.PayloadTooLarge, "%s", de.Detail)
		case http.StatusUnsupportedMediaType:
			return kms.Wrap(err, kms.UnsupportedMediaType, "%s", de.Detail)
		default:
			return kms.Wrap(err, kms.MalformedJSON, "%s", de.Detail)
		}
	}
	// A database that cannot serve is a 503 whatever layer met it (the
	// credential lookup, the key store, the audit write). A body that could
	// not be read (answered above) and an issuer that cannot be reached
	// (below) carry network errors that look like an unreachable
	// database's, hence the order.
	if !errors.Is(err, authn.ErrUnavailable) {
		if ue, ok := db.Unavailable(err); ok {
			return kms.Wrap(err, kms.Unavailable, "the key store cannot serve requests right now (%s): retry later", ue.Reason)
		}
	}
	if ke != nil {
		return ke
	}
	switch {
	case errors.Is(err, authn.ErrUnavailable):
		// Checked first: such an error may also carry ErrInvalidCredentials
		// for callers that only know the sentinels of a refusal.
		return kms.Wrap(err, kms.Unavailable, "the credentials cannot be checked right now: retry later")
	case errors.Is(err, authn.ErrNoCredentials):
		return kms.Wrap(err, kms.Unauthenticated, "authentication required")
	case errors.Is(err, authn.ErrMalformedCredentials):
		return kms.Wrap(err, kms.InvalidRequest, "malformed Authorization header")
	case errors.Is(err, authn.ErrInvalidCredentials):
		// Never says whether the user exists, is disabled or the password is wrong.
		return kms.Wrap(err, kms.Unauthenticated, "invalid credentials")
	case errors.Is(err, credential.ErrLocked):
		return kms.Wrap(err, kms.TooManyAttempts, "too many failed sign-in attempts for this user: retry later")
	case errors.Is(err, credential.ErrBusy):
		return kms.Wrap(err, kms.Busy, "too many credential checks in progress: retry later")
	case errors.Is(err, authn.ErrForbidden):
		// authn.CheckScope's message names the missing scope, which is safe to show.
		return kms.Wrap(err, kms.Forbidden, "%s", err.Error())
	case errors.Is(err, realm.ErrUserNotFound):
		return kms.Wrap(err, kms.NotFound, "user not found")
	case errors.Is(err, realm.ErrUserExists):
		return kms.Wrap(err, kms.UserExists, "a user with that username already exists in the realm")
	case errors.Is(err, realm.ErrInvalidUser):
		return kms.Wrap(err, kms.InvalidRequest, "%s", err.Error())
	}
	return kms.Wrap(err, kms.Internal, "internal error")
}

// writeError is the single place where errors become HTTP responses.
func writeError(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	ke := classify(err)
	status := StatusOf(ke.Code)
	switch {
	case ke.Code == kms.Unavailable:
		// Not this service's fault, but an operator wants to know.
		logger.WarnContext(r.Context(), "a dependency is unavailable", "path", r.URL.Path, "request_id", httpx.RequestIDFrom(r.Context()), "error", err)
	case status >= 500 && ke.Code != kms.Busy:
		logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "request_id", httpx.RequestIDFrom(r.Context()), "error", err)
	}
	var retry *credential.RetryError
	if errors.As(err, &retry) {
		httpx.SetRetryAfter(w.Header(), retry.After)
	}
	if ke.Code == kms.Unavailable {
		after := unavailableRetry
		if ue, ok := db.Unavailable(err); ok {
			after = ue.RetryAfter
		}
		httpx.SetRetryAfter(w.Header(), after)
	}
	httpx.WriteProblem(w, httpx.Problem{
		Type:     "urn:passthru:kms:problem:" + string(ke.Code),
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   ke.Message,
		Instance: r.URL.Path,
		Code:     string(ke.Code),
	})
}
