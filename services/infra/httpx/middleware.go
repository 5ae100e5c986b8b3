package httpx

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/felixge/httpsnoop"

	"github.com/passthru-dev/passthru/services/infra/ids"
)

// Chain wraps h in middleware; the first is the outermost, so
// Chain(h, RequestID, AccessLog(l), Recover(l)) runs RequestID first and
// lets AccessLog see the 500 that Recover writes.
func Chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID takes the caller's X-Request-Id when it is a sane token (1 to 64
// characters of [A-Za-z0-9._-]) and otherwise mints a UUIDv7, so ids can be
// correlated across services without letting a caller inject arbitrary text
// into logs. The id is echoed in the response and stored in the context.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneID(id) {
			id = ids.NewEntity().String()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func saneID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RequestIDFrom returns the request id RequestID stored in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Recover turns a panic in next into a logged error and, when the response
// has not started yet, a 500 problem+json. http.ErrAbortHandler is passed
// through: it is net/http's way to abort a response on purpose. A nil logger
// means slog.Default().
//
// The log line names the panic value's type and carries the stack, never the
// value itself: a panic value (a string, an error, a struct) can hold a
// secret, a token or plaintext, and those never go to logs. The
// stack gives code locations; goroutine traces may print argument words as
// hex, which is accepted. The client only ever sees "internal error".
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started := false
			mark := func() { started = true }
			ww := httpsnoop.Wrap(w, httpsnoop.Hooks{
				WriteHeader: func(f httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
					return func(code int) {
						if code >= 200 { // 1xx responses do not start the final one
							mark()
						}
						f(code)
					}
				},
				Write: func(f httpsnoop.WriteFunc) httpsnoop.WriteFunc {
					return func(b []byte) (int, error) { mark(); return f(b) }
				},
				WriteString: func(f httpsnoop.WriteStringFunc) httpsnoop.WriteStringFunc {
					return func(s string) (int, error) { mark(); return f(s) }
				},
				ReadFrom: func(f httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
					return func(src io.Reader) (int64, error) { mark(); return f(src) }
				},
				Flush: func(f httpsnoop.FlushFunc) httpsnoop.FlushFunc {
					return func() { mark(); f() }
				},
				Hijack: func(f httpsnoop.HijackFunc) httpsnoop.HijackFunc {
					return func() (net.Conn, *bufio.ReadWriter, error) { mark(); return f() }
				},
			})
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "panic serving request",
					slog.String("panic_type", fmt.Sprintf("%T", v)),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("request_id", RequestIDFrom(r.Context())),
					slog.String("stack", string(debug.Stack())),
				)
				if !started {
					WriteProblem(w, Problem{Status: http.StatusInternalServerError, Detail: "internal error"})
				}
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// AccessLog logs one line per request: method, path (never the query, which
// may carry codes or tokens), status, response bytes, duration and request
// id. Headers and bodies are never logged. A nil logger means slog.Default().
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			m := httpsnoop.CaptureMetricsFn(w, func(ww http.ResponseWriter) { next.ServeHTTP(ww, r) })
			logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", m.Code),
				slog.Int64("bytes", m.Written),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", RequestIDFrom(r.Context())),
			)
		})
	}
}

// LimitBody caps request bodies at n bytes. A declared Content-Length above
// n is answered 413 at once (see TooLargeFunc); otherwise reads past n fail
// with *http.MaxBytesError, which DecodeJSON maps to 413.
func LimitBody(n int64) func(http.Handler) http.Handler { return LimitBodyWith(n, nil) }

// TooLargeFunc answers a request whose declared body length exceeds the
// transport's limit, before any handler runs: a service that speaks its own
// problem codes answers these with the same body as its own 413s.
type TooLargeFunc func(w http.ResponseWriter, r *http.Request, limit int64)

// PayloadTooLarge is LimitBody's default answer: a 413 problem+json with
// the code payload_too_large.
func PayloadTooLarge(w http.ResponseWriter, _ *http.Request, limit int64) {
	WriteProblem(w, Problem{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("request body exceeds %d bytes", limit), Code: "payload_too_large"})
}

// LimitBodyWith is LimitBody answering declared oversize bodies with
// tooLarge (nil: PayloadTooLarge).
func LimitBodyWith(n int64, tooLarge TooLargeFunc) func(http.Handler) http.Handler {
	if tooLarge == nil {
		tooLarge = PayloadTooLarge
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				tooLarge(w, r, n)
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
