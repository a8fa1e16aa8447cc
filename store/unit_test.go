package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/store"
)

func TestComponentKeyName(t *testing.T) {
	for _, c := range []struct {
		key  features.ComponentKey
		name string
	}{
		{features.ComponentKey{Exercise: "addition_1", ProblemType: "type-3", Correct: true}, "addition_1/type-3/true"},
		{features.ComponentKey{Exercise: "a/b", ProblemType: "", Correct: false}, "a%2Fb//false"},
		{features.ComponentKey{Exercise: "50%", ProblemType: "%2F/", Correct: true}, "50%25/%252F%2F/true"},
		{features.ComponentKey{Exercise: "été", ProblemType: "x y", Correct: false}, "été/x y/false"},
	} {
		if got := store.ComponentKeyName(c.key); got != c.name {
			t.Errorf("ComponentKeyName(%#v) = %q, want %q", c.key, got, c.name)
		}
		if k, err := store.ParseComponentKeyName(c.name); err != nil || k != c.key {
			t.Errorf("ParseComponentKeyName(%q) = %#v, %v", c.name, k, err)
		}
	}
	for _, bad := range []string{"a/b", "a/b/c/true", "a/b/TRUE", "a/b/1", "a%2fb/c/true", "a%/b/true"} {
		if k, err := store.ParseComponentKeyName(bad); err == nil {
			t.Errorf("ParseComponentKeyName(%q) = %#v, want an error", bad, k)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	// Driven through the exported surface: a store whose client is never
	// reached is not needed; Transient is the classification.
	for code, want := range map[codes.Code]bool{
		codes.Unavailable: true, codes.DeadlineExceeded: true, codes.Aborted: true, codes.ResourceExhausted: true,
		codes.InvalidArgument: false, codes.PermissionDenied: false, codes.AlreadyExists: false, codes.Internal: false,
	} {
		if got := store.Transient(status.Error(code, "x")); got != want {
			t.Errorf("Transient(%v) = %v, want %v", code, got, want)
		}
	}
	if store.Transient(context.Canceled) || store.Transient(context.DeadlineExceeded) || store.Transient(errors.New("x")) {
		t.Error("Transient is true for a context or plain error")
	}
}

func TestRetryDo(t *testing.T) {
	transient := status.Error(codes.Unavailable, "down")
	p := store.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Multiplier: 2}
	n := 0
	err := store.Do(p, context.Background(), func(context.Context) error { n++; return transient })
	if n != 4 || status.Code(err) != codes.Unavailable {
		t.Errorf("always transient: %d attempts, %v; want 4", n, err)
	}
	n = 0
	err = store.Do(p, context.Background(), func(context.Context) error {
		n++
		if n < 3 {
			return transient
		}
		return nil
	})
	if n != 3 || err != nil {
		t.Errorf("transient twice: %d attempts, %v; want 3, nil", n, err)
	}
	n = 0
	err = store.Do(p, context.Background(), func(context.Context) error { n++; return status.Error(codes.InvalidArgument, "no") })
	if n != 1 || status.Code(err) != codes.InvalidArgument {
		t.Errorf("permanent: %d attempts, %v; want 1", n, err)
	}
	// A cancelled context stops the waiting.
	slow := store.RetryPolicy{MaxAttempts: 10, InitialBackoff: time.Hour, MaxBackoff: time.Hour, Multiplier: 2}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	n = 0
	err = store.Do(slow, ctx, func(context.Context) error { n++; return transient })
	if n != 1 || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled while waiting: %d attempts, %v after %v", n, err, time.Since(start))
	}
	// The waits grow and stay within [d/2, d].
	p = store.RetryPolicy{MaxAttempts: 5, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Multiplier: 2}
	for range 100 {
		waits, _ := store.DoWithoutSleeping(p, context.Background(), func(context.Context) error { return transient })
		if len(waits) != 4 {
			t.Fatalf("%d waits, want 4", len(waits))
		}
		for i, lim := range []time.Duration{20, 40, 50, 50} {
			lo, hi := lim*time.Millisecond/2, lim*time.Millisecond
			if waits[i] < lo || waits[i] > hi {
				t.Errorf("wait %d = %v, want within [%v, %v]", i+1, waits[i], lo, hi)
			}
		}
	}
}

func TestSummaryPiecesFit(t *testing.T) {
	// Every summary splitSummary cuts fits its pieces, with a 3-byte
	// character across each cut or not.
	n := store.SummaryChunk
	for _, j := range []string{
		"", "{}", strings.Repeat("a", n-1), strings.Repeat("a", n), strings.Repeat("a", n+1),
		strings.Repeat("a", n-1) + "€" + strings.Repeat("b", n), strings.Repeat("€", n),
	} {
		pieces := store.SplitSummary([]byte(j))
		if !store.SummaryPiecesFit(int64(len(pieces)), int64(len(j))) {
			t.Errorf("%d bytes cut into %d pieces do not fit", len(j), len(pieces))
		}
	}
	// What a corrupt version entity may say.
	for _, c := range []struct{ pieces, size int64 }{
		{0, 10}, {-1, 10}, {1, -5}, {1 << 50, 10}, {1, int64(2 * n)}, {2, 0}, {1 << 62, 1 << 62},
		{(1 << 55) / int64(n), 1 << 55}, // consistent, but no summary is that large
	} {
		if store.SummaryPiecesFit(c.pieces, c.size) {
			t.Errorf("SummaryPiecesFit(%d, %d) = true", c.pieces, c.size)
		}
	}
}
