package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// ParseLevel parses a log level the way Setup does: "" is info; otherwise
// slog's names (debug, info, warn, error, any case, with an optional offset
// such as "warn+2"). Services call it to validate their configuration before
// they start, so --check-config and startup agree.
func ParseLevel(s string) (slog.Level, error) {
	var level slog.Level
	if s == "" {
		return level, nil
	}
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return level, fmt.Errorf("telemetry: log level %q: want debug, info, warn or error", s)
	}
	return level, nil
}

// ValidateFormat reports whether Setup accepts the log format s: json
// (also ""), or text, in any case.
func ValidateFormat(s string) error {
	switch strings.ToLower(s) {
	case "", "json", "text":
		return nil
	}
	return fmt.Errorf("telemetry: log format %q: want json or text", s)
}

func newLogger(opts Options) (*slog.Logger, error) {
	level, err := ParseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	if err := ValidateFormat(opts.Format); err != nil {
		return nil, err
	}
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: Redact}
	var h slog.Handler
	switch strings.ToLower(opts.Format) {
	case "", "json":
		h = slog.NewJSONHandler(out, ho)
	default: // "text"; ValidateFormat allowed nothing else
		h = slog.NewTextHandler(out, ho)
	}
	logger := slog.New(traceHandler{h})
	if opts.Service != "" {
		logger = logger.With(slog.String("service", opts.Service))
	}
	return logger, nil
}

// Redacted replaces the value of a sensitive attribute.
const Redacted = "[REDACTED]"

// sensitiveExact are keys masked when equal (case-insensitive) to the
// attribute key; they are too short or too common to match as substrings.
var sensitiveExact = map[string]bool{
	"code": true, "authorization_code": true, "code_verifier": true, "assertion": true,
	"api_key": true, "apikey": true, "key_material": true, "otp": true, "dk": true,
}

// sensitiveParts mask any key containing them: "client_secret",
// "refresh_token", "new_password", "Authorization", "set-cookie"...
var sensitiveParts = []string{"password", "passwd", "secret", "token", "authorization", "cookie", "plaintext", "passphrase", "private_key", "credential"}

// IsSensitive reports whether an attribute key names something that must not
// be logged (passwords, secrets, tokens, authorization codes, plaintext...).
// It errs on the side of masking: "token_type" is masked too.
func IsSensitive(key string) bool {
	k := strings.ToLower(key)
	if sensitiveExact[k] {
		return true
	}
	for _, p := range sensitiveParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Redact is a slog.HandlerOptions.ReplaceAttr that masks the values of
// sensitive attributes (see IsSensitive), at any group depth, and every
// attribute inside a sensitive group: slog calls ReplaceAttr for the leaves
// of a group only, so slog.Group("credentials", "value", x) would otherwise
// print x. Loggers made by Setup and New use it; it is exported for other
// handlers.
func Redact(groups []string, a slog.Attr) slog.Attr {
	if IsSensitive(a.Key) || slices.ContainsFunc(groups, IsSensitive) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

// traceHandler adds trace_id and span_id to records logged with a context
// that carries a valid span, so logs and traces can be joined.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
