package keycrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	_ "crypto/sha256" // crypto.SHA256 for ES256, RS256, PS256
	_ "crypto/sha512" // crypto.SHA384 for ES384
	"errors"
	"fmt"
	"math/big"

	jose "github.com/go-jose/go-jose/v4"
)

// kidHeader is the JWS header naming the material key.
const kidHeader jose.HeaderKey = "kid"

// Verification is the outcome of a verification of a well-formed JWS.
type Verification struct {
	// Valid is true when the signature (or MAC) matches.
	Valid bool
	// Kid is the material key the JWS names, set whether or not the signature is valid.
	Kid string
	// Payload is the verified payload; nil unless Valid.
	Payload []byte
}

// Sign signs payload as a compact JWS (payload embedded, not detached) with alg and kid in the protected
// header. The key must be a signing key with its private part (not from LoadPublic).
func Sign(key *Key, payload []byte) (string, error) {
	if err := checkPurpose(key, PurposeSign, "sign"); err != nil {
		return "", err
	}
	if key.private == nil {
		return "", newError(CodeInvalidMaterial, fmt.Sprintf("sign: key %q is public-only", key.kid), nil)
	}
	return signCompact(key, key.private, payload, "sign")
}

// MAC computes an HS256 compact JWS of data (payload embedded) with alg and kid in the protected header.
func MAC(key *Key, data []byte) (string, error) {
	if err := checkPurpose(key, PurposeMAC, "mac"); err != nil {
		return "", err
	}
	return signCompact(key, key.secret, data, "mac")
}

func signCompact(key *Key, signingKey any, payload []byte, op string) (string, error) {
	// kid goes in through the header options because go-jose only sets it itself for JWK signing keys.
	opts := (&jose.SignerOptions{}).WithHeader(kidHeader, key.kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: specs[key.alg].sigAlg, Key: signingKey}, opts)
	if err != nil {
		return "", fmt.Errorf("%s with %s key %q: %w", op, key.alg, key.kid, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("%s with %s key %q: %w", op, key.alg, key.kid, err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("%s with %s key %q: serialize: %w", op, key.alg, key.kid, err)
	}
	return out, nil
}

// Verify checks a compact JWS made by Sign, and only in the one form Sign makes it (canonical.go: header
// members alg and kid only, strict unpadded base64url; anything else is ErrMalformed). The key is found by the header's kid through lookup; it must
// be a signing key (ErrWrongPurpose) whose algorithm is the header's alg (ErrUnsupportedAlgorithm).
// A signature that does not match is Valid=false with a nil error; unparseable input is ErrMalformed and
// an unknown kid ErrUnknownKid. Public-only keys (LoadPublic) verify.
func Verify(lookup Lookup, compact string) (Verification, error) {
	return verify(lookup, compact, PurposeSign, "verify")
}

// VerifyMAC checks a compact JWS made by MAC, with the same rules as Verify for an HS256 key.
func VerifyMAC(lookup Lookup, compact string) (Verification, error) {
	return verify(lookup, compact, PurposeMAC, "verify mac")
}

func verify(lookup Lookup, compact string, want Purpose, op string) (Verification, error) {
	var parts [3]string
	if err := compactParts(op, compact, parts[:]); err != nil {
		return Verification{}, err
	}
	jws, err := jose.ParseSignedCompact(compact, ourSignatureAlgorithms)
	if err != nil {
		return Verification{}, classifyParseError(op, err, func() error {
			_, err := jose.ParseSignedCompact(compact, allSignatureAlgorithms)
			return err
		})
	}
	header := jws.Signatures[0].Protected // compact serialization: exactly one signature
	if err := checkJWSForm(op, &header); err != nil {
		return Verification{}, err
	}
	key, err := findKey(lookup, header.KeyID, op)
	if err != nil {
		return Verification{}, err
	}
	if err := checkPurpose(key, want, op); err != nil {
		return Verification{}, err
	}
	if got := header.Algorithm; got != string(specs[key.alg].sigAlg) {
		return Verification{}, newError(CodeUnsupportedAlgorithm,
			fmt.Sprintf("%s: JWS alg %q is not the algorithm of key %q (%s)", op, got, key.kid, key.alg), nil)
	}
	var verificationKey any = publicVerifier{alg: key.alg, public: key.public}
	if want == PurposeMAC {
		verificationKey = key.secret
	}
	payload, err := jws.Verify(verificationKey)
	switch {
	case errors.Is(err, jose.ErrCryptoFailure):
		return Verification{Kid: key.kid}, nil
	case err != nil:
		// Not a signature mismatch: a header go-jose refuses (e.g. an unknown "crit").
		return Verification{}, newError(CodeMalformed, op, err)
	}
	return Verification{Valid: true, Kid: key.kid, Payload: payload}, nil
}

// publicVerifier is the verifier go-jose calls for every asymmetric JWS signature this package checks.
// It is ours rather than go-jose's so that the Wycheproof vectors run through exactly this code, and so
// PS256 insists on the salt length RFC 7518 §3.5 prescribes (go-jose accepts any).
type publicVerifier struct {
	alg    Algorithm
	public crypto.PublicKey
}

var _ jose.OpaqueVerifier = publicVerifier{}

// VerifyPayload verifies sig over signingInput (the JWS signing input, or a Wycheproof message).
func (v publicVerifier) VerifyPayload(signingInput, sig []byte, alg jose.SignatureAlgorithm) error {
	if alg != specs[v.alg].sigAlg {
		return fmt.Errorf("signature algorithm %q, key algorithm %s", alg, v.alg)
	}
	switch v.alg {
	case ES256:
		return verifyECDSA(v.public, crypto.SHA256, 32, signingInput, sig)
	case ES384:
		return verifyECDSA(v.public, crypto.SHA384, 48, signingInput, sig)
	case EdDSA:
		pub, ok := v.public.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return errors.New("not an Ed25519 public key")
		}
		if !ed25519.Verify(pub, signingInput, sig) {
			return errors.New("ed25519 signature mismatch")
		}
		return nil
	case RS256, PS256:
		pub, ok := v.public.(*rsa.PublicKey)
		if !ok {
			return errors.New("not an RSA public key")
		}
		digest := hash(crypto.SHA256, signingInput)
		if v.alg == RS256 {
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
		}
		return rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		return fmt.Errorf("%s is not a signature algorithm", v.alg)
	}
}

// verifyECDSA checks a JWS ECDSA signature: IEEE P1363 form, r||s, each exactly size bytes (RFC 7518 §3.4).
func verifyECDSA(public crypto.PublicKey, h crypto.Hash, size int, msg, sig []byte) error {
	pub, ok := public.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("not an ECDSA public key")
	}
	if len(sig) != 2*size {
		return fmt.Errorf("ECDSA signature of %d bytes, want %d", len(sig), 2*size)
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	if !ecdsa.Verify(pub, hash(h, msg), r, s) {
		return errors.New("ECDSA signature mismatch")
	}
	return nil
}

func hash(h crypto.Hash, msg []byte) []byte {
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}
