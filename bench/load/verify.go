package load

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ResponseError is an answer that is not what the endpoint promises: a
// wrong status, or a body that does not check out.
type ResponseError struct {
	Status int
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason)
}

func wrong(status int, format string, args ...any) error {
	return &ResponseError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// decode checks the status and decodes the JSON body into v; unknown
// fields are fine (the services may add some), a body that is not JSON is
// not.
func decode(status, want int, body []byte, v any) error {
	if status != want {
		return wrong(status, "want %d; body %.200s", want, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return wrong(status, "body is not the expected JSON: %v", err)
	}
	return nil
}

// verifyEncrypt checks an encrypt answer: a compact JWE (five parts) whose
// protected header names direct A256GCM encryption and the key version.
// It returns the ciphertext.
func verifyEncrypt(status int, body []byte) (string, error) {
	var r struct {
		Ciphertext string `json:"ciphertext"`
		Kid        string `json:"kid"`
	}
	if err := decode(status, http.StatusOK, body, &r); err != nil {
		return "", err
	}
	parts := strings.Split(r.Ciphertext, ".")
	if len(parts) != 5 || r.Kid == "" {
		return "", wrong(status, "ciphertext is not a compact JWE with a kid")
	}
	var h struct{ Alg, Enc, Kid string }
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return "", wrong(status, "JWE protected header does not decode")
	}
	if h.Alg != "dir" || h.Enc != "A256GCM" || h.Kid != r.Kid {
		return "", wrong(status, "JWE header alg=%q enc=%q kid=%q, want dir, A256GCM, %q", h.Alg, h.Enc, h.Kid, r.Kid)
	}
	return r.Ciphertext, nil
}

// verifyDecrypt checks that a decrypt answer holds exactly want.
func verifyDecrypt(status int, body, want []byte) error {
	var r struct {
		Plaintext []byte `json:"plaintext"` // standard base64
	}
	if err := decode(status, http.StatusOK, body, &r); err != nil {
		return err
	}
	if !bytes.Equal(r.Plaintext, want) {
		return wrong(status, "decrypted %d bytes that differ from the %d-byte plaintext", len(r.Plaintext), len(want))
	}
	return nil
}

// verifySign checks a sign answer: a compact JWS over payload, signed
// ES256. It returns the signature.
func verifySign(status int, body, payload []byte) (string, error) {
	var r struct {
		Signature string `json:"signature"`
		Kid       string `json:"kid"`
	}
	if err := decode(status, http.StatusOK, body, &r); err != nil {
		return "", err
	}
	parts := strings.Split(r.Signature, ".")
	if len(parts) != 3 || r.Kid == "" {
		return "", wrong(status, "signature is not a compact JWS with a kid")
	}
	if parts[1] != base64.RawURLEncoding.EncodeToString(payload) {
		return "", wrong(status, "JWS payload is not the signed payload")
	}
	var h struct{ Alg string }
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &h) != nil || h.Alg != "ES256" {
		return "", wrong(status, "JWS header is not ES256")
	}
	// An ES256 signature is r||s, 64 bytes.
	if sig, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(sig) != 64 {
		return "", wrong(status, "JWS signature is not 64 bytes of ES256")
	}
	return r.Signature, nil
}

// verifyValid checks that a verify answer says valid.
func verifyValid(status int, body []byte) error {
	var r struct {
		Valid *bool `json:"valid"`
	}
	if err := decode(status, http.StatusOK, body, &r); err != nil {
		return err
	}
	if r.Valid == nil || !*r.Valid {
		return wrong(status, "signature not valid: %.200s", body)
	}
	return nil
}

// tokenResponse is the part of an OAuth token answer the harness uses.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// verifyToken checks a client-credentials answer: a bearer access token
// that is a JWT, with a lifetime.
func verifyToken(status int, body []byte) (tokenResponse, error) {
	var r tokenResponse
	if err := decode(status, http.StatusOK, body, &r); err != nil {
		return r, err
	}
	if strings.Count(r.AccessToken, ".") != 2 || !strings.EqualFold(r.TokenType, "Bearer") || r.ExpiresIn <= 0 {
		return r, wrong(status, "token answer lacks a JWT bearer access_token with expires_in")
	}
	return r, nil
}

// verifyActive checks that an introspection answer says active.
func verifyActive(status int, body []byte) error {
	var r struct {
		Active bool `json:"active"`
	}
	if err := decode(status, http.StatusOK, body, &r); err != nil {
		return err
	}
	if !r.Active {
		return wrong(status, "token not active")
	}
	return nil
}
