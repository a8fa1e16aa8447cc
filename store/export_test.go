package store

import "context"

// Do exposes RetryPolicy.do to the tests.
func Do(p RetryPolicy, ctx context.Context, f func(context.Context) error) error {
	return p.do(ctx, "test", f)
}
