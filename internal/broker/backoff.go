package broker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// redial calls dial until it succeeds or ctx ends. The first attempt is
// immediate, since most drops (a restarted backend, a killed connection) are
// over by then; after a failure the wait doubles up to opts.MaxBackoff, with
// jitter so that instances do not reconnect in step.
func redial[T any](ctx context.Context, opts Options, log *slog.Logger, dial func(context.Context) (T, error)) (T, error) {
	wait := opts.MinBackoff
	for attempt := 1; ; attempt++ {
		c, err := dial(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return c, ctx.Err()
		}
		d := wait/2 + rand.N(wait/2+1)
		log.Warn("event broker reconnection failed", "attempt", attempt, "retry_in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return c, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, opts.MaxBackoff)
	}
}
