package httpx

import (
	"encoding/json"
	"net/http"
	"strings"
)

// WriteOAuthError writes the RFC 6749 §5.2 error response
// {"error": code, "error_description": description} with the given status
// and Cache-Control: no-store / Pragma: no-cache (§5.1). Code and
// description are reduced to the characters §5.2 allows (printable ASCII
// without '"' and '\'); a double quote becomes a single quote.
func WriteOAuthError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{Error: oauthText(code), Description: oauthText(description)})
	noStore(w.Header())
	writeBody(w, status, "application/json", body)
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// oauthText keeps the RFC 6749 error character set: %x20-21 / %x23-5B /
// %x5D-7E.
func oauthText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r >= 0x20 && r <= 0x7e:
			return r
		}
		return '?'
	}, s)
}

// BearerChallenge returns an RFC 6750 §3 WWW-Authenticate value:
// Bearer realm="...", error="...", error_description="...", scope="...".
// Empty parameters are left out (a request without credentials gets only the
// realm, §3.1). Values are quoted-strings with '"' and '\' escaped and
// control characters dropped, so no caller text can break the header.
func BearerChallenge(realm, code, description, scope string) string {
	var params []string
	add := func(name, value string) {
		if value != "" {
			params = append(params, name+"="+QuotedString(value))
		}
	}
	add("realm", realm)
	add("error", oauthText(code))
	add("error_description", oauthText(description))
	add("scope", oauthText(scope))
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// QuotedString makes an RFC 9110 quoted-string for an auth-param: '"' and
// '\' are escaped, and control characters are dropped so that no caller
// text can split or corrupt the header it ends up in.
func QuotedString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			// CR, LF and other controls could split or corrupt the header.
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// BearerStatus is the status RFC 6750 §3.1 gives each error code:
// invalid_request 400, insufficient_scope 403, otherwise (invalid_token or
// no code at all) 401.
func BearerStatus(code string) int {
	switch code {
	case "invalid_request":
		return http.StatusBadRequest
	case "insufficient_scope":
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

// WriteBearerChallenge answers a protected-resource request whose bearer
// credentials are missing or unacceptable: it sets WWW-Authenticate (see
// BearerChallenge), Cache-Control: no-store, and writes a problem+json body
// with status BearerStatus(code) — 401 for "" and "invalid_token" — whose
// Code is the OAuth error code.
func WriteBearerChallenge(w http.ResponseWriter, realm, code, description string) {
	w.Header().Set("WWW-Authenticate", BearerChallenge(realm, code, description, ""))
	noStore(w.Header())
	detail := description
	if detail == "" {
		detail = "authentication required"
	}
	WriteProblem(w, Problem{Status: BearerStatus(code), Detail: detail, Code: code})
}
