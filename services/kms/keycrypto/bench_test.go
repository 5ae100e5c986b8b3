package keycrypto

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Benchmarks of the per-request crypto, one sub-benchmark per algorithm. Compare time only old-versus-new on
// one machine; allocations (-benchmem) are comparable across machines.

var benchPlaintext = make([]byte, 1024)

var benchPayload = []byte(`{"iss":"https://kms.passthru.test","sub":"alice","aud":"orders","exp":1900000000}`)

func BenchmarkEncrypt(b *testing.B) {
	for _, alg := range algorithmsOf(PurposeEncrypt) {
		b.Run(string(alg), func(b *testing.B) {
			key := newKey(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encrypt(key, benchPlaintext, []byte("ctx")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, alg := range algorithmsOf(PurposeEncrypt) {
		b.Run(string(alg), func(b *testing.B) {
			key := newKey(b, alg)
			compact, err := Encrypt(key, benchPlaintext, []byte("ctx"))
			require.NoError(b, err)
			lookup := lookupOf(key)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decrypt(lookup, compact, []byte("ctx")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range append(algorithmsOf(PurposeSign), HS256) {
		b.Run(string(alg), func(b *testing.B) {
			key := newKey(b, alg)
			op := Sign
			if alg == HS256 {
				op = MAC
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := op(key, benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range append(algorithmsOf(PurposeSign), HS256) {
		b.Run(string(alg), func(b *testing.B) {
			key := newKey(b, alg)
			sign, verify := Sign, Verify
			if alg == HS256 {
				sign, verify = MAC, VerifyMAC
			}
			compact, err := sign(key, benchPayload)
			require.NoError(b, err)
			lookup := lookupOf(key)
			b.ReportAllocs()
			for b.Loop() {
				v, err := verify(lookup, compact)
				if err != nil || !v.Valid {
					b.Fatal("verify failed", err)
				}
			}
		})
	}
}

// BenchmarkLoad shows what caching loaded keys saves (RSA loading validates the key).
func BenchmarkLoad(b *testing.B) {
	for _, alg := range Algorithms() {
		b.Run(string(alg), func(b *testing.B) {
			kid := newKid(b)
			m, err := Generate(alg, kid)
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(alg, kid, m.Private); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
