// Package keycrypto is the cryptography of KMS material keys: generating and loading key material, and
// encrypting, signing and MACing with it as standard JOSE objects (compact JWE and JWS) and JWKS.
//
// All JOSE encoding and parsing is done by github.com/go-jose/go-jose/v4. Signature verification of the
// asymmetric algorithms is done by this package's own verifier (a jose.OpaqueVerifier over crypto/*), so the
// exact code that verifies a KMS signature is the code the Wycheproof vectors exercise, and so PS256 can insist
// on the salt length RFC 7518 §3.5 prescribes.
//
// The package holds no state: a *Key is an immutable, loaded material key that is safe for concurrent use and
// never prints, logs or marshals its secret part. Storing, wrapping (barrier) and choosing which version
// encrypts is the caller's business.
package keycrypto
