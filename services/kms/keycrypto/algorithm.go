package keycrypto

import (
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithm is a KMS key algorithm, named by its JOSE name. The purpose of a key follows from its algorithm.
type Algorithm string

// The supported algorithms. Every encryption algorithm uses A256GCM content encryption.
const (
	A256GCM      Algorithm = "A256GCM"        // direct ("dir") encryption with a 256-bit key
	A256KW       Algorithm = "A256KW"         // AES key wrap of a fresh content key
	RSAOAEP256   Algorithm = "RSA-OAEP-256"   // RSA-OAEP (SHA-256) with a 2048-bit key
	ECDHESA256KW Algorithm = "ECDH-ES+A256KW" // ECDH-ES on P-256, then AES key wrap
	ES256        Algorithm = "ES256"          // ECDSA P-256 with SHA-256
	ES384        Algorithm = "ES384"          // ECDSA P-384 with SHA-384
	EdDSA        Algorithm = "EdDSA"          // Ed25519
	RS256        Algorithm = "RS256"          // RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key
	PS256        Algorithm = "PS256"          // RSASSA-PSS with SHA-256, salt length 32, 2048-bit key
	HS256        Algorithm = "HS256"          // HMAC-SHA-256 with a 256-bit key
)

// Purpose is what a key is for; it follows from the algorithm.
type Purpose string

// The purposes.
const (
	PurposeEncrypt Purpose = "encrypt"
	PurposeSign    Purpose = "sign"
	PurposeMAC     Purpose = "mac"
)

// algorithmSpec describes how one Algorithm maps onto JOSE.
type algorithmSpec struct {
	purpose Purpose
	keyAlg  jose.KeyAlgorithm       // encryption keys: the JWE "alg"
	sigAlg  jose.SignatureAlgorithm // signing and MAC keys: the JWS "alg"
}

// contentEncryption is the only JWE "enc" the package produces or accepts.
const contentEncryption = jose.A256GCM

var specs = map[Algorithm]algorithmSpec{
	A256GCM:      {purpose: PurposeEncrypt, keyAlg: jose.DIRECT},
	A256KW:       {purpose: PurposeEncrypt, keyAlg: jose.A256KW},
	RSAOAEP256:   {purpose: PurposeEncrypt, keyAlg: jose.RSA_OAEP_256},
	ECDHESA256KW: {purpose: PurposeEncrypt, keyAlg: jose.ECDH_ES_A256KW},
	ES256:        {purpose: PurposeSign, sigAlg: jose.ES256},
	ES384:        {purpose: PurposeSign, sigAlg: jose.ES384},
	EdDSA:        {purpose: PurposeSign, sigAlg: jose.EdDSA},
	RS256:        {purpose: PurposeSign, sigAlg: jose.RS256},
	PS256:        {purpose: PurposeSign, sigAlg: jose.PS256},
	HS256:        {purpose: PurposeMAC, sigAlg: jose.HS256},
}

// Algorithms returns every supported algorithm, encryption first, then signing, then MAC.
func Algorithms() []Algorithm {
	return []Algorithm{A256GCM, A256KW, RSAOAEP256, ECDHESA256KW, ES256, ES384, EdDSA, RS256, PS256, HS256}
}

// ParseAlgorithm accepts exactly one of the supported JOSE names (case-sensitive, no trimming).
// Anything else is an error matching ErrUnsupportedAlgorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	if _, ok := specs[Algorithm(s)]; !ok {
		return "", newError(CodeUnsupportedAlgorithm, fmt.Sprintf("unsupported algorithm %q", s), nil)
	}
	return Algorithm(s), nil
}

// Purpose returns what keys of this algorithm are for, or "" for an unsupported algorithm.
func (a Algorithm) Purpose() Purpose { return specs[a].purpose }

// Valid reports whether a is a supported algorithm.
func (a Algorithm) Valid() bool {
	_, ok := specs[a]
	return ok
}

// Asymmetric reports whether keys of this algorithm have a public part (and so appear in a JWKS).
func (a Algorithm) Asymmetric() bool {
	switch a {
	case RSAOAEP256, ECDHESA256KW, ES256, ES384, EdDSA, RS256, PS256:
		return true
	default:
		return false
	}
}

// use is the JWK "use" of keys of this algorithm.
func (a Algorithm) use() string {
	if a.Purpose() == PurposeEncrypt {
		return "enc"
	}
	return "sig"
}

// All JOSE algorithms go-jose knows. Parsing first with the package's own short list and, only when that fails,
// with this one tells "a well-formed JOSE object with an algorithm we refuse" from "not a JOSE object at all".
var (
	allKeyAlgorithms = []jose.KeyAlgorithm{
		jose.ED25519, jose.RSA1_5, jose.RSA_OAEP, jose.RSA_OAEP_256, jose.A128KW, jose.A192KW, jose.A256KW,
		jose.DIRECT, jose.ECDH_ES, jose.ECDH_ES_A128KW, jose.ECDH_ES_A192KW, jose.ECDH_ES_A256KW,
		jose.A128GCMKW, jose.A192GCMKW, jose.A256GCMKW, jose.PBES2_HS256_A128KW, jose.PBES2_HS384_A192KW,
		jose.PBES2_HS512_A256KW,
	}
	allContentEncryptions = []jose.ContentEncryption{
		jose.A128CBC_HS256, jose.A192CBC_HS384, jose.A256CBC_HS512, jose.A128GCM, jose.A192GCM, jose.A256GCM,
	}
	allSignatureAlgorithms = []jose.SignatureAlgorithm{
		jose.EdDSA, jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
		jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, "none",
	}
	ourKeyAlgorithms       = []jose.KeyAlgorithm{jose.DIRECT, jose.A256KW, jose.RSA_OAEP_256, jose.ECDH_ES_A256KW}
	ourSignatureAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256, jose.HS256}
)
