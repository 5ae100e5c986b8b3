package credential

import (
	"container/list"
	"sync"
	"time"
)

// lockout counts consecutive failures per account. After threshold of them
// the account is locked for backoff, doubled for each further lock of the
// account up to maxBackoff; a success forgets the account, and so does
// window of quiet after its last failure or lock.
//
// The table is bounded. Accounts are kept in two lists, each oldest first:
// those only counting failures and those that were locked. A full table
// drops expired accounts first, then the oldest counting one, and a locked
// one only when no account is merely counting. So a flood of failures for
// distinct names, each one new account, pushes out other names with a few
// failures, never the lock of the account under attack.
type lockout struct {
	threshold           int
	backoff, maxBackoff time.Duration
	window              time.Duration
	size                int

	mu       sync.Mutex
	entries  map[Account]*list.Element // of *lockEntry
	counting list.List
	locked   list.List
}

type lockEntry struct {
	acct     Account
	failures int       // consecutive, since the last lock
	locks    int       // locks within the window: the backoff exponent
	last     time.Time // last failure
	until    time.Time // locked until
	in       *list.List
}

func newLockout(o Options) *lockout {
	return &lockout{
		threshold: o.LockoutThreshold, backoff: o.LockoutBackoff, maxBackoff: o.LockoutMaxBackoff,
		window: o.LockoutWindow, size: o.LockoutSize, entries: map[Account]*list.Element{},
	}
}

// expired reports whether the window has passed since the entry's last
// failure and the end of its lock.
func (l *lockout) expired(e *lockEntry, now time.Time) bool {
	end := e.last
	if e.until.After(end) {
		end = e.until
	}
	return !now.Before(end.Add(l.window))
}

// check reports how long the account stays locked, whether it is locked,
// and whether it is tracked at all (only then has a success to forget it).
func (l *lockout) check(acct Account, now time.Time) (remaining time.Duration, locked, tracked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[acct]
	if !ok {
		return 0, false, false
	}
	e := el.Value.(*lockEntry)
	if l.expired(e, now) {
		l.remove(el)
		return 0, false, false
	}
	if now.Before(e.until) {
		return e.until.Sub(now), true, true
	}
	return 0, false, true
}

// fail records a failure of acct, locking it at the threshold.
func (l *lockout) fail(acct Account, now time.Time) {
	if l.threshold <= 0 || l.size <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var e *lockEntry
	if el, ok := l.entries[acct]; ok {
		e = el.Value.(*lockEntry)
		if l.expired(e, now) {
			l.remove(el)
			e = nil
		} else {
			e.in.Remove(el)
		}
	}
	if e == nil {
		l.makeRoom(now)
		e = &lockEntry{acct: acct}
	}
	// Failures that were in flight when the lock began do not extend it.
	if !now.Before(e.until) {
		e.failures++
		e.last = now
		if e.failures >= l.threshold {
			e.failures = 0
			e.locks++
			e.until = now.Add(l.lockLength(e.locks))
		}
	}
	e.in = &l.counting
	if e.locks > 0 {
		e.in = &l.locked
	}
	l.entries[acct] = e.in.PushBack(e)
}

// lockLength is backoff doubled for every lock after the first, at most
// maxBackoff.
func (l *lockout) lockLength(locks int) time.Duration {
	d := l.backoff
	for i := 1; i < locks && d < l.maxBackoff; i++ {
		d *= 2
	}
	return min(d, l.maxBackoff)
}

// makeRoom drops entries until one more fits: expired ones from the front
// of both lists, then the oldest merely counting, then the oldest locked.
func (l *lockout) makeRoom(now time.Time) {
	for _, ls := range []*list.List{&l.counting, &l.locked} {
		for front := ls.Front(); front != nil && l.expired(front.Value.(*lockEntry), now); front = ls.Front() {
			l.remove(front)
		}
	}
	for len(l.entries) >= l.size {
		victim := l.counting.Front()
		if victim == nil {
			victim = l.locked.Front()
		}
		l.remove(victim)
	}
}

// succeed forgets the account: its failures and its lock count.
func (l *lockout) succeed(acct Account) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[acct]; ok {
		l.remove(el)
	}
}

func (l *lockout) remove(el *list.Element) {
	e := el.Value.(*lockEntry)
	delete(l.entries, e.acct)
	e.in.Remove(el)
}

// len is the number of accounts tracked.
func (l *lockout) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
