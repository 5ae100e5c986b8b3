package keycrypto

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The package accepts a JOSE object only in the one form its own Encrypt, Sign and MAC produce. go-jose is
// more liberal: it decrypts a "dir" JWE that carries an encrypted key (RFC 7516 §5.2 step 10 says reject),
// honours "zip", an embedded "jwk" or "x5c", accepts padded base64 and stray low bits in the last base64
// character. Each liberty is a second spelling of one object, or a way to make the KMS process input it
// never made.
//
// The checks cost no allocations, because they run on every decrypt and verify: the raw compact text is
// scanned in place (part count, strict unpadded base64url), and the header members are checked on what
// go-jose has already parsed (it refuses duplicate members itself). Every header member that is not a
// field of jose.Header lands in Header.ExtraHeaders, so that map is the list of members to check.

// errMissingX5c is what jose.Header.Certificates returns for a header without "x5c".
var errMissingX5c = jose.ErrMissingX5cHeader

// compactParts splits compact into exactly len(parts) parts, each of which must be strict unpadded
// base64url. The parts are substrings of compact: nothing is copied.
func compactParts(op, compact string, parts []string) error {
	rest := compact
	for i := range parts {
		p := rest
		if i < len(parts)-1 {
			var ok bool
			if p, rest, ok = strings.Cut(rest, "."); !ok {
				return newError(CodeMalformed, fmt.Sprintf("%s: %d parts, a compact object of this KMS has %d", op, i+1, len(parts)), nil)
			}
		} else if strings.IndexByte(p, '.') >= 0 {
			return newError(CodeMalformed, fmt.Sprintf("%s: more than %d parts", op, len(parts)), nil)
		}
		if !canonicalBase64URL(p) {
			return newError(CodeMalformed, fmt.Sprintf("%s: part %d is not unpadded base64url in its canonical form", op, i+1), nil)
		}
		parts[i] = p
	}
	return nil
}

// canonicalBase64URL reports whether s is the one unpadded base64url encoding of some bytes: only the URL
// alphabet, no padding, a length that encodes whole bytes, and zero unused bits in the last character (a
// lenient decoder maps several last characters to the same bytes).
func canonicalBase64URL(s string) bool {
	if len(s)%4 == 1 {
		return false
	}
	last := 0
	for i := 0; i < len(s); i++ {
		v := base64URLValue(s[i])
		if v < 0 {
			return false
		}
		last = v
	}
	switch len(s) % 4 {
	case 2: // one byte: 8 of the 12 bits are used
		return last&0x0f == 0
	case 3: // two bytes: 16 of the 18 bits are used
		return last&0x03 == 0
	}
	return true
}

// base64URLValue is the 6-bit value of a base64url character, or -1.
func base64URLValue(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// checkHeaderFields refuses the members go-jose parses into jose.Header's own fields other than alg and
// kid: an embedded key, a certificate chain, a nonce. This package never writes them.
func checkHeaderFields(op string, h *jose.Header) error {
	switch {
	case h.JSONWebKey != nil:
		return newError(CodeMalformed, op+`: protected header member "jwk" is not accepted`, nil)
	case h.Nonce != "":
		return newError(CodeMalformed, op+`: protected header member "nonce" is not accepted`, nil)
	}
	if _, err := h.Certificates(x509.VerifyOptions{}); !errors.Is(err, errMissingX5c) {
		return newError(CodeMalformed, op+`: protected header member "x5c" is not accepted`, nil)
	}
	return nil
}

// checkJWEForm checks a parsed compact JWE (parts as compactParts split it) against the form Encrypt
// produces for key: header members alg, enc, kid, the context, and epk exactly for ECDH-ES; an encrypted
// key exactly when the algorithm wraps or transports a key (empty for "dir" and "ECDH-ES", RFC 7516 §5.2
// step 10); a non-empty IV and tag. The caller has checked that alg is the key's.
func checkJWEForm(op string, h *jose.Header, parts *[5]string, key *Key) error {
	if err := checkHeaderFields(op, h); err != nil {
		return err
	}
	alg := specs[key.alg].keyAlg
	ecdh := alg == jose.ECDH_ES || alg == jose.ECDH_ES_A256KW
	for name := range h.ExtraHeaders {
		switch {
		case name == "enc", name == contextHeader, name == "epk" && ecdh:
		default:
			return newError(CodeMalformed, fmt.Sprintf("%s: protected header member %q is not accepted", op, name), nil)
		}
	}
	if _, ok := h.ExtraHeaders["epk"]; ecdh && !ok {
		return newError(CodeMalformed, op+`: an ECDH-ES JWE without "epk"`, nil)
	}
	direct := alg == jose.DIRECT || alg == jose.ECDH_ES
	switch {
	case direct && parts[1] != "":
		return newError(CodeMalformed, fmt.Sprintf("%s: a %s JWE carries no encrypted key", op, alg), nil)
	case !direct && parts[1] == "":
		return newError(CodeMalformed, fmt.Sprintf("%s: a %s JWE needs an encrypted key", op, alg), nil)
	case parts[2] == "" || parts[4] == "":
		return newError(CodeMalformed, op+": empty IV or authentication tag", nil)
	}
	return nil
}

// checkJWSForm checks a parsed compact JWS's protected header against the form Sign and MAC produce: alg
// and kid, nothing else (no "b64", "crit", "typ", "jku", "x5u", ...).
func checkJWSForm(op string, h *jose.Header) error {
	if err := checkHeaderFields(op, h); err != nil {
		return err
	}
	for name := range h.ExtraHeaders {
		return newError(CodeMalformed, fmt.Sprintf("%s: protected header member %q is not accepted", op, name), nil)
	}
	return nil
}
