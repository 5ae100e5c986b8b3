package bench

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/passthru-dev/passthru/services/infra/password"
)

// PBKDF2 cost is linear in the iteration count, so the gated benchmarks run
// the minimum accepted count (1000) to keep the bench run short; the
// allocation profile does not depend on the count. The Production benchmark
// shows what one real verification costs (what a cache miss on a Basic-auth
// request costs) and is run with -benchtime=1x by `make bench`.

const benchSecret = "correct horse battery staple"

func BenchmarkPasswordHash(b *testing.B) {
	h := password.Hasher{Iterations: password.MinIterations}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordVerify(b *testing.B) {
	benchmarkVerify(b, password.MinIterations)
}

func BenchmarkPasswordVerifyProduction(b *testing.B) {
	benchmarkVerify(b, password.DefaultIterations)
}

func benchmarkVerify(b *testing.B, iterations int) {
	encoded, err := password.Hasher{Iterations: iterations}.Hash(benchSecret)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if err := password.Verify(encoded, benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordVerifyDummy is the unknown-user path: it must cost what
// BenchmarkPasswordVerify costs (compare the two rows), so timing does not
// tell which usernames exist.
func BenchmarkPasswordVerifyDummy(b *testing.B) {
	h := password.Hasher{Iterations: password.MinIterations}
	b.ReportAllocs()
	for b.Loop() {
		h.VerifyDummy(benchSecret)
	}
}
