package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/kms/api"
)

// wantStatus is the header through which the test tells the stub server
// which status to answer with.
const wantStatus = "X-Test-Status"

// stubServer satisfies the generated interface; its methods are never
// reached because the middleware answers first, after the generated
// wrapper has bound every path and query parameter.
type stubServer struct{ api.ServerInterface }

// answer writes the status the client asked for, with a body of the
// content type the spec documents for it.
func answer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, err := strconv.Atoi(r.Header.Get(wantStatus))
		if err != nil {
			http.Error(w, "no status", http.StatusTeapot)
			return
		}
		switch {
		case status == http.StatusNoContent:
			w.WriteHeader(status)
		case status < 300:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{}`)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"type":"urn:t","title":"t","status":`+strconv.Itoa(status)+`,"code":"c"}`)
		}
	})
}

// TestGeneratedClientAndServerBindings drives every generated client
// operation against the generated gorilla wrappers, for every status the
// spec documents: requests are built and routed with all their
// parameters, and each documented response is parsed into its typed field.
func TestGeneratedClientAndServerBindings(t *testing.T) {
	var bindErrors []string
	h := api.HandlerWithOptions(stubServer{}, api.GorillaServerOptions{
		Middlewares: []api.MiddlewareFunc{answer},
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			bindErrors = append(bindErrors, r.URL.String()+": "+err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
		},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := api.NewClientWithResponses(srv.URL, api.WithHTTPClient(srv.Client()))
	require.NoError(t, err)

	statuses := []int{200, 201, 204, 400, 401, 403, 404, 409, 410, 413, 415, 500}
	cv := reflect.ValueOf(c)
	ct := cv.Type()
	ops := 0
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		if !strings.HasSuffix(m.Name, "WithResponse") {
			continue
		}
		ops++
		for _, status := range statuses {
			t.Run(m.Name+"/"+strconv.Itoa(status), func(t *testing.T) {
				editor := api.RequestEditorFn(func(_ context.Context, r *http.Request) error {
					r.Header.Set(wantStatus, strconv.Itoa(status))
					return nil
				})
				out := cv.Method(i).Call(arguments(t, m.Type, editor))
				require.True(t, out[1].IsNil(), "%s: %v", m.Name, out[1].Interface())
				resp := out[0]
				code := resp.MethodByName("StatusCode").Call(nil)[0].Int()
				require.EqualValues(t, status, code, "%s routed and answered", m.Name)
				assert.Equal(t, http.StatusText(status), resp.MethodByName("Status").Call(nil)[0].String()[4:])
				// Every accessor answers, also on a response without an HTTP response.
				zero := reflect.New(resp.Type().Elem())
				for k := range resp.NumMethod() {
					if resp.Type().Method(k).Type.NumIn() == 1 {
						resp.Method(k).Call(nil)
						zero.Method(k).Call(nil)
					}
				}
				assert.Zero(t, zero.MethodByName("StatusCode").Call(nil)[0].Int())
				if status == 204 {
					return
				}
				// A documented status lands in its typed field.
				field := resp.Elem().FieldByName(typedField(status))
				if field.IsValid() {
					assert.False(t, field.IsNil(), "%s %d parsed into %s", m.Name, status, typedField(status))
				}
			})
		}
	}
	assert.Equal(t, 28+14, ops, "every operation, and a raw-body variant of the 14 with a request body")

	// Transport failures and refusing editors come back as errors, never as responses.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	failing := []struct {
		desc string
		opts []api.ClientOption
	}{
		{desc: "server gone", opts: []api.ClientOption{api.WithHTTPClient(closed.Client())}},
		{desc: "client editor refuses", opts: []api.ClientOption{api.WithRequestEditorFn(func(context.Context, *http.Request) error { return errors.New("refused") })}},
	}
	for _, f := range failing {
		fc, err := api.NewClientWithResponses(closed.URL, f.opts...)
		require.NoError(t, err)
		fv := reflect.ValueOf(fc)
		for i := range ct.NumMethod() {
			m := ct.Method(i)
			if !strings.HasSuffix(m.Name, "WithResponse") {
				continue
			}
			out := fv.Method(i).Call(arguments(t, m.Type, func(context.Context, *http.Request) error { return nil }))
			assert.False(t, out[1].IsNil(), "%s/%s returns the error", f.desc, m.Name)
			assert.True(t, out[0].IsNil(), "%s/%s returns no response", f.desc, m.Name)
		}
	}
	assert.Empty(t, bindErrors, "the server wrappers bind what the client sends")
}

func typedField(status int) string {
	switch {
	case status < 300:
		return "JSON" + strconv.Itoa(status)
	default:
		return "ApplicationproblemJSON" + strconv.Itoa(status)
	}
}

// arguments builds a call of a client method: ids, filled-in query
// parameters, a JSON body, and the request editor.
func arguments(t *testing.T, mt reflect.Type, editor api.RequestEditorFn) []reflect.Value {
	t.Helper()
	var args []reflect.Value
	// mt includes the receiver at 0.
	for j := 1; j < mt.NumIn(); j++ {
		in := mt.In(j)
		switch {
		case mt.IsVariadic() && j == mt.NumIn()-1:
			args = append(args, reflect.ValueOf(editor))
		case in == reflect.TypeFor[context.Context]():
			args = append(args, reflect.ValueOf(t.Context()))
		case in == reflect.TypeFor[io.Reader]():
			args = append(args, reflect.ValueOf(strings.NewReader(`{}`)))
		case in.Kind() == reflect.String:
			args = append(args, reflect.ValueOf("application/json").Convert(in))
		case in.Kind() == reflect.Array && in.ConvertibleTo(reflect.TypeFor[uuid.UUID]()):
			args = append(args, reflect.ValueOf(uuid.Must(uuid.NewV7())).Convert(in))
		case in.Kind() == reflect.Pointer && in.Elem().Kind() == reflect.Struct:
			args = append(args, filledParams(in.Elem()))
		default:
			args = append(args, reflect.Zero(in))
		}
	}
	return args
}

// filledParams returns a params struct with every optional field set, so
// the client encodes and the server binds each query parameter.
func filledParams(st reflect.Type) reflect.Value {
	p := reflect.New(st)
	for k := range st.NumField() {
		f := p.Elem().Field(k)
		if f.Kind() != reflect.Pointer {
			continue
		}
		v := reflect.New(f.Type().Elem())
		switch e := v.Elem(); {
		case e.Kind() == reflect.Int:
			e.SetInt(5)
		case e.Kind() == reflect.String:
			e.SetString("value")
		case e.Kind() == reflect.Array:
			e.Set(reflect.ValueOf(uuid.Must(uuid.NewV7())).Convert(e.Type()))
		}
		f.Set(v)
	}
	return p
}

// TestEnumsMatchSpec: the generated enum types accept exactly the spec's values.
func TestEnumsMatchSpec(t *testing.T) {
	tests := []struct {
		desc  string
		valid func(string) bool
		good  []string
	}{
		{desc: "algorithm", valid: func(s string) bool { return api.Algorithm(s).Valid() },
			good: []string{"A256GCM", "A256KW", "RSA-OAEP-256", "ECDH-ES+A256KW", "ES256", "ES384", "EdDSA", "RS256", "PS256", "HS256"}},
		{desc: "purpose", valid: func(s string) bool { return api.Purpose(s).Valid() }, good: []string{"encrypt", "sign", "mac"}},
		{desc: "key status", valid: func(s string) bool { return api.KeyStatus(s).Valid() }, good: []string{"enabled", "disabled", "destroyed"}},
		{desc: "key status update", valid: func(s string) bool { return api.UpdateElasticKeyRequestStatus(s).Valid() }, good: []string{"enabled", "disabled"}},
		{desc: "audit outcome", valid: func(s string) bool { return api.AuditEventOutcome(s).Valid() }, good: []string{"success", "failure"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			for _, v := range tc.good {
				assert.True(t, tc.valid(v), v)
			}
			assert.False(t, tc.valid("bogus"))
			assert.False(t, tc.valid(""))
		})
	}
	_, err := api.NewClient("https://kms.example", api.WithBaseURL("https://other.example"))
	require.NoError(t, err)
	_, err = api.NewClient("https://kms.example", api.WithBaseURL("://bad"))
	require.Error(t, err)
}

// TestServerBindingRejectsBadParameters: the generated wrappers refuse a
// malformed path id or a non-integer/non-UUID query value through the error
// handler, before any handler runs.
func TestServerBindingRejectsBadParameters(t *testing.T) {
	id := uuid.Must(uuid.NewV7()).String()
	routers := []struct {
		desc string
		h    func(si api.ServerInterface, onErr func(http.ResponseWriter, *http.Request, error)) http.Handler
	}{
		{desc: "HandlerWithOptions", h: func(si api.ServerInterface, onErr func(http.ResponseWriter, *http.Request, error)) http.Handler {
			return api.HandlerWithOptions(si, api.GorillaServerOptions{ErrorHandlerFunc: onErr})
		}},
		{desc: "Handler", h: func(si api.ServerInterface, _ func(http.ResponseWriter, *http.Request, error)) http.Handler {
			return api.Handler(si)
		}},
		{desc: "HandlerFromMux", h: func(si api.ServerInterface, _ func(http.ResponseWriter, *http.Request, error)) http.Handler {
			return api.HandlerFromMux(si, mux.NewRouter())
		}},
		{desc: "HandlerFromMuxWithBaseURL", h: func(si api.ServerInterface, _ func(http.ResponseWriter, *http.Request, error)) http.Handler {
			return http.StripPrefix("/base", api.HandlerFromMuxWithBaseURL(si, mux.NewRouter(), ""))
		}},
	}
	doc, err := openapi3.NewLoader().LoadFromData(api.SpecYAML)
	require.NoError(t, err)
	var targets []struct{ method, target string }
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			good := strings.NewReplacer("{id}", id, "{mid}", id, "{uid}", id).Replace(path)
			for _, param := range []string{"{id}", "{mid}", "{uid}"} {
				if strings.Contains(path, param) {
					bad := strings.NewReplacer(param, "not-a-uuid", "{id}", id, "{mid}", id, "{uid}", id).Replace(path)
					targets = append(targets, struct{ method, target string }{method, bad})
				}
			}
			for _, p := range op.Parameters {
				sch := p.Value.Schema.Value
				if p.Value.In == "query" && (sch.Type.Is("integer") || sch.Format == "uuid") {
					targets = append(targets, struct{ method, target string }{method, good + "?" + p.Value.Name + "=not-valid"})
				}
			}
		}
	}
	require.NotEmpty(t, targets)
	for _, rt := range routers {
		var errs []string
		h := rt.h(stubServer{}, func(w http.ResponseWriter, _ *http.Request, err error) {
			errs = append(errs, err.Error())
			assert.Error(t, err)
			_ = errors.Unwrap(err)
			http.Error(w, "bad parameter", http.StatusBadRequest)
		})
		for _, tc := range targets {
			t.Run(rt.desc+"/"+tc.method+" "+tc.target, func(t *testing.T) {
				rec := httptest.NewRecorder()
				target := tc.target
				if rt.desc == "HandlerFromMuxWithBaseURL" {
					target = "/base" + target
				}
				// The stub's nil interface panics if a handler is reached.
				require.NotPanics(t, func() { h.ServeHTTP(rec, httptest.NewRequest(tc.method, target, nil)) }, "a handler was reached")
				assert.Equal(t, http.StatusBadRequest, rec.Code)
			})
		}
		if rt.desc == "HandlerWithOptions" {
			assert.Len(t, errs, len(targets), "each bad parameter reported once")
		}
	}
}

// TestJWKKeepsEveryMember: a JWK round-trips with its algorithm-specific
// members (x, y, crv, n, e) in AdditionalProperties.
func TestJWKKeepsEveryMember(t *testing.T) {
	in := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256","use":"sig"}`
	var j api.JWK
	require.NoError(t, json.Unmarshal([]byte(in), &j))
	assert.Equal(t, "EC", j.Kty)
	crv, ok := j.Get("crv")
	require.True(t, ok)
	assert.Equal(t, "P-256", crv)
	j.Set("ext", true)
	out, err := json.Marshal(j)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(out, &back))
	assert.Equal(t, true, back["ext"])
	assert.Equal(t, "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", back["y"])
	require.Error(t, json.Unmarshal([]byte(`{"kty":5}`), &j))
	spec, err := api.GetSpecJSON()
	require.NoError(t, err)
	assert.NotEmpty(t, spec)
}

// TestParamErrorsNameTheParameter: the generated binding errors name the
// parameter and keep their cause for errors.Is.
func TestParamErrorsNameTheParameter(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		desc     string
		err      error
		hasCause bool
	}{
		{desc: "unescaped cookie", err: &api.UnescapedCookieParamError{ParamName: "p", Err: cause}, hasCause: true},
		{desc: "unmarshaling", err: &api.UnmarshalingParamError{ParamName: "p", Err: cause}, hasCause: true},
		{desc: "required", err: &api.RequiredParamError{ParamName: "p"}},
		{desc: "required header", err: &api.RequiredHeaderError{ParamName: "p", Err: cause}, hasCause: true},
		{desc: "invalid format", err: &api.InvalidParamFormatError{ParamName: "p", Err: cause}, hasCause: true},
		{desc: "too many values", err: &api.TooManyValuesForParamError{ParamName: "p", Count: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Contains(t, tc.err.Error(), "p")
			assert.Equal(t, tc.hasCause, errors.Is(tc.err, cause))
		})
	}
}

// TestClientRequestEditors: client-wide and per-call editors both run, and
// an editor's error stops the request.
func TestClientRequestEditors(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := api.NewClientWithResponses(srv.URL, api.WithHTTPClient(srv.Client()),
		api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error { r.Header.Set("X-Client", "1"); return nil }))
	require.NoError(t, err)
	_, err = c.GetElasticKeyWithResponse(t.Context(), uuid.Must(uuid.NewV7()),
		func(_ context.Context, r *http.Request) error { r.Header.Set("X-Call", "2"); return nil })
	require.NoError(t, err)
	assert.Equal(t, "1", got.Get("X-Client"))
	assert.Equal(t, "2", got.Get("X-Call"))
	_, err = c.GetElasticKeyWithResponse(t.Context(), uuid.Must(uuid.NewV7()),
		func(context.Context, *http.Request) error { return errors.New("editor refused") })
	require.ErrorContains(t, err, "editor refused")
}
