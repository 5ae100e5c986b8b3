package keycrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"

	jose "github.com/go-jose/go-jose/v4"
)

// rsaBits is the modulus size of generated RSA keys. 2048 bits (112-bit security, NIST SP 800-57 acceptable
// through 2030) keeps generation fast enough for key creation and rotation on request; Load accepts
// rsaMinBits..rsaMaxBits so material of a larger size later would keep working.
const (
	rsaBits    = 2048
	rsaMinBits = 2048
	rsaMaxBits = 4096
)

// symmetricKeyBytes is the size of A256GCM, A256KW and HS256 keys (and of data keys).
const symmetricKeyBytes = 32

// Key is one loaded material key (one version of an elastic key): immutable and safe for concurrent use.
// Its secret part never leaves through fmt, slog or encoding/json: all of them print only kid and algorithm.
type Key struct {
	alg     Algorithm
	kid     string
	secret  []byte           // A256GCM, A256KW, HS256
	private crypto.Signer    // *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey; nil when public-only
	public  crypto.PublicKey // asymmetric algorithms
}

// Material is freshly generated key material, ready to be wrapped and stored.
type Material struct {
	// Private is the private or secret key as a JWK (JSON) carrying kid and alg. It is secret: wrap it with
	// the barrier before storing it. Load turns it back into a Key.
	Private []byte
	// Public is the public JWK (JSON, with kid, alg and use) for asymmetric algorithms; nil for symmetric ones.
	// It is not secret; LoadPublic turns it into a verify/encrypt-only Key.
	Public []byte
}

// Generate creates new key material for alg, labelled with kid (the material key id chosen by the caller).
// RSA keys are 2048-bit; EC keys are P-256 (ES256, ECDH-ES+A256KW) or P-384 (ES384); symmetric keys are 32
// random bytes.
func Generate(alg Algorithm, kid string) (Material, error) {
	if !alg.Valid() {
		return Material{}, newError(CodeUnsupportedAlgorithm, fmt.Sprintf("generate: unsupported algorithm %q", alg), nil)
	}
	if kid == "" {
		return Material{}, newError(CodeInvalidMaterial, "generate: empty kid", nil)
	}
	var key any
	var err error
	switch alg {
	case A256GCM, A256KW, HS256:
		secret := make([]byte, symmetricKeyBytes)
		_, err = rand.Read(secret)
		key = secret
	case ES256, ECDHESA256KW:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ES384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case RS256, PS256, RSAOAEP256:
		key, err = rsa.GenerateKey(rand.Reader, rsaBits)
	}
	if err != nil {
		return Material{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg), Use: alg.use()}
	var m Material
	if m.Private, err = jwk.MarshalJSON(); err != nil {
		return Material{}, fmt.Errorf("generate %s key: encode private JWK: %w", alg, err)
	}
	if alg.Asymmetric() {
		if m.Public, err = jwk.Public().MarshalJSON(); err != nil {
			return Material{}, fmt.Errorf("generate %s key: encode public JWK: %w", alg, err)
		}
	}
	return m, nil
}

// Load parses private material (Material.Private, after unwrapping) into a Key usable for every operation of
// its purpose. The JWK must be for alg and kid (when it names them) and of the right type and size;
// otherwise the error matches ErrInvalidMaterial (ErrUnsupportedAlgorithm for an unknown alg).
// RSA loading does real work (key validation), so callers on a hot path should cache loaded Keys.
func Load(alg Algorithm, kid string, private []byte) (*Key, error) {
	jwk, err := parseJWK(alg, kid, private)
	if err != nil {
		return nil, err
	}
	k := &Key{alg: alg, kid: kid}
	if !alg.Asymmetric() {
		secret, ok := jwk.Key.([]byte)
		if !ok || len(secret) != symmetricKeyBytes {
			return nil, invalidMaterial(alg, kid, "want a 32-byte symmetric key")
		}
		k.secret = append([]byte(nil), secret...)
		return k, nil
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || jwk.IsPublic() {
		return nil, invalidMaterial(alg, kid, "want a private key, got a public one or another type")
	}
	if err := checkPublicKey(alg, signer.Public()); err != nil {
		return nil, invalidMaterial(alg, kid, err.Error())
	}
	k.private, k.public = signer, signer.Public()
	return k, nil
}

// LoadPublic parses a public JWK (Material.Public, or a JWKS entry) of an asymmetric algorithm into a Key
// that can Encrypt (RSA-OAEP-256, ECDH-ES+A256KW) and verify, but not Decrypt or Sign. It refuses private
// JWKs and symmetric algorithms (ErrInvalidMaterial).
func LoadPublic(alg Algorithm, kid string, public []byte) (*Key, error) {
	jwk, err := parseJWK(alg, kid, public)
	if err != nil {
		return nil, err
	}
	if !alg.Asymmetric() {
		return nil, invalidMaterial(alg, kid, "a symmetric algorithm has no public key")
	}
	if !jwk.IsPublic() {
		return nil, invalidMaterial(alg, kid, "want a public key, got a private one")
	}
	if err := checkPublicKey(alg, jwk.Key); err != nil {
		return nil, invalidMaterial(alg, kid, err.Error())
	}
	return &Key{alg: alg, kid: kid, public: jwk.Key}, nil
}

// parseJWK decodes a JWK with go-jose and checks that it is labelled (if at all) for alg and kid, so that
// material stored under the wrong row cannot be used by mistake.
func parseJWK(alg Algorithm, kid string, data []byte) (*jose.JSONWebKey, error) {
	if !alg.Valid() {
		return nil, newError(CodeUnsupportedAlgorithm, fmt.Sprintf("load: unsupported algorithm %q", alg), nil)
	}
	if kid == "" {
		return nil, newError(CodeInvalidMaterial, "load: empty kid", nil)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		// The cause may quote the input, which can be secret: keep only a fixed message.
		return nil, invalidMaterial(alg, kid, "not a valid JWK")
	}
	if jwk.KeyID != "" && jwk.KeyID != kid {
		return nil, invalidMaterial(alg, kid, fmt.Sprintf("JWK belongs to kid %q", jwk.KeyID))
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(alg) {
		return nil, invalidMaterial(alg, kid, fmt.Sprintf("JWK is for algorithm %q", jwk.Algorithm))
	}
	return &jwk, nil
}

// checkPublicKey checks that pub is the key type, curve and size alg needs.
func checkPublicKey(alg Algorithm, pub crypto.PublicKey) error {
	switch alg {
	case ES256, ECDHESA256KW, ES384:
		curve := elliptic.P256()
		if alg == ES384 {
			curve = elliptic.P384()
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != curve {
			return fmt.Errorf("want an EC key on %s", curve.Params().Name)
		}
	case EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("want an Ed25519 key")
		}
	case RS256, PS256, RSAOAEP256:
		r, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("want an RSA key")
		}
		if bits := r.N.BitLen(); bits < rsaMinBits || bits > rsaMaxBits {
			return fmt.Errorf("RSA key of %d bits, want %d..%d", bits, rsaMinBits, rsaMaxBits)
		}
	}
	return nil
}

func invalidMaterial(alg Algorithm, kid, why string) *Error {
	return newError(CodeInvalidMaterial, fmt.Sprintf("load %s key %q: %s", alg, kid, why), nil)
}

// Kid returns the material key id.
func (k *Key) Kid() string { return k.kid }

// Algorithm returns the key's algorithm.
func (k *Key) Algorithm() Algorithm { return k.alg }

// Purpose returns the key's purpose.
func (k *Key) Purpose() Purpose { return k.alg.Purpose() }

// HasPrivate reports whether the key can decrypt, sign or MAC (false for keys from LoadPublic).
func (k *Key) HasPrivate() bool { return k.secret != nil || k.private != nil }

// String describes the key without its secret part.
func (k Key) String() string {
	return fmt.Sprintf("keycrypto.Key{kid: %q, alg: %s, private: %t}", k.kid, k.alg, k.HasPrivate())
}

// Format makes every fmt verb print String, including %#v, %d and %x, which would otherwise walk the fields.
func (k Key) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, k.String()) }

// MarshalJSON publishes only kid, alg and purpose.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kid     string    `json:"kid"`
		Alg     Algorithm `json:"alg"`
		Purpose Purpose   `json:"purpose"`
	}{k.kid, k.alg, k.alg.Purpose()})
}

// LogValue logs only kid and alg.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.kid), slog.String("alg", string(k.alg)))
}

// String describes the material without the private part.
func (m Material) String() string {
	return fmt.Sprintf("keycrypto.Material{private: [REDACTED %d bytes], public: %s}", len(m.Private), m.Public)
}

// Format makes every fmt verb print String.
func (m Material) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, m.String()) }

// MarshalJSON publishes only the public JWK.
func (m Material) MarshalJSON() ([]byte, error) {
	pub := json.RawMessage("null")
	if m.Public != nil {
		pub = m.Public
	}
	return json.Marshal(struct {
		Public json.RawMessage `json:"public"`
	}{pub})
}

// LogValue logs nothing secret.
func (m Material) LogValue() slog.Value { return slog.StringValue(m.String()) }
