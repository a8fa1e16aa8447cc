package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RetryPolicy says how a Store retries an operation (a commit, a lookup, a
// query, a transaction) that failed with a transient error. Every
// operation it retries is idempotent: writes use deterministic keys, so a
// retried commit rewrites the same entities.
//
// The wait before retry n (n = 1, 2, ...) is drawn uniformly from
// [d/2, d], where d = min(MaxBackoff, InitialBackoff·Multiplier^(n-1)):
// exponential backoff with jitter, so that concurrent writers spread out.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included (< 1: 1).
	MaxAttempts int
	// InitialBackoff is the longest wait before the first retry.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait before any retry (0: no cap).
	MaxBackoff time.Duration
	// Multiplier is the factor between successive waits (< 1: 1).
	Multiplier float64
	// Retryable reports whether an error is worth retrying; nil means
	// Transient.
	Retryable func(error) bool
}

// DefaultRetry is the policy Open gives a Store: 6 attempts, waits of up to
// 0.5 s, 1 s, 2 s, 4 s, 8 s (at most 15.5 s in all, at least half that),
// on Transient errors.
var DefaultRetry = RetryPolicy{
	MaxAttempts:    6,
	InitialBackoff: 500 * time.Millisecond,
	MaxBackoff:     30 * time.Second,
	Multiplier:     2,
}

// Transient reports whether err is a Datastore error that the same request
// may not get again: gRPC codes Unavailable, DeadlineExceeded (of the
// request, not of the caller's context), Aborted (contention) and
// ResourceExhausted (Datastore asks to back off and ramp up traffic;
// an exhausted quota fails again and runs out of attempts).
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// do runs f until it succeeds, fails with an error the policy does not
// retry, runs out of attempts, or ctx is done. The error says what was
// being done and how many attempts were made.
func (p RetryPolicy) do(ctx context.Context, what string, f func(ctx context.Context) error) error {
	attempts := max(p.MaxAttempts, 1)
	retryable := p.Retryable
	if retryable == nil {
		retryable = Transient
	}
	for n := 1; ; n++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !retryable(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if n >= attempts {
			return fmt.Errorf("%s: giving up after %d attempts: %w", what, n, err)
		}
		d := p.backoff(n)
		if d > 0 {
			d = d/2 + rand.N(d/2+1)
		}
		if werr := sleep(ctx, d); werr != nil {
			return fmt.Errorf("%s: %w (while waiting to retry after: %v)", what, werr, err)
		}
	}
}

// backoff is the longest wait before retry n (n = 1, 2, ...).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := float64(p.InitialBackoff)
	for range n - 1 {
		d *= max(p.Multiplier, 1)
		if p.MaxBackoff > 0 && d > float64(p.MaxBackoff) {
			break
		}
	}
	if p.MaxBackoff > 0 && d > float64(p.MaxBackoff) {
		return p.MaxBackoff
	}
	return time.Duration(d)
}

// sleep waits d or until ctx is done, whichever is first; tests replace it.
var sleep = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
