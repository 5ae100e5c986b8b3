package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/ids"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc     string
		incoming string
		keep     bool
	}{
		{desc: "sane id kept", incoming: "abc-123_X.y", keep: true},
		{desc: "64 chars kept", incoming: strings.Repeat("a", 64), keep: true},
		{desc: "65 chars replaced", incoming: strings.Repeat("a", 65)},
		{desc: "missing minted", incoming: ""},
		{desc: "space replaced", incoming: "a b"},
		{desc: "log injection replaced", incoming: "a\nlevel=ERROR"},
		{desc: "quote replaced", incoming: `a"b`},
		{desc: "non-ascii replaced", incoming: "é"},
		{desc: "slash replaced", incoming: "a/b"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.incoming != "" {
				req.Header[RequestIDHeader] = []string{tc.incoming}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, seen, rec.Header().Get(RequestIDHeader))
			if tc.keep {
				assert.Equal(t, tc.incoming, seen)
				return
			}
			_, err := ids.ParseEntity(seen)
			assert.NoError(t, err, "minted id is a UUIDv7: %q", seen)
		})
	}
	assert.Empty(t, RequestIDFrom(t.Context()), "no id outside the middleware")
}

type logLines struct{ buf bytes.Buffer }

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&l.buf, nil)) }

func (l *logLines) entries(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		out = append(out, m)
	}
	return out
}

func TestRecover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		handler    http.HandlerFunc
		wantStatus int
		wantBody   string
		wantLogged bool
		wantType   string // panic_type in the log line
	}{
		{desc: "no panic passes through", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }, wantStatus: http.StatusAccepted},
		{desc: "panic before writing gives 500 problem", handler: func(w http.ResponseWriter, r *http.Request) { panic("boom") }, wantStatus: 500, wantBody: `"status":500`, wantLogged: true, wantType: "string"},
		{desc: "panic with error value", handler: func(w http.ResponseWriter, r *http.Request) { panic(errors.New("bad")) }, wantStatus: 500, wantLogged: true, wantType: "*errors.errorString"},
		{desc: "panic after header keeps status", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated); panic("late") }, wantStatus: http.StatusCreated, wantLogged: true},
		{desc: "panic after write keeps body", handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("partial")); panic("late") }, wantStatus: http.StatusOK, wantBody: "partial", wantLogged: true},
		{desc: "panic after WriteString", handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "s"); panic("late") }, wantStatus: http.StatusOK, wantBody: "s", wantLogged: true},
		{desc: "panic after ReadFrom", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("rf"))
			panic("late")
		}, wantStatus: http.StatusOK, wantBody: "rf", wantLogged: true},
		{desc: "panic after flush", handler: func(w http.ResponseWriter, r *http.Request) { w.(http.Flusher).Flush(); panic("late") }, wantStatus: http.StatusOK, wantLogged: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var logs logLines
			h := Chain(tc.handler, RequestID, Recover(logs.logger()))
			rec := &fullRecorder{ResponseRecorder: httptest.NewRecorder()}
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/p?secret=1", nil))
			assert.Equal(t, tc.wantStatus, rec.Code)
			assert.Contains(t, rec.Body.String(), tc.wantBody)
			if tc.wantStatus == 500 {
				assert.Equal(t, ProblemContentType, rec.Header().Get("Content-Type"))
			}
			entries := logs.entries(t)
			if !tc.wantLogged {
				assert.Empty(t, entries)
				return
			}
			require.Len(t, entries, 1)
			e := entries[0]
			assert.Equal(t, "ERROR", e["level"])
			assert.Equal(t, "/p", e["path"])
			assert.Equal(t, rec.Header().Get(RequestIDHeader), e["request_id"])
			assert.Contains(t, e["stack"], "runtime/debug.Stack")
			assert.NotContains(t, logs.buf.String(), "secret=1")
			assert.NotContains(t, e, "panic", "the panic value is never logged")
			if tc.wantType != "" {
				assert.Equal(t, tc.wantType, e["panic_type"])
			}
		})
	}
}

// secretPanic is a panic value whose every printing form carries a secret.
type secretPanic struct{ Token string }

func (s secretPanic) Error() string  { return "token " + s.Token }
func (s secretPanic) String() string { return "token " + s.Token }

func TestRecoverNeverLogsPanicValue(t *testing.T) {
	t.Parallel()
	const secret = "secret-xyz"
	tests := []struct {
		desc     string
		value    any
		wantType string
	}{
		{desc: "string", value: secret, wantType: "string"},
		{desc: "error", value: errors.New("db password " + secret), wantType: "*errors.errorString"},
		{desc: "wrapped error", value: fmt.Errorf("open: %w", errors.New(secret)), wantType: "*fmt.wrapError"},
		{desc: "struct with Error and String", value: secretPanic{Token: secret}, wantType: "httpx.secretPanic"},
		{desc: "pointer to struct", value: &secretPanic{Token: secret}, wantType: "*httpx.secretPanic"},
		{desc: "byte slice", value: []byte(secret), wantType: "[]uint8"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var logs logLines
			h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(tc.value) }), RequestID, Recover(logs.logger()))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/keys", nil))

			assert.Equal(t, http.StatusInternalServerError, rec.Code)
			assert.Equal(t, ProblemContentType, rec.Header().Get("Content-Type"))
			var p Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.Equal(t, http.StatusInternalServerError, p.Status)
			assert.Equal(t, "internal error", p.Detail)
			assert.NotContains(t, rec.Body.String(), secret, "the response never carries the panic value")

			entries := logs.entries(t)
			require.Len(t, entries, 1)
			assert.Equal(t, tc.wantType, entries[0]["panic_type"])
			assert.NotEmpty(t, entries[0]["stack"])
			assert.NotContains(t, logs.buf.String(), secret, "the log never carries the panic value")
		})
	}
}

// fullRecorder adds what net/http's real writer has and the recorder lacks:
// io.ReaderFrom, and 1xx responses that do not end the header phase.
type fullRecorder struct {
	*httptest.ResponseRecorder
	codes []int
}

func (f *fullRecorder) WriteHeader(code int) {
	f.codes = append(f.codes, code)
	if code >= 200 {
		f.ResponseRecorder.WriteHeader(code)
	}
}

func (f *fullRecorder) ReadFrom(r io.Reader) (int64, error) { return io.Copy(f.ResponseRecorder, r) }

func TestRecoverAfterInformational(t *testing.T) {
	t.Parallel()
	h := Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		panic("after 103")
	}))
	rec := &fullRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, []int{http.StatusEarlyHints, http.StatusInternalServerError}, rec.codes, "a 1xx does not start the response")
	assert.Equal(t, ProblemContentType, rec.Header().Get("Content-Type"))
}

func TestNilLoggerMeansDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		mw   func(*slog.Logger) func(http.Handler) http.Handler
	}{
		{desc: "Recover", mw: Recover},
		{desc: "AccessLog", mw: AccessLog},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			h := tc.mw(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			assert.Equal(t, http.StatusNoContent, rec.Code)
		})
	}
}

func TestRecoverAbortHandler(t *testing.T) {
	t.Parallel()
	h := Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	})
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		handler    http.HandlerFunc
		target     string
		wantStatus float64
		wantBytes  float64
	}{
		{desc: "implicit 200 with body", handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }, target: "/a?code=SECRETCODE&token=SECRETTOKEN", wantStatus: 200, wantBytes: 5},
		{desc: "explicit status, no body", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, target: "/b", wantStatus: 204},
		{desc: "problem response", handler: func(w http.ResponseWriter, r *http.Request) { WriteProblem(w, Problem{Status: 404}) }, target: "/c?x=SECRETQ", wantStatus: 404, wantBytes: 56},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var logs logLines
			h := Chain(tc.handler, RequestID, AccessLog(logs.logger()))
			req := httptest.NewRequest(http.MethodPost, tc.target, strings.NewReader(`{"password":"SECRETBODY"}`))
			req.Header.Set("Authorization", "Bearer SECRETHEADER")
			req.Header.Set("Cookie", "sid=SECRETCOOKIE")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			entries := logs.entries(t)
			require.Len(t, entries, 1)
			e := entries[0]
			assert.Equal(t, "http request", e["msg"])
			assert.Equal(t, "POST", e["method"])
			assert.Equal(t, req.URL.Path, e["path"])
			assert.Equal(t, tc.wantStatus, e["status"])
			assert.Equal(t, tc.wantBytes, e["bytes"])
			assert.Equal(t, float64(rec.Body.Len()), e["bytes"])
			assert.Contains(t, e, "duration")
			assert.Equal(t, rec.Header().Get(RequestIDHeader), e["request_id"])
			assert.NotContains(t, logs.buf.String(), "SECRET", "no query, header or body in the log")
		})
	}
}

func TestLimitBody(t *testing.T) {
	t.Parallel()
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteProblem(w, Problem{Status: http.StatusRequestEntityTooLarge})
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	tests := []struct {
		desc          string
		body          string
		contentLength int64 // -1: unknown (chunked)
		wantStatus    int
	}{
		{desc: "under the limit", body: "1234", contentLength: 4, wantStatus: 200},
		{desc: "at the limit", body: "12345678", contentLength: 8, wantStatus: 200},
		{desc: "declared length over the limit rejected before the handler", body: "123456789", contentLength: 9, wantStatus: 413},
		{desc: "undeclared length over the limit fails the read", body: "123456789", contentLength: -1, wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			req.ContentLength = tc.contentLength
			rec := httptest.NewRecorder()
			LimitBody(8)(read).ServeHTTP(rec, req)
			assert.Equal(t, tc.wantStatus, rec.Code)
		})
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var order []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	tests := []struct {
		desc string
		mw   []func(http.Handler) http.Handler
		want []string
	}{
		{desc: "first is outermost", mw: []func(http.Handler) http.Handler{mw("a"), mw("b"), mw("c")}, want: []string{"a", "b", "c", "h"}},
		{desc: "no middleware", want: []string{"h"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			order = nil
			h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "h") }), tc.mw...)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			assert.Equal(t, tc.want, order)
		})
	}
}

// TestLimitBodyTooLargeAnswer: a declared oversize body gets a 413
// problem+json with a code, or the service's own answer when it gives one.
func TestLimitBodyTooLargeAnswer(t *testing.T) {
	t.Parallel()
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("the handler ran") })
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("123456789"))
	rec := httptest.NewRecorder()
	LimitBody(8)(next).ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, ProblemContentType, rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"about:blank","title":"Request Entity Too Large","status":413,"detail":"request body exceeds 8 bytes","code":"payload_too_large"}`, rec.Body.String())

	var gotLimit int64
	own := func(w http.ResponseWriter, r *http.Request, limit int64) {
		gotLimit = limit
		WriteProblem(w, Problem{Status: http.StatusRequestEntityTooLarge, Code: "own", Instance: r.URL.Path})
	}
	rec = httptest.NewRecorder()
	LimitBodyWith(8, own)(next).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("123456789")))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"own"`)
	assert.EqualValues(t, 8, gotLimit)
}
