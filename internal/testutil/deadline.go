// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"bytes"
	"runtime/pprof"
	"testing"
	"time"
)

// WithDeadline runs f and fails the test with the stacks of every goroutine
// if f has not returned within d, so that a hang fails a test instead of
// stalling CI. f runs on another goroutine: it reports failures with
// t.Error, not t.Fatal.
func WithDeadline(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s has not finished after %v; goroutines:\n%s", what, d, Goroutines())
	}
}

// Goroutines returns the stacks of every goroutine.
func Goroutines() string {
	var dump bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&dump, 2)
	return dump.String()
}
