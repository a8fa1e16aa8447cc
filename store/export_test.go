package store

import (
	"context"
	"time"
)

// Do exposes RetryPolicy.do to the tests.
func Do(p RetryPolicy, ctx context.Context, f func(context.Context) error) error {
	return p.do(ctx, "test", f)
}

// DoWithoutSleeping runs RetryPolicy.do with waits that return at once, and
// returns the waits it drew.
func DoWithoutSleeping(p RetryPolicy, ctx context.Context, f func(context.Context) error) (waits []time.Duration, err error) {
	defer func(s func(context.Context, time.Duration) error) { sleep = s }(sleep)
	sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	err = p.do(ctx, "test", f)
	return waits, err
}

// SplitSummary and SummaryPiecesFit expose how a summary is cut to the tests.
var (
	SplitSummary     = splitSummary
	SummaryPiecesFit = summaryPiecesFit
	SummaryChunk     = summaryChunkBytes
)
