package ratelimit

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
)

// Local keeps budgets in this process's memory. It is safe for concurrent
// use.
//
// Memory is bounded by maxKeys (otter evicts in batches, so between its
// maintenance runs the count may briefly pass it): a key leaves once its budget is full again
// (its stored instant has passed, so it is indistinguishable from a new
// key), and when more keys are active than fit, otter's W-TinyLFU policy
// drops the rarely seen ones first, so a flood of one-off client addresses
// evicts itself rather than the steady users. An evicted key starts again
// with a full burst.
type Local struct {
	limit Limit
	epoch time.Time
	// now is the monotonic time since epoch; tests replace it.
	now  func() time.Duration
	tats *otter.Cache[string, time.Duration]
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an in-memory limiter holding at most maxKeys keys. It
// panics if limit does not Validate or maxKeys is below 1.
func NewLocal(limit Limit, maxKeys int) *Local {
	limit.mustValidate()
	if maxKeys < 1 {
		panic("rate limit: maxKeys must be at least 1")
	}
	l := &Local{limit: limit, epoch: time.Now()}
	l.now = func() time.Duration { return time.Since(l.epoch) }
	l.tats = otter.Must(&otter.Options[string, time.Duration]{
		MaximumSize: maxKeys,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, time.Duration]) time.Duration {
			return max(e.Value-l.now(), time.Nanosecond)
		}),
	})
	return l
}

// Allow implements Limiter; it never returns an error.
func (l *Local) Allow(_ context.Context, key string, cost int) (Result, error) {
	cost = max(cost, 1)
	if cost > l.limit.Burst {
		return l.limit.refused(), nil
	}
	now := l.now()
	var res Result
	l.tats.Compute(key, func(tat time.Duration, _ bool) (time.Duration, otter.ComputeOp) {
		var ok bool
		res, tat, ok = l.limit.gcra(tat, now, cost)
		if !ok {
			return tat, otter.CancelOp
		}
		return tat, otter.WriteOp
	})
	return res, nil
}

// size is the number of keys held, after pending evictions.
func (l *Local) size() int {
	l.tats.CleanUp()
	return l.tats.EstimatedSize()
}
