package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		p          Problem
		wantStatus int
		wantJSON   string
	}{
		{desc: "defaults filled", p: Problem{Status: 404}, wantStatus: 404, wantJSON: `{"type":"about:blank","title":"Not Found","status":404}`},
		{
			desc: "all fields kept", p: Problem{Type: "https://passthru.dev/problems/x", Title: "X", Status: 409, Detail: "d", Instance: "/i", Code: "conflict"},
			wantStatus: 409, wantJSON: `{"type":"https://passthru.dev/problems/x","title":"X","status":409,"detail":"d","instance":"/i","code":"conflict"}`,
		},
		{desc: "zero status becomes 500", p: Problem{}, wantStatus: 500, wantJSON: `{"type":"about:blank","title":"Internal Server Error","status":500}`},
		{desc: "success status becomes 500", p: Problem{Status: 200, Detail: "x"}, wantStatus: 500, wantJSON: `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Length", "999") // stale value from a caller must not survive
			WriteProblem(rec, tc.p)
			assert.Equal(t, tc.wantStatus, rec.Code)
			assert.Equal(t, ProblemContentType, rec.Header().Get("Content-Type"))
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			assert.Empty(t, rec.Header().Get("Content-Length"))
			assert.JSONEq(t, tc.wantJSON, rec.Body.String())
		})
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		status     int
		v          any
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{desc: "object", status: 201, v: map[string]string{"id": "x"}, wantStatus: 201, wantType: "application/json", wantBody: `{"id":"x"}`},
		{desc: "HTML escaped", status: 200, v: []string{"<script>"}, wantStatus: 200, wantType: "application/json", wantBody: `["\u003cscript\u003e"]`},
		{desc: "unencodable value is a 500 problem", status: 200, v: map[string]any{"f": func() {}}, wantStatus: 500, wantType: ProblemContentType, wantBody: `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"response encoding failed"}`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			WriteJSON(rec, tc.status, tc.v)
			assert.Equal(t, tc.wantStatus, rec.Code)
			assert.Equal(t, tc.wantType, rec.Header().Get("Content-Type"))
			assert.Equal(t, tc.wantBody+"\n", rec.Body.String())
		})
	}
}

func TestWriteOAuthError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc     string
		status   int
		code     string
		descr    string
		wantJSON string
	}{
		{desc: "code and description", status: 400, code: "invalid_grant", descr: "code expired", wantJSON: `{"error":"invalid_grant","error_description":"code expired"}`},
		{desc: "no description omitted", status: 401, code: "invalid_client", wantJSON: `{"error":"invalid_client"}`},
		{desc: "forbidden characters replaced", status: 400, code: "invalid_request", descr: "bad \"redirect_uri\" \\ é\n", wantJSON: `{"error":"invalid_request","error_description":"bad 'redirect_uri' / ??"}`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			WriteOAuthError(rec, tc.status, tc.code, tc.descr)
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
			assert.JSONEq(t, tc.wantJSON, rec.Body.String())
		})
	}
}

func TestBearerChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc                     string
		realm, code, descr, scop string
		want                     string
	}{
		{desc: "no credentials: realm only", realm: "kms", want: `Bearer realm="kms"`},
		{desc: "nothing at all", want: `Bearer`},
		{desc: "invalid token", realm: "kms", code: "invalid_token", descr: "token expired", want: `Bearer realm="kms", error="invalid_token", error_description="token expired"`},
		{desc: "scope", realm: "kms", code: "insufficient_scope", scop: "svc:encrypt svc:decrypt", want: `Bearer realm="kms", error="insufficient_scope", scope="svc:encrypt svc:decrypt"`},
		{desc: "realm quotes and backslashes escaped", realm: `a"b\c`, want: `Bearer realm="a\"b\\c"`},
		{desc: "CRLF cannot split the header", realm: "x\r\nSet-Cookie: a=b", want: `Bearer realm="xSet-Cookie: a=b"`},
		{desc: "description limited to RFC 6750 charset", realm: "r", code: "invalid_token", descr: "bad \"kid\"\n", want: `Bearer realm="r", error="invalid_token", error_description="bad 'kid'?"`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, BearerChallenge(tc.realm, tc.code, tc.descr, tc.scop))
		})
	}
}

func TestWriteBearerChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc       string
		code       string
		descr      string
		wantStatus int
		wantHeader string
		wantDetail string
	}{
		{desc: "missing credentials", wantStatus: 401, wantHeader: `Bearer realm="passthru"`, wantDetail: "authentication required"},
		{desc: "invalid token", code: "invalid_token", descr: "expired", wantStatus: 401, wantHeader: `Bearer realm="passthru", error="invalid_token", error_description="expired"`, wantDetail: "expired"},
		{desc: "invalid request is 400", code: "invalid_request", descr: "two tokens", wantStatus: 400, wantHeader: `Bearer realm="passthru", error="invalid_request", error_description="two tokens"`, wantDetail: "two tokens"},
		{desc: "insufficient scope is 403", code: "insufficient_scope", wantStatus: 403, wantHeader: `Bearer realm="passthru", error="insufficient_scope"`, wantDetail: "authentication required"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			WriteBearerChallenge(rec, "passthru", tc.code, tc.descr)
			assert.Equal(t, tc.wantStatus, rec.Code)
			assert.Equal(t, tc.wantHeader, rec.Header().Get("WWW-Authenticate"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			var p Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.Equal(t, tc.wantStatus, p.Status)
			assert.Equal(t, tc.wantDetail, p.Detail)
			assert.Equal(t, tc.code, p.Code)
		})
	}
}

type decodeTarget struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc        string
		contentType string
		body        string
		nilBody     bool
		limit       int64 // LimitBody in front when > 0
		want        decodeTarget
		wantStatus  int // 0: success
		wantDetail  string
	}{
		{desc: "valid", contentType: "application/json", body: `{"name":"a","count":2}`, want: decodeTarget{Name: "a", Count: 2}},
		{desc: "charset utf-8 allowed", contentType: "application/json; charset=UTF-8", body: `{"name":"a"}`, want: decodeTarget{Name: "a"}},
		{desc: "other parameters allowed", contentType: "application/json; foo=bar", body: `{}`},
		{desc: "trailing whitespace allowed", contentType: "application/json", body: "{\"count\":1}\n \t", want: decodeTarget{Count: 1}},
		{desc: "missing content type", body: `{}`, wantStatus: 415, wantDetail: "Content-Type must be application/json"},
		{desc: "text/plain", contentType: "text/plain", body: `{}`, wantStatus: 415},
		{desc: "form", contentType: "application/x-www-form-urlencoded", body: `a=b`, wantStatus: 415},
		{desc: "json suffix types are not json", contentType: "application/merge-patch+json", body: `{}`, wantStatus: 415},
		{desc: "unparseable content type", contentType: "application/json; =", body: `{}`, wantStatus: 415},
		{desc: "latin1 charset", contentType: "application/json; charset=iso-8859-1", body: `{}`, wantStatus: 415, wantDetail: "utf-8"},
		{desc: "empty body", contentType: "application/json", body: "", wantStatus: 400, wantDetail: "request body is empty"},
		{desc: "whitespace body", contentType: "application/json", body: "  \n", wantStatus: 400, wantDetail: "request body is empty"},
		{desc: "nil body", contentType: "application/json", nilBody: true, wantStatus: 400, wantDetail: "request body is empty"},
		{desc: "syntax error", contentType: "application/json", body: `{"name":}`, wantStatus: 400, wantDetail: "malformed JSON at byte 9"},
		{desc: "truncated", contentType: "application/json", body: `{"name":"a"`, wantStatus: 400, wantDetail: "unexpected end of input"},
		{desc: "wrong type", contentType: "application/json", body: `{"count":"two"}`, wantStatus: 400, wantDetail: "field count: expected int, got JSON string"},
		{desc: "wrong root type", contentType: "application/json", body: `[1]`, wantStatus: 400, wantDetail: "field (root): expected httpx.decodeTarget, got JSON array"},
		{desc: "unknown field", contentType: "application/json", body: `{"name":"a","admin":true}`, wantStatus: 400, wantDetail: `unknown field "admin"`},
		{desc: "long unknown field clipped", contentType: "application/json", body: `{"` + strings.Repeat("a", 200) + `":1}`, wantStatus: 400, wantDetail: "..."},
		{desc: "second value", contentType: "application/json", body: `{}{}`, wantStatus: 400, wantDetail: "unexpected data after the JSON value"},
		{desc: "trailing garbage", contentType: "application/json", body: `{} x`, wantStatus: 400, wantDetail: "unexpected data after the JSON value"},
		{desc: "null is accepted as no-op", contentType: "application/json", body: `null`},
		{desc: "over LimitBody", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, limit: 50, wantStatus: 413, wantDetail: "request body exceeds 50 bytes"},
		{desc: "over default limit", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`, wantStatus: 413, wantDetail: "exceeds 1048576 bytes"},
		{desc: "body over the limit is 413 whatever it holds", contentType: "application/json", body: `{}` + strings.Repeat(" ", 40) + `{"a":"` + strings.Repeat("a", 40), limit: 50, wantStatus: 413},
		{desc: "limit hit while checking for trailing data", contentType: "application/json", body: `{}` + strings.Repeat(" ", 60), limit: 50, wantStatus: 413},
		// encoding/json would decode each invalid byte as U+FFFD: "\xff"
		// and "\xfe" would become the same name.
		{desc: "invalid utf-8 in a string", contentType: "application/json", body: "{\"name\":\"\xff\"}", wantStatus: 400, wantDetail: "not valid UTF-8"},
		{desc: "invalid utf-8 after the value", contentType: "application/json", body: "{}\xff", wantStatus: 400, wantDetail: "not valid UTF-8"},
		{desc: "multibyte utf-8 accepted", contentType: "application/json", body: `{"name":"é€😀"}`, want: decodeTarget{Name: "é€😀"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			req.ContentLength = -1 // exercise the streaming limit, not the early Content-Length check
			if tc.nilBody {
				req.Body = nil
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			var got decodeTarget
			var err error
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { err = DecodeJSON(r, &got) })
			if tc.limit > 0 {
				LimitBody(tc.limit)(h).ServeHTTP(httptest.NewRecorder(), req)
			} else {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			if tc.wantStatus == 0 {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.wantStatus, de.Status)
			assert.Contains(t, de.Detail, tc.wantDetail)
			assert.Contains(t, de.Error(), de.Detail)
			p := de.Problem()
			assert.Equal(t, tc.wantStatus, p.Status)
			assert.Equal(t, de.Detail, p.Detail)
		})
	}
}

func TestReadJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc        string
		contentType string
		body        string
		nilBody     bool
		limit       int64 // LimitBody in front when > 0
		wantStatus  int   // 0: success, the body returned as sent
		wantDetail  string
	}{
		{desc: "valid", contentType: "application/json", body: `{"name":"a","count":2}`},
		{desc: "trailing whitespace allowed", contentType: "application/json", body: "{\"count\":1}\n \t"},
		// Types and field names are the decoder's business, not ReadJSON's.
		{desc: "any member and type", contentType: "application/json", body: `{"admin":true,"count":"two"}`},
		{desc: "missing content type", body: `{}`, wantStatus: 415, wantDetail: "Content-Type must be application/json"},
		{desc: "latin1 charset", contentType: "application/json; charset=iso-8859-1", body: `{}`, wantStatus: 415, wantDetail: "utf-8"},
		{desc: "empty body", contentType: "application/json", body: "", wantStatus: 400, wantDetail: "request body is empty"},
		{desc: "whitespace body", contentType: "application/json", body: "  \n", wantStatus: 400, wantDetail: "request body is empty"},
		{desc: "nil body", contentType: "application/json", nilBody: true, wantStatus: 400, wantDetail: "request body is empty"},
		{desc: "syntax error", contentType: "application/json", body: `{"name":}`, wantStatus: 400, wantDetail: "malformed JSON at byte 9"},
		{desc: "truncated", contentType: "application/json", body: `{"name":"a"`, wantStatus: 400, wantDetail: "unexpected end of input"},
		{desc: "second value", contentType: "application/json", body: `{}{}`, wantStatus: 400, wantDetail: "unexpected data after the JSON value"},
		{desc: "trailing garbage", contentType: "application/json", body: `{} x`, wantStatus: 400, wantDetail: "unexpected data after the JSON value"},
		{desc: "over LimitBody", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, limit: 50, wantStatus: 413, wantDetail: "request body exceeds 50 bytes"},
		{desc: "over default limit", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`, wantStatus: 413, wantDetail: "exceeds 1048576 bytes"},
		{desc: "invalid utf-8 in a string", contentType: "application/json", body: "{\"name\":\"\xff\"}", wantStatus: 400, wantDetail: "not valid UTF-8"},
		{desc: "truncated utf-8 sequence", contentType: "application/json", body: "{\"name\":\"\xe2\x82\"}", wantStatus: 400, wantDetail: "not valid UTF-8"},
		{desc: "multibyte utf-8 accepted", contentType: "application/json", body: `{"name":"é€😀"}`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			req.ContentLength = -1
			if tc.nilBody {
				req.Body = nil
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			var got []byte
			var err error
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, err = ReadJSON(r) })
			if tc.limit > 0 {
				LimitBody(tc.limit)(h).ServeHTTP(httptest.NewRecorder(), req)
			} else {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			if tc.wantStatus == 0 {
				require.NoError(t, err)
				assert.Equal(t, tc.body, string(got))
				return
			}
			assert.Nil(t, got)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.wantStatus, de.Status)
			assert.Contains(t, de.Detail, tc.wantDetail)
		})
	}
}
