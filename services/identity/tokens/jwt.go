package tokens

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// AccessClaims are the claims of an RFC 9068 access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope,omitempty"`
	TenantID string           `json:"tenant_id"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// Roles are the user's roles when the token was issued (RFC 9068 §2.2.3.1);
	// absent for a client's own token and for a user without roles.
	Roles []string `json:"roles,omitempty"`
}

// Scopes returns the space-separated scope claim as a list.
func (c *AccessClaims) Scopes() []string { return strings.Fields(c.Scope) }

// IDClaims are the claims of an OpenID Connect ID token.
type IDClaims struct {
	jwt.RegisteredClaims
	Nonce             string           `json:"nonce,omitempty"`
	AtHash            string           `json:"at_hash,omitempty"`
	AuthTime          *jwt.NumericDate `json:"auth_time,omitempty"`
	AZP               string           `json:"azp,omitempty"`
	TenantID          string           `json:"tenant_id,omitempty"`
	Name              string           `json:"name,omitempty"`
	PreferredUsername string           `json:"preferred_username,omitempty"`
	Email             string           `json:"email,omitempty"`
	EmailVerified     *bool            `json:"email_verified,omitempty"`
}

// Issuer signs and checks this service's JWTs.
type Issuer struct {
	Keys   *Keys
	Issuer string
	Now    func() time.Time
}

// JOSE typ values: access tokens (RFC 9068 §2.1) and ID tokens.
const (
	typAccess = "at+jwt"
	typID     = "JWT"
)

// ClockSkew is the leeway on exp, nbf and iat: small, so an expired token
// stays expired, but enough that a token minted by another instance whose
// clock runs a little ahead is not refused as "issued in the future".
const ClockSkew = 10 * time.Second

// SignAccess signs an access token (typ at+jwt) with the current key.
func (i *Issuer) SignAccess(ctx context.Context, c *AccessClaims) (string, error) {
	key, err := i.Keys.Signer(ctx)
	if err != nil {
		return "", err
	}
	return i.signWith(key, typAccess, c)
}

// SignID signs an ID token. accessToken, when not empty, is the access
// token whose at_hash the ID token carries (computed with the signing key's
// hash).
func (i *Issuer) SignID(ctx context.Context, c *IDClaims, accessToken string) (string, error) {
	key, err := i.Keys.Signer(ctx)
	if err != nil {
		return "", err
	}
	if accessToken != "" {
		c.AtHash = AtHash(key.Algorithm, accessToken)
	}
	return i.signWith(key, typID, c)
}

// signWith signs c as a compact JWS with key. It writes the token out
// itself rather than through jwt.Token.SignedString: the protected header of
// a key and typ never changes, so it is encoded once per key (see
// Key.header), and only the claims are marshalled per token.
func (i *Issuer) signWith(key *Key, typ string, c jwt.Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sign token: encode claims: %w", err)
	}
	header := key.header(typ)
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(maxSignatureSize))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := signingMethod(key.Algorithm).Sign(string(buf), key.Private)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// maxSignatureSize is the longest signature of a supported algorithm
// (RS256 with a 4096-bit key), for sizing a token's buffer once.
const maxSignatureSize = 512

// encodeHeader is the base64url JOSE protected header of a token signed
// with alg by key kid, of type typ: the members in the order
// jwt.Token.SignedString writes them (sorted), so tokens look as before.
func encodeHeader(alg, kid, typ string) string {
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, typ})
	if err != nil { // three strings always encode
		panic(fmt.Sprintf("encode JOSE header: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(h)
}

func signingMethod(alg string) jwt.SigningMethod {
	switch alg {
	case RS256:
		return jwt.SigningMethodRS256
	case EdDSA:
		return jwt.SigningMethodEdDSA
	default:
		return jwt.SigningMethodES256
	}
}

// AtHash computes the OIDC at_hash: the left half of the hash of the access
// token, with the hash that belongs to the signing algorithm.
func AtHash(alg, accessToken string) string {
	var h hash.Hash
	if alg == EdDSA {
		h = sha512.New() // Ed25519 uses SHA-512 (OpenID Connect Core, at_hash)
	} else {
		h = sha256.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// ParseAccess verifies an access token: the signature by a published key
// whose algorithm matches the header (no alg none, no HMAC, no unknown kid),
// typ at+jwt, this issuer, an unexpired exp, and, when audience is not empty,
// that aud contains it. The caller checks revocation and tenant.
func (i *Issuer) ParseAccess(ctx context.Context, raw, audience string) (*AccessClaims, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(SupportedAlgorithms),
		jwt.WithIssuer(i.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(i.now),
	}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}
	var c AccessClaims
	tok, err := jwt.NewParser(opts...).ParseWithClaims(raw, &c, i.keyFunc(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	typ, _ := tok.Header["typ"].(string)
	if t := strings.ToLower(typ); t != typAccess && t != "application/"+typAccess {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt", ErrInvalidToken, typ)
	}
	if c.ID == "" || c.Subject == "" || c.ClientID == "" || c.TenantID == "" || len(c.Audience) == 0 {
		return nil, fmt.Errorf("%w: missing required claims", ErrInvalidToken)
	}
	return &c, nil
}

// ParseID verifies an ID token this service issued (used for id_token_hint).
// Expiry is not checked: a logout hint may be an expired ID token (OIDC
// RP-Initiated Logout §2).
func (i *Issuer) ParseID(ctx context.Context, raw string) (*IDClaims, error) {
	var c IDClaims
	tok, err := jwt.NewParser(
		jwt.WithValidMethods(SupportedAlgorithms),
		jwt.WithIssuer(i.Issuer),
		jwt.WithoutClaimsValidation(),
	).ParseWithClaims(raw, &c, i.keyFunc(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if typ, _ := tok.Header["typ"].(string); strings.EqualFold(typ, typAccess) {
		return nil, fmt.Errorf("%w: an access token is not an ID token", ErrInvalidToken)
	}
	if iss, _ := c.GetIssuer(); iss != i.Issuer {
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	}
	return &c, nil
}

func (i *Issuer) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		key, err := i.Keys.Verifier(ctx, kid)
		if err != nil {
			return nil, err
		}
		// The header algorithm must be the key's own: a key verifies for one
		// algorithm only, which rules out algorithm confusion.
		if t.Method.Alg() != key.Algorithm {
			return nil, fmt.Errorf("algorithm %s does not match key %s (%s)", t.Method.Alg(), kid, key.Algorithm)
		}
		return key.Public, nil
	}
}

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}
