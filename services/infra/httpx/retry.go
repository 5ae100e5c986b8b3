package httpx

import (
	"net/http"
	"strconv"
	"time"
)

// SetRetryAfter sets the Retry-After header (RFC 9110 §10.2.3) to d in
// whole seconds, rounded up and at least one: a client told "0" would retry
// at once, before the refusal could have ended.
func SetRetryAfter(h http.Header, d time.Duration) {
	secs := max(int64((d+time.Second-1)/time.Second), 1)
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
}
