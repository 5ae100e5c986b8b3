package bench

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/ids"
	"github.com/passthru-dev/passthru/services/kms/keycrypto"
)

// The per-request KMS crypto on an already loaded key (the service caches
// loaded keys). RSA appears once, for sign and verify, because RSA key
// generation in setup is slow and one RSA row tells the story.

var (
	// benchPlaintext is a typical small secret (a data key, a token, a config value).
	benchPlaintext = make([]byte, 1024)
	// benchContext is an encryption context, bound as additional authenticated data.
	benchContext = []byte(`{"app":"orders"}`)
	// benchPayload is a typical JWT-sized payload to sign.
	benchPayload = []byte(`{"iss":"https://kms.passthru.test","sub":"alice","aud":"orders","exp":1900000000}`)
)

var (
	encryptAlgorithms = []keycrypto.Algorithm{keycrypto.A256GCM}
	signAlgorithms    = []keycrypto.Algorithm{keycrypto.ES256, keycrypto.EdDSA, keycrypto.RS256}
)

// loadKey generates and loads key material of alg under a fresh UUIDv7 kid.
func loadKey(b *testing.B, alg keycrypto.Algorithm) *keycrypto.Key {
	b.Helper()
	kid := ids.NewEntity()
	m, err := keycrypto.Generate(alg, kid.String())
	require.NoError(b, err)
	k, err := keycrypto.Load(alg, kid.String(), m.Private)
	require.NoError(b, err)
	return k
}

// lookupOf resolves exactly one kid, as the KMS resolves the kid of a JWE/JWS header.
func lookupOf(key *keycrypto.Key) keycrypto.Lookup {
	return func(kid string) (*keycrypto.Key, error) {
		if kid != key.Kid() {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return key, nil
	}
}

func BenchmarkKeycryptoEncrypt(b *testing.B) {
	for _, alg := range encryptAlgorithms {
		b.Run("alg="+string(alg), func(b *testing.B) {
			key := loadKey(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keycrypto.Encrypt(key, benchPlaintext, benchContext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKeycryptoDecrypt(b *testing.B) {
	for _, alg := range encryptAlgorithms {
		b.Run("alg="+string(alg), func(b *testing.B) {
			key := loadKey(b, alg)
			compact, err := keycrypto.Encrypt(key, benchPlaintext, benchContext)
			require.NoError(b, err)
			lookup := lookupOf(key)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keycrypto.Decrypt(lookup, compact, benchContext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKeycryptoSign(b *testing.B) {
	for _, alg := range signAlgorithms {
		b.Run("alg="+string(alg), func(b *testing.B) {
			key := loadKey(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keycrypto.Sign(key, benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKeycryptoVerify(b *testing.B) {
	for _, alg := range signAlgorithms {
		b.Run("alg="+string(alg), func(b *testing.B) {
			key := loadKey(b, alg)
			compact, err := keycrypto.Sign(key, benchPayload)
			require.NoError(b, err)
			lookup := lookupOf(key)
			b.ReportAllocs()
			for b.Loop() {
				v, err := keycrypto.Verify(lookup, compact)
				if err != nil || !v.Valid {
					b.Fatalf("verify: valid=%v err=%v", v.Valid, err)
				}
			}
		})
	}
}
