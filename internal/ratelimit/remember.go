package ratelimit

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
)

// Remember returns l answering, from memory, what it has refused until the
// refusal's RetryAfter has passed, so that a client hammering past its
// budget costs no round trip to a shared store per request. A refusal of
// cost c at t with RetryAfter r also refuses any cost of c or more until
// t + r: spending elsewhere can only make the wait longer, so nothing is
// refused that l would allow. Smaller costs still ask l. At most maxKeys
// refusals are held.
func Remember(l Limiter, maxKeys int) Limiter {
	if maxKeys < 1 {
		panic("rate limit: maxKeys must be at least 1")
	}
	return &remembering{
		next: l,
		refused: otter.Must(&otter.Options[string, refusal]{
			MaximumSize: maxKeys,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, refusal]) time.Duration {
				return max(time.Until(e.Value.until), time.Nanosecond)
			}),
		}),
	}
}

type refusal struct {
	until time.Time
	cost  int
}

type remembering struct {
	next    Limiter
	refused *otter.Cache[string, refusal]
}

func (r *remembering) Allow(ctx context.Context, key string, cost int) (Result, error) {
	cost = max(cost, 1)
	if ref, ok := r.refused.GetIfPresent(key); ok && cost >= ref.cost {
		if wait := time.Until(ref.until); wait > 0 {
			return Result{RetryAfter: wait}, nil
		}
	}
	asked := time.Now() // the wait runs from before the round trip
	degraded := r.Degraded()
	res, err := r.next.Allow(ctx, key, cost)
	// A refusal by a degraded limiter's fallback is not remembered: it
	// would outlive the outage, refusing what the shared budget allows.
	// Degraded before or after the call, the fallback may have answered.
	if err == nil && !res.Allowed && res.RetryAfter > 0 && !degraded && !r.Degraded() {
		r.refused.Set(key, refusal{until: asked.Add(res.RetryAfter), cost: cost})
	}
	return res, err
}

// Degraded passes on the wrapped limiter's, for the gauge.
func (r *remembering) Degraded() bool {
	d, ok := r.next.(interface{ Degraded() bool })
	return ok && d.Degraded()
}
