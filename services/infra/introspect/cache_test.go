package introspect

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCacheAnswers(t *testing.T) {
	const interval = time.Minute
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	key := sha256.Sum256([]byte("tok"))
	for _, tc := range []struct {
		desc   string
		fill   func(c *cache)
		at     time.Time
		strict bool
		want   cached
	}{
		{desc: "nothing", fill: func(*cache) {}, at: t0, want: cachedNothing},
		{desc: "fresh active", fill: func(c *cache) { c.putActive(key, t0, exp) }, at: t0.Add(interval - 1), want: cachedActive},
		{desc: "active an interval old", fill: func(c *cache) { c.putActive(key, t0, exp) }, at: t0.Add(interval), want: cachedNothing},
		{desc: "active past exp", fill: func(c *cache) { c.putActive(key, t0, t0.Add(time.Second)) }, at: t0.Add(time.Second), want: cachedNothing},
		{desc: "strict ignores active", fill: func(c *cache) { c.putActive(key, t0, exp) }, at: t0, strict: true, want: cachedNothing},
		{desc: "inactive until exp", fill: func(c *cache) { c.putInactive(key, exp) }, at: exp.Add(-1), strict: true, want: cachedInactive},
		{desc: "inactive forgotten at exp", fill: func(c *cache) { c.putInactive(key, exp) }, at: exp, want: cachedNothing},
		{desc: "inactive without exp stays", fill: func(c *cache) { c.putInactive(key, time.Time{}) }, at: t0.Add(1000 * time.Hour), want: cachedInactive},
		{desc: "a later active never revives an inactive", fill: func(c *cache) {
			c.putInactive(key, exp)
			c.putActive(key, t0.Add(time.Second), exp)
		}, at: t0.Add(time.Second), want: cachedInactive},
		{desc: "inactive replaces active", fill: func(c *cache) {
			c.putActive(key, t0, exp)
			c.putInactive(key, exp)
		}, at: t0, want: cachedInactive},
		{desc: "an older active does not replace a fresher one", fill: func(c *cache) {
			c.putActive(key, t0.Add(30*time.Second), exp)
			c.putActive(key, t0, exp)
		}, at: t0.Add(interval), want: cachedActive},
		{desc: "a fresher active extends", fill: func(c *cache) {
			c.putActive(key, t0, exp)
			c.putActive(key, t0.Add(30*time.Second), exp)
		}, at: t0.Add(interval), want: cachedActive},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := newCache(10)
			tc.fill(c)
			assert.Equal(t, tc.want, c.lookup(key, tc.at, interval, tc.strict))
		})
	}
}

func TestHashToken(t *testing.T) {
	for _, tc := range []struct {
		desc string
		n    int
	}{
		{desc: "empty", n: 0},
		{desc: "short", n: 10},
		{desc: "one buffer exactly", n: 1024},
		{desc: "several buffers", n: 2500},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			raw := make([]byte, tc.n)
			for i := range raw {
				raw[i] = byte('a' + i%26)
			}
			assert.Equal(t, sha256.Sum256(raw), (&Checker{}).hashToken(string(raw)))
		})
	}
}
