package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/credential"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/kms/kmserr"
	"github.com/passthru-dev/passthru/services/kms/realm"
)

// statusOf is the one table from error code to HTTP status (STYLE.md #4).
var statusOf = map[kmserr.Code]int{
	kmserr.InvalidRequest:       http.StatusBadRequest,
	kmserr.MalformedJSON:        http.StatusBadRequest,
	kmserr.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	kmserr.PayloadTooLarge:      http.StatusRequestEntityTooLarge,
	kmserr.Unauthenticated:      http.StatusUnauthorized,
	kmserr.TooManyAttempts:      http.StatusTooManyRequests,
	kmserr.Forbidden:            http.StatusForbidden,
	kmserr.NotFound:             http.StatusNotFound,
	kmserr.MethodNotAllowed:     http.StatusMethodNotAllowed,
	kmserr.NameTaken:            http.StatusConflict,
	kmserr.UserExists:           http.StatusConflict,
	kmserr.KeyDisabled:          http.StatusConflict,
	kmserr.VersionDisabled:      http.StatusConflict,
	kmserr.NoEnabledVersion:     http.StatusConflict,
	kmserr.VersioningNotAllowed: http.StatusConflict,
	kmserr.KeyDestroyed:         http.StatusGone,
	kmserr.VersionDestroyed:     http.StatusGone,
	kmserr.WrongPurpose:         http.StatusBadRequest,
	kmserr.MalformedCiphertext:  http.StatusBadRequest,
	kmserr.DecryptionFailed:     http.StatusBadRequest,
	kmserr.ContextMismatch:      http.StatusBadRequest,
	kmserr.UnknownKid:           http.StatusBadRequest,
	kmserr.MalformedSignature:   http.StatusBadRequest,
	kmserr.AlgorithmMismatch:    http.StatusBadRequest,
	kmserr.Internal:             http.StatusInternalServerError,
	kmserr.NotReady:             http.StatusServiceUnavailable,
	kmserr.Busy:                 http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status of code (500 for an unknown code).
func StatusOf(code kmserr.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// classify turns any error the handlers meet into a *kmserr.Error: errors
// of other packages (authn, httpx decoding) are translated here and only here.
func classify(err error) *kmserr.Error {
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		return ke
	}
	var de *httpx.DecodeError
	if errors.As(err, &de) {
		switch de.Status {
		case http.StatusRequestEntityTooLarge:
			return kmserr.Wrap(err, kmserr.PayloadTooLarge, "%s", de.Detail)
		case http.StatusUnsupportedMediaType:
			return kmserr.Wrap(err, kmserr.UnsupportedMediaType, "%s", de.Detail)
		default:
			return kmserr.Wrap(err, kmserr.MalformedJSON, "%s", de.Detail)
		}
	}
	switch {
	case errors.Is(err, authn.ErrNoCredentials):
		return kmserr.Wrap(err, kmserr.Unauthenticated, "authentication required")
	case errors.Is(err, authn.ErrInvalidCredentials):
		// Never says whether the user exists, is disabled or the password is wrong.
		return kmserr.Wrap(err, kmserr.Unauthenticated, "invalid credentials")
	case errors.Is(err, credential.ErrLocked):
		return kmserr.Wrap(err, kmserr.TooManyAttempts, "too many failed sign-in attempts for this user: retry later")
	case errors.Is(err, credential.ErrBusy):
		return kmserr.Wrap(err, kmserr.Busy, "too many credential checks in progress: retry later")
	case errors.Is(err, authn.ErrForbidden):
		// authn.CheckScope's message names the missing scope, which is safe to show.
		return kmserr.Wrap(err, kmserr.Forbidden, "%s", err.Error())
	case errors.Is(err, realm.ErrUserNotFound):
		return kmserr.Wrap(err, kmserr.NotFound, "user not found")
	case errors.Is(err, realm.ErrUserExists):
		return kmserr.Wrap(err, kmserr.UserExists, "a user with that username already exists in the realm")
	case errors.Is(err, realm.ErrInvalidUser):
		return kmserr.Wrap(err, kmserr.InvalidRequest, "%s", err.Error())
	}
	return kmserr.Wrap(err, kmserr.Internal, "internal error")
}

// writeError is the single place where errors become HTTP responses.
func writeError(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	ke := classify(err)
	status := StatusOf(ke.Code)
	if status >= 500 && ke.Code != kmserr.Busy {
		logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "request_id", httpx.RequestIDFrom(r.Context()), "error", err)
	}
	var retry *credential.RetryError
	if errors.As(err, &retry) {
		httpx.SetRetryAfter(w.Header(), retry.After)
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
