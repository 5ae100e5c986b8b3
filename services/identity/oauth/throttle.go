package oauth

import (
	"sync"
	"time"
)

// Login throttling: after loginMaxFailures wrong passwords for one username
// within loginWindow, further attempts for it are refused for loginBackoff
// without checking the password. This slows password guessing and keeps an
// attacker from spending the server's PBKDF2 budget on one account, while a
// real user is held up for a minute at most.
const (
	loginMaxFailures = 5
	loginWindow      = 15 * time.Minute
	loginBackoff     = time.Minute
	loginTrackMax    = 100_000
)

type loginThrottle struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*loginFailures
}

type loginFailures struct {
	count        int
	first        time.Time
	blockedUntil time.Time
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, entries: map[string]*loginFailures{}}
}

func throttleKey(tenant, username string) string { return tenant + "\x00" + username }

// blocked reports whether attempts for the key are refused right now.
func (l *loginThrottle) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entries[key]
	return f != nil && l.now().Before(f.blockedUntil)
}

// fail records a wrong password.
func (l *loginThrottle) fail(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entries[key]
	if f == nil || now.Sub(f.first) > loginWindow {
		if len(l.entries) >= loginTrackMax {
			l.entries = map[string]*loginFailures{} // bounded memory
		}
		f = &loginFailures{first: now}
		l.entries[key] = f
	}
	f.count++
	if f.count >= loginMaxFailures {
		f.blockedUntil = now.Add(loginBackoff)
		f.count, f.first = 0, now
	}
}

// succeed forgets the failures of a key.
func (l *loginThrottle) succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}
