package step

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// TransientError marks a failure worth retrying (the service is starting,
// briefly overloaded). Steps return it, or errors that IsTransient
// recognises, for the runner to retry.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient wraps err as a TransientError; nil stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// StatusCoder is implemented by errors that carry an HTTP status, so
// IsTransient can recognise a 503 without knowing the error type.
type StatusCoder interface{ StatusCode() int }

// IsTransient is the default retry classifier: a TransientError, a refused
// connection, or an HTTP 503. Timeouts and cancellations are not transient:
// the step's time is up, and retrying would only hide that.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var te *TransientError
	if errors.As(err, &te) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var sc StatusCoder
	return errors.As(err, &sc) && sc.StatusCode() == http.StatusServiceUnavailable
}

// RetryPolicy says how often and how patiently a failing step is retried.
type RetryPolicy struct {
	// Attempts is the total number of tries, at least 1 (0 means 1).
	Attempts int
	// Delay is the wait before the second try; each later wait is
	// multiplied by Multiplier (default 2) and capped by MaxDelay (0: no cap).
	Delay      time.Duration
	Multiplier float64
	MaxDelay   time.Duration
	// Retryable decides which errors are retried; nil means IsTransient.
	Retryable func(error) bool
}

// DefaultRetry retries transient failures twice, after 200ms then 400ms.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{Attempts: 3, Delay: 200 * time.Millisecond, Multiplier: 2, MaxDelay: 5 * time.Second}
}

func (p RetryPolicy) attempts() int {
	if p.Attempts < 1 {
		return 1
	}
	return p.Attempts
}

// Backoff is the wait after failed attempt n (1-based): Delay*Multiplier^(n-1),
// capped by MaxDelay.
func (p RetryPolicy) Backoff(n int) time.Duration {
	mult := p.Multiplier
	if mult <= 0 {
		mult = 2
	}
	d := float64(p.Delay)
	for i := 1; i < n; i++ {
		d *= mult
		if p.MaxDelay > 0 && d >= float64(p.MaxDelay) {
			return p.MaxDelay
		}
	}
	if p.MaxDelay > 0 && time.Duration(d) > p.MaxDelay {
		return p.MaxDelay
	}
	return time.Duration(d)
}

func (p RetryPolicy) retryable(err error) bool {
	if p.Retryable != nil {
		return p.Retryable(err)
	}
	return IsTransient(err)
}

// AttemptsError reports a step that kept failing transiently.
type AttemptsError struct {
	Attempts int
	Err      error
}

func (e *AttemptsError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, e.Err)
}
func (e *AttemptsError) Unwrap() error { return e.Err }

// SleepContext waits for d or until ctx ends; it is the runner's default Sleep.
func SleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
