package introspect

import (
	"context"
	"crypto/sha256"
	"testing"
)

// BenchmarkCheckCached is the hot path of interval mode: a token whose
// "active" answer is remembered. It must not allocate.
func BenchmarkCheckCached(b *testing.B) {
	h := newHarness(b, ModeInterval, nil)
	// A realistic size: an RS256 access token is around 800 bytes.
	raw := string(make([]byte, 800))
	claims := h.token(raw)
	ctx := context.Background()
	if err := h.c.Check(ctx, raw, claims, false); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.c.Check(ctx, raw, claims, false); err != nil {
			b.Fatal(err)
		}
	}
	if s := h.c.Stats(); s.Calls != 1 {
		b.Fatalf("%d calls: the answer was not remembered", s.Calls)
	}
}

// BenchmarkCheckHashedCached is the cached path for a caller that already
// hashed the token (a bearer authenticator does).
func BenchmarkCheckHashedCached(b *testing.B) {
	h := newHarness(b, ModeInterval, nil)
	raw := string(make([]byte, 800))
	claims := h.token(raw)
	hash := sha256.Sum256([]byte(raw))
	ctx := context.Background()
	if err := h.c.CheckHashed(ctx, raw, hash, claims, false); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.c.CheckHashed(ctx, raw, hash, claims, false); err != nil {
			b.Fatal(err)
		}
	}
	if s := h.c.Stats(); s.Calls != 1 {
		b.Fatalf("%d calls: the answer was not remembered", s.Calls)
	}
}

// BenchmarkCheckCachedParallel is the same under contention.
func BenchmarkCheckCachedParallel(b *testing.B) {
	h := newHarness(b, ModeInterval, nil)
	raw := string(make([]byte, 800))
	claims := h.token(raw)
	if err := h.c.Check(context.Background(), raw, claims, false); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := h.c.Check(context.Background(), raw, claims, false); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
