package keycrypto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// The package accepts a JOSE object only in the one form its own Encrypt, Sign and MAC produce. go-jose is
// more liberal (it honours "zip", "crit", an embedded "jwk", an encrypted key next to "dir", …), and every
// such liberty is a way to hand the KMS a second spelling of the same object or to make it process input it
// never made. The checks here run on the raw compact text before go-jose sees it, and once more against the
// key the kid names.

// Protected header members each kind of object may carry. Anything else (zip, crit, b64, jku, jwk, x5u,
// x5c, typ, cty, apu, apv, p2s, …) is refused, whether or not go-jose would honour it.
var (
	jweHeaderMembers = map[string]bool{"alg": true, "enc": true, "kid": true, string(contextHeader): true, "epk": true}
	jwsHeaderMembers = map[string]bool{"alg": true, "kid": true}
)

// splitCanonical splits a compact object into its n parts and decodes each one, requiring base64url without
// padding in its canonical form (no stray bits in the last character), and a protected header that is a JSON
// object with only allowed members, each once. It returns the decoded parts and the header members.
func splitCanonical(op, compact string, n int, allowed map[string]bool) ([][]byte, map[string]json.RawMessage, error) {
	parts := strings.Split(compact, ".")
	if len(parts) != n {
		return nil, nil, newError(CodeMalformed, fmt.Sprintf("%s: %d parts, a compact object of this KMS has %d", op, len(parts), n), nil)
	}
	decoded := make([][]byte, n)
	for i, p := range parts {
		raw, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return nil, nil, newError(CodeMalformed, fmt.Sprintf("%s: part %d is not unpadded base64url", op, i+1), err)
		}
		decoded[i] = raw
	}
	header, err := headerMembers(decoded[0])
	if err != nil {
		return nil, nil, newError(CodeMalformed, op+": protected header", err)
	}
	for name := range header {
		if !allowed[name] {
			return nil, nil, newError(CodeMalformed, fmt.Sprintf("%s: protected header member %q is not accepted", op, name), nil)
		}
	}
	return decoded, header, nil
}

// headerMembers decodes a JSON object into its members, refusing duplicates (encoding/json and go-jose keep
// the last one silently, so {"alg":"dir","alg":"A256KW"} would mean whatever the reader picks).
func headerMembers(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("member name is not a string")
		}
		if _, dup := members[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		members[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return members, nil
}

// stringMember returns a header member that must be a JSON string.
func stringMember(op string, header map[string]json.RawMessage, name string) (string, error) {
	raw, ok := header[name]
	if !ok {
		return "", newError(CodeMalformed, fmt.Sprintf("%s: protected header has no %q", op, name), nil)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", newError(CodeMalformed, fmt.Sprintf("%s: protected header %q is not a string", op, name), err)
	}
	return s, nil
}

// compactJWE is a compact JWE that passed the structural checks, with what the key checks need.
type compactJWE struct {
	alg, enc     string
	encryptedKey []byte
	hasEPK       bool
}

// parseCompactJWE checks the key-independent canonical form of a compact JWE: five parts, all unpadded
// base64url, a protected header of accepted members with string alg and enc, a non-empty IV and tag.
func parseCompactJWE(op, compact string) (compactJWE, error) {
	parts, header, err := splitCanonical(op, compact, 5, jweHeaderMembers)
	if err != nil {
		return compactJWE{}, err
	}
	alg, err := stringMember(op, header, "alg")
	if err != nil {
		return compactJWE{}, err
	}
	enc, err := stringMember(op, header, "enc")
	if err != nil {
		return compactJWE{}, err
	}
	if len(parts[2]) == 0 || len(parts[4]) == 0 {
		return compactJWE{}, newError(CodeMalformed, op+": empty IV or authentication tag", nil)
	}
	_, hasEPK := header["epk"]
	return compactJWE{alg: alg, enc: enc, encryptedKey: parts[1], hasEPK: hasEPK}, nil
}

// checkFor checks the parts of the canonical form that depend on the key: alg and enc are the key's, the
// encrypted key is empty exactly for direct encryption and direct key agreement (RFC 7516 §5.2 step 10:
// a JWE with "dir" or "ECDH-ES" and a non-empty encrypted key must be rejected) and present otherwise, and
// an ephemeral public key appears exactly for ECDH-ES algorithms.
func (j compactJWE) checkFor(op string, key *Key) error {
	want := specs[key.alg].keyAlg
	if j.alg != string(want) {
		return newError(CodeUnsupportedAlgorithm,
			fmt.Sprintf("%s: JWE alg %q is not the algorithm of key %q (%s)", op, j.alg, key.kid, key.alg), nil)
	}
	if j.enc != string(contentEncryption) {
		return newError(CodeUnsupportedAlgorithm, fmt.Sprintf("%s: JWE enc %q, this KMS uses %s", op, j.enc, contentEncryption), nil)
	}
	direct := want == jose.DIRECT || want == jose.ECDH_ES
	switch {
	case direct && len(j.encryptedKey) != 0:
		return newError(CodeMalformed, fmt.Sprintf("%s: JWE alg %q must have an empty encrypted key", op, want), nil)
	case !direct && len(j.encryptedKey) == 0:
		return newError(CodeMalformed, fmt.Sprintf("%s: JWE alg %q needs an encrypted key", op, want), nil)
	}
	agreement := want == jose.ECDH_ES || want == jose.ECDH_ES_A128KW || want == jose.ECDH_ES_A192KW || want == jose.ECDH_ES_A256KW
	if agreement != j.hasEPK {
		return newError(CodeMalformed, fmt.Sprintf(`%s: header "epk" present=%t, JWE alg %q`, op, j.hasEPK, want), nil)
	}
	return nil
}

// parseCompactJWS checks the key-independent canonical form of a compact JWS: three parts, all unpadded
// base64url (so no detached or unencoded payload), a protected header with only alg and kid. It returns the
// header's alg; the caller compares it with the key's. An empty signature is left to go-jose, which refuses
// "none" as an algorithm, and to the verifiers, which refuse it as a signature.
func parseCompactJWS(op, compact string) (string, error) {
	_, header, err := splitCanonical(op, compact, 3, jwsHeaderMembers)
	if err != nil {
		return "", err
	}
	return stringMember(op, header, "alg")
}
