package httpx

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSetRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		d    time.Duration
		want string
	}{
		{desc: "whole seconds", d: 60 * time.Second, want: "60"},
		{desc: "rounded up", d: 59*time.Second + time.Millisecond, want: "60"},
		{desc: "never zero", d: 0, want: "1"},
		{desc: "never negative", d: -time.Second, want: "1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := http.Header{}
			SetRetryAfter(h, tc.d)
			assert.Equal(t, tc.want, h.Get("Retry-After"))
		})
	}
}
