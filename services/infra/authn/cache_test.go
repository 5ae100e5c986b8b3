package authn

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestCredentialCache(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := NewCredentialCache(time.Minute, clk.Now)
	assert.False(t, c.Check("r", "u", "h", "pw"), "empty cache")
	c.Put("r", "u", "h", "pw")
	tests := []struct {
		desc                      string
		realm, user, hash, passwd string
		want                      bool
	}{
		{desc: "same credentials hit", realm: "r", user: "u", hash: "h", passwd: "pw", want: true},
		{desc: "wrong password misses", realm: "r", user: "u", hash: "h", passwd: "pw2"},
		{desc: "changed stored hash misses", realm: "r", user: "u", hash: "h2", passwd: "pw"},
		{desc: "other realm misses", realm: "r2", user: "u", hash: "h", passwd: "pw"},
		{desc: "field boundaries cannot be shifted", realm: "r", user: "uh", hash: "", passwd: "pw"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			assert.Equal(t, tc.want, c.Check(tc.realm, tc.user, tc.hash, tc.passwd))
		})
	}
	clk.Advance(59 * time.Second)
	assert.True(t, c.Check("r", "u", "h", "pw"), "within TTL")
	clk.Advance(time.Second)
	assert.False(t, c.Check("r", "u", "h", "pw"), "expired at TTL")
	assert.Equal(t, 0, c.Len(), "expired entry dropped")

	c.Put("r", "u", "h", "pw")
	c.Invalidate("r", "u")
	assert.False(t, c.Check("r", "u", "h", "pw"), "invalidated")
}

func TestCredentialCacheNeverHoldsPassword(t *testing.T) {
	c := NewCredentialCache(0, nil)
	assert.Equal(t, DefaultCacheTTL, c.ttl)
	c.Put("realm", "user", "hash", "the-password")
	for _, e := range c.entries {
		assert.NotContains(t, string(e.mac), "the-password")
		assert.Len(t, e.mac, 32)
	}
}

func TestCredentialCachePrunes(t *testing.T) {
	clk := &clock{now: time.Unix(0, 0)}
	c := NewCredentialCache(time.Second, clk.Now)
	for i := range 63 {
		c.Put("r", string(rune('a'+i)), "h", "p")
	}
	clk.Advance(2 * time.Second)
	c.Put("r", "fresh", "h", "p") // the 64th put sweeps expired entries
	assert.Equal(t, 1, c.Len())
}
