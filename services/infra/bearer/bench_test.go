package bearer

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkVerifyCached is the hot path: a client presenting the token it
// presented before.
func BenchmarkVerifyCached(b *testing.B) {
	ti := newTestIssuer(b, newPKI(b))
	clk := newClock()
	v := newTestVerifier(b, clk, ti.config())
	raw := ti.sign("k1", ti.claims(clk.Now()))
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
	if st := v.Stats(); st.Verifications != 1 {
		b.Fatalf("stats %+v: cached verifications must not check signatures", st)
	}
}

// BenchmarkVerifyUncached is a full verification: parse, ES256 signature,
// claims.
func BenchmarkVerifyUncached(b *testing.B) {
	ti := newTestIssuer(b, newPKI(b))
	clk := newClock()
	v := newTestVerifier(b, clk, ti.config())
	v.skipCache = true
	raw := ti.sign("k1", ti.claims(clk.Now()))
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	before := v.Stats().Verifications
	b.ReportAllocs()
	n := uint64(0)
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if got := v.Stats().Verifications - before; got != n {
		b.Fatalf("%d signature checks for %d verifications", got, n)
	}
}

// BenchmarkAuthenticateCached is the whole Bearer authentication of a
// request whose token is cached (tenant mapping, registration callback,
// scope expansion, principal).
func BenchmarkAuthenticateCached(b *testing.B) {
	ti := newTestIssuer(b, newPKI(b))
	clk := newClock()
	v := newTestVerifier(b, clk, ti.config())
	a, err := NewAuthenticator(AuthenticatorOptions{
		Verifier:   v,
		Registered: func(context.Context, uuid.UUID) (bool, error) { return true, nil },
		Realm:      "kms",
	})
	if err != nil {
		b.Fatal(err)
	}
	r := request("Bearer " + ti.sign("k1", ti.claims(clk.Now())))
	if _, err := a.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}
