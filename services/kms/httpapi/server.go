// Package httpapi is the KMS HTTP layer: the gorilla/mux router built from
// the generated strict server interface, request validation against openapi.yaml,
// authentication and scope checks, the handlers, health endpoints, the spec
// and the Swagger UI.
package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"

	"github.com/passthru-dev/passthru/services/infra/authn"
	"github.com/passthru-dev/passthru/services/infra/httpx"
	"github.com/passthru-dev/passthru/services/kms"
	"github.com/passthru-dev/passthru/services/kms/api"
	"github.com/passthru-dev/passthru/services/kms/apikey"
	"github.com/passthru-dev/passthru/services/kms/keys"
	"github.com/passthru-dev/passthru/services/kms/realm"
	"github.com/passthru-dev/passthru/services/kms/scope"
)

// Options configures the handler.
type Options struct {
	Keys *keys.Service
	// Users backs /api/v1/admin/realm-users; UserRealms are the database
	// realms users may be created in, the first one being the default.
	Users      *realm.UserStore
	UserRealms []string
	// APIKeys backs /api/v1/admin/api-keys. Its Authenticator belongs in
	// Authenticators for the keys to be accepted.
	APIKeys *apikey.Service
	// Authenticators are tried in order (Basic today; Bearer plugs in here).
	Authenticators []authn.Authenticator
	// ExtraChallenges are advertised in 401 responses beside the
	// authenticators' own.
	ExtraChallenges []string
	Logger          *slog.Logger
}

// New returns the KMS HTTP handler (without the transport middleware of
// httpx: request id, recover, access log and body limit are the caller's).
func New(ctx context.Context, opts Options) (http.Handler, error) {
	if opts.Keys == nil || opts.Users == nil || len(opts.UserRealms) == 0 || opts.APIKeys == nil {
		return nil, errors.New("httpapi: Keys, Users, UserRealms and APIKeys are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handlers{opts: opts, logger: opts.Logger}
	g, err := newGate(ctx, h)
	if err != nil {
		return nil, err
	}

	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, kms.New(kms.NotFound, "no such resource"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, kms.New(kms.MethodNotAllowed, "method %s not allowed here", r.Method))
	})
	r.HandleFunc("/api/v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(api.SpecYAML)
	}).Methods(http.MethodGet)
	ui := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "Passthru KMS",
		SwaggerJSON: "/api/v1/openapi.yaml",
		BasePath:    "/ui/swagger/",
		SettingsUI: map[string]string{
			// Keep what the user typed into "Authorize" across reloads of the page.
			"persistAuthorization": "true",
		},
	})
	r.Handle("/ui/swagger", http.RedirectHandler("/ui/swagger/", http.StatusMovedPermanently)).Methods(http.MethodGet)
	r.PathPrefix("/ui/swagger/").Handler(ui).Methods(http.MethodGet, http.MethodHead)

	r.Use(g.middleware)
	strict := h.strict()
	api.HandlerWithOptions(strict, api.GorillaServerOptions{
		BaseRouter: r,
		ErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			h.fail(w, r, kms.Wrap(err, kms.InvalidRequest, "%s", err.Error()))
		},
	})
	// A declared oversize body is refused before routing, with the
	// service's problem code; undeclared (chunked) ones are cut by
	// httpx.DecodeJSON at the same limit.
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.ContentLength > MaxBodyBytes {
			h.fail(w, req, tooLarge())
			return
		}
		r.ServeHTTP(w, req)
	}), nil
}

// newGate resolves, once, what the gate needs of every operation of the
// spec, and refuses a spec whose operations name no known scope.
func newGate(ctx context.Context, h *handlers) (*gate, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.SpecYAML)
	if err != nil {
		return nil, fmt.Errorf("load openapi spec: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi spec: %w", err)
	}
	g := &gate{h: h, ops: map[string]operation{}, validation: &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults: true,
		// The validator's decoded body rides on r.Body, and the strict
		// handler binds that value to the operation's request type: the
		// body is decoded once.
		KeepValidatedValue: true,
		// The library checks these formats with regular expressions, which
		// cost more than the rest of an encrypt on a kilobyte of base64.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidators(formatValidators()),
		},
	}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			// The spec is fixed at build time: an operation without a known
			// scope is refused here, once, rather than on every request.
			required, _ := op.Extensions["x-required-scope"].(string)
			if !scope.IsKnown(required) {
				return nil, fmt.Errorf("openapi spec: operation %s %s: x-required-scope %q is not a known scope", method, path, required)
			}
			sensitive := false
			if raw, ok := op.Extensions["x-sensitive"]; ok {
				if sensitive, ok = raw.(bool); !ok {
					return nil, fmt.Errorf("openapi spec: operation %s %s: x-sensitive must be a boolean", method, path)
				}
			}
			g.ops[method+" "+path] = operation{
				route:     &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
				scope:     required,
				sensitive: sensitive,
				auditName: snake(op.OperationID),
				idParams:  uuidPathParams(item.Parameters, op.Parameters),
			}
		}
	}
	return g, nil
}

// TooLarge answers a body over the transport's limit (an
// httpx.TooLargeFunc) exactly as one over MaxBodyBytes: the documented
// payload_too_large problem. The transport limit is above MaxBodyBytes, so
// such a body exceeds the API's limit too.
func TooLarge(w http.ResponseWriter, r *http.Request, _ int64) {
	writeError(slog.New(slog.DiscardHandler), w, r, tooLarge())
}

func tooLarge() error {
	return kms.New(kms.PayloadTooLarge, "request body exceeds %d bytes", MaxBodyBytes)
}

// MaxBodyBytes is the largest request body the API accepts. The server's own
// transport limit must be above it, so this layer answers with its code.
const MaxBodyBytes = httpx.DefaultMaxBodyBytes

// challengeRealm is the realm of the Bearer challenges the gate writes itself.
const challengeRealm = "kms"

// unavailableRetry is the Retry-After of a 503 for credentials that could
// not be checked: long enough for an issuer's keys to be fetched again.
const unavailableRetry = 5 * time.Second

// gate runs, for every API operation, in this order: the sensitive mark
// (x-sensitive), authentication (401, or 503 when the credentials cannot
// be checked now), the operation's x-required-scope (403), the canonical
// spelling of the path's ids (400), the body's media
// type, size and syntax (415, 413, 400) and validation against the spec (400).
type gate struct {
	h          *handlers
	ops        map[string]operation // by "METHOD /path/{template}"
	validation *openapi3filter.Options
}

// operation is what the gate needs of one API operation, resolved from the
// spec once.
type operation struct {
	route     *routers.Route
	scope     string   // x-required-scope
	sensitive bool     // x-sensitive: key material changes, plaintext or data keys out, administration
	auditName string   // operationId in snake case, for refused requests
	idParams  []string // path parameters of format uuid
}

// uuidPathParams names the path parameters of format uuid, from the path
// item's and the operation's parameters.
func uuidPathParams(lists ...openapi3.Parameters) []string {
	var out []string
	for _, list := range lists {
		for _, ref := range list {
			p := ref.Value
			if p != nil && p.In == openapi3.ParameterInPath && p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Format == "uuid" {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

func (g *gate) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := mux.CurrentRoute(r)
		if route == nil {
			next.ServeHTTP(w, r)
			return
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		op, ok := g.ops[r.Method+" "+tpl]
		if !ok {
			// Not an API operation: health, spec and UI are public.
			next.ServeHTTP(w, r)
			return
		}
		if op.sensitive {
			// Marked before authenticating: authenticators that trade
			// freshness for speed check these requests strictly.
			r = r.WithContext(authn.WithSensitive(r.Context()))
		}
		p, err := authn.Authenticate(r, g.h.opts.Authenticators)
		if err != nil {
			// Credentials that could not be checked (an issuer unreachable)
			// are neither missing nor wrong: no challenge, a retry later.
			if authn.Challenged(err) {
				authn.SetChallenges(w, g.h.opts.Authenticators, err, g.h.opts.ExtraChallenges...)
			}
			g.h.fail(w, r, err)
			return
		}
		ctx := authn.WithPrincipal(r.Context(), p)
		ctx = keys.WithActor(ctx, keys.Actor{
			Subject: p.Subject, Realm: p.Realm, Method: string(p.Method), ClientID: p.ClientID, RequestID: httpx.RequestIDFrom(ctx),
		})
		r = r.WithContext(ctx)
		// A refused key operation is still an event of the tenant's audit trail.
		deny := func(code kms.Code) {
			if aerr := g.h.opts.Keys.RecordDenied(ctx, p.TenantID, op.auditName, auditKeyID(mux.Vars(r)["id"]), code); aerr != nil {
				g.h.logger.WarnContext(ctx, "audit of a denied request failed", "error", aerr)
			}
		}
		if err := authn.CheckScope(ctx, op.scope); err != nil {
			deny(kms.Forbidden)
			var se *authn.ScopeError
			if p.Method == authn.MethodBearer && errors.As(err, &se) {
				// RFC 6750 §3.1: a token client learns which scope to ask for.
				w.Header().Set("WWW-Authenticate", httpx.BearerChallenge(challengeRealm, "insufficient_scope", "", se.Scope))
			}
			g.h.fail(w, r, err)
			return
		}
		// An id has one spelling: uuid.Parse, which binds path ids, also
		// takes braces, URNs, bare hex and uppercase, none of which the API
		// documents or returns.
		for _, name := range op.idParams {
			if !canonicalUUID(mux.Vars(r)[name]) {
				deny(kms.InvalidRequest)
				g.h.fail(w, r, kms.New(kms.InvalidRequest, "parameter %q: not a canonical UUID (lowercase 8-4-4-4-12 hexadecimal)", name))
				return
			}
		}
		if op.route.Operation.RequestBody != nil {
			// Media type, size and syntax first, with this API's own
			// problem codes; the bytes are only scanned here. The validator
			// decodes them once, and the strict handler binds that decoded
			// value to the operation's request type (KeepValidatedValue):
			// one parse per request.
			raw, err := httpx.ReadJSON(r)
			if err != nil {
				g.h.fail(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		in := &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: mux.Vars(r),
			Route:      op.route,
			Options:    g.validation,
		}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			g.h.fail(w, r, kms.Wrap(err, kms.InvalidRequest, "%s", validationDetail(err)))
			return
		}
		// The generated responses set only Content-Type; problem bodies
		// already carry nosniff, and so do the successful ones.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// auditKeyID is the path's key id as recorded for a refused request: the
// request has not been validated yet. A UUID in any spelling uuid.Parse
// takes (braces, URN, bare hex, uppercase) is recorded in its canonical
// form, so the event is listed under the key the request named; anything
// else is recorded as "" rather than letting a caller write free text into
// the audit trail.
func auditKeyID(raw string) string {
	id, err := uuid.Parse(raw)
	if err != nil {
		return ""
	}
	return id.String()
}

// canonicalUUID reports whether s is a UUID in its one canonical spelling:
// lowercase hexadecimal, hyphenated 8-4-4-4-12.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// snake turns an operationId (createElasticKey) into an audit operation
// name (create_elastic_key).
func snake(s string) string {
	var b strings.Builder
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// validationDetail names the failing field and rule without echoing values
// (a value may be a secret the caller sent by mistake).
func validationDetail(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		where := "/" + strings.Join(se.JSONPointer(), "/")
		return fmt.Sprintf("request body %s: %s", where, se.Reason)
	}
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		if re.Parameter != nil {
			return fmt.Sprintf("parameter %q: %s", re.Parameter.Name, clipText(re.Reason+" "+errText(re.Err)))
		}
		return clipText(re.Error())
	}
	return "the request does not match the API specification"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return se.Reason
	}
	return err.Error()
}

func clipText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

type handlers struct {
	opts   Options
	logger *slog.Logger
}

var _ api.StrictServerInterface = (*handlers)(nil)

// strict adapts the typed handlers to the generated router; both error
// hooks end in writeError, the one mapping from error to problem+json.
func (h *handlers) strict() api.ServerInterface {
	return api.NewStrictHandlerWithOptions(h, nil, api.StrictHTTPServerOptions{
		// Behind the gate a body has been checked and validated, so binding
		// it to the operation's type does not fail; a body that does not
		// bind (a byte field that is not base64) is malformed for this API.
		RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
			h.fail(w, r, kms.Wrap(err, kms.MalformedJSON, "malformed JSON"))
		},
		// Handlers return domain errors; writeError is the one mapping
		// from error to problem+json.
		ResponseErrorHandlerFunc: h.fail,
	})
}

func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(h.logger, w, r, err)
}
