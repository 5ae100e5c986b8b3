package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// DecodeError is returned by DecodeJSON. Status is the HTTP status to answer
// (400, 413 or 415) and Detail a message safe to show the client; the cause,
// if any, is kept for logs via errors.Unwrap.
type DecodeError struct {
	Status int
	Detail string
	err    error
}

func (e *DecodeError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("decode request (%d): %s: %v", e.Status, e.Detail, e.err)
	}
	return fmt.Sprintf("decode request (%d): %s", e.Status, e.Detail)
}

func (e *DecodeError) Unwrap() error { return e.err }

// Problem returns the problem+json body for e.
func (e *DecodeError) Problem() Problem {
	return Problem{Status: e.Status, Detail: e.Detail}
}

// DecodeJSON decodes the request body into v, strictly: the Content-Type
// must be application/json (parameters allowed; a charset must be utf-8),
// else 415; the body may not exceed DefaultMaxBodyBytes (or a smaller
// LimitBody in front), else 413; an empty body, a body that is not UTF-8,
// malformed JSON, a wrong value type, an unknown field or trailing data
// after the value is 400. Every error is a *DecodeError.
//
// Field names match case-insensitively (encoding/json semantics).
func DecodeJSON(r *http.Request, v any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.Body == nil {
		return &DecodeError{Status: http.StatusBadRequest, Detail: "request body is empty"}
	}
	body, err := readUTF8(r.Body)
	if err != nil {
		return err
	}
	return decodeStrict(bytes.NewReader(body), v)
}

// readUTF8 reads a body of at most DefaultMaxBodyBytes that must be UTF-8
// (RFC 8259 §8.1). encoding/json would silently turn every invalid byte
// into U+FFFD: two different byte strings would then decode to one value
// (one stored name), so such a body is refused, not repaired.
func readUTF8(body io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, io.NopCloser(body), DefaultMaxBodyBytes))
	if err != nil {
		return nil, decodeError(err)
	}
	if !utf8.Valid(raw) {
		return nil, &DecodeError{Status: http.StatusBadRequest, Detail: "request body is not valid UTF-8"}
	}
	return raw, nil
}

// decodeStrict decodes exactly one JSON value from body into v, refusing
// unknown fields and anything after the value.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	// A second value, or any non-space byte, after the first is an error:
	// "{}{}" or "{} x" must not be half-accepted.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if de := decodeError(err); de.Status != http.StatusBadRequest {
				return de
			}
		}
		return &DecodeError{Status: http.StatusBadRequest, Detail: "unexpected data after the JSON value", err: err}
	}
	return nil
}

// ReadJSON reads the request body for a handler that decodes it itself
// (an OpenAPI validator, for one): the same Content-Type, size, emptiness
// encoding and syntax checks as DecodeJSON, with the same *DecodeError answers, but
// the bytes are only scanned, not decoded, and returned as they came.
func ReadJSON(r *http.Request) ([]byte, error) {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.Body == nil {
		return nil, &DecodeError{Status: http.StatusBadRequest, Detail: "request body is empty"}
	}
	body, err := readUTF8(r.Body)
	if err != nil {
		return nil, err
	}
	if json.Valid(body) {
		return body, nil
	}
	// Invalid or empty: the decoder says what is wrong, and where, in the
	// words DecodeJSON uses. This is the rare path; json.Valid allocates
	// nothing on the common one.
	var raw json.RawMessage
	if err := decodeStrict(bytes.NewReader(body), &raw); err != nil {
		return nil, err
	}
	return nil, &DecodeError{Status: http.StatusBadRequest, Detail: "malformed JSON"}
}

func checkJSONContentType(ct string) error {
	if ct == "" {
		return &DecodeError{Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json"}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return &DecodeError{Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json", err: err}
	}
	if mt != "application/json" {
		return &DecodeError{Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json"}
	}
	// RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &DecodeError{Status: http.StatusUnsupportedMediaType, Detail: "JSON must be encoded as utf-8"}
	}
	return nil
}

func decodeError(err error) *DecodeError {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &DecodeError{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), err: err}
	case errors.Is(err, io.EOF):
		return &DecodeError{Status: http.StatusBadRequest, Detail: "request body is empty", err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &DecodeError{Status: http.StatusBadRequest, Detail: "malformed JSON: unexpected end of input", err: err}
	case errors.As(err, &syntax):
		return &DecodeError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("malformed JSON at byte %d", syntax.Offset), err: err}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(root)"
		}
		return &DecodeError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("field %s: expected %s, got JSON %s", clip(field), typ.Type, typ.Value), err: err}
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &DecodeError{Status: http.StatusBadRequest, Detail: "unknown field " + clip(name), err: err}
	}
	return &DecodeError{Status: http.StatusBadRequest, Detail: "malformed JSON", err: err}
}

// clip bounds client-controlled text echoed in a Detail.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
