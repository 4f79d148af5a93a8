package ratelimit

import (
	"context"
	"testing"
	"time"
)

// counting refuses costs over its allowance and counts the calls.
type counting struct {
	calls int
	allow int
}

func (c *counting) Allow(_ context.Context, _ string, cost int) (Result, error) {
	c.calls++
	if cost > c.allow {
		return Result{RetryAfter: 50 * time.Millisecond}, nil
	}
	return Result{Allowed: true}, nil
}

func TestRemember(t *testing.T) {
	next := &counting{allow: 10}
	l := Remember(next, 100)
	ctx := context.Background()
	if res, _ := l.Allow(ctx, "k", 20); res.Allowed {
		t.Fatal("cost 20 allowed")
	}
	for range 5 {
		if res, _ := l.Allow(ctx, "k", 30); res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > 50*time.Millisecond {
			t.Fatalf("a larger cost while refused: %+v", res)
		}
	}
	if next.calls != 1 {
		t.Errorf("refusals of costs as large went to the store: %d calls", next.calls)
	}
	if res, _ := l.Allow(ctx, "k", 5); !res.Allowed || next.calls != 2 {
		t.Errorf("a smaller cost is asked of the store: %+v, %d calls", res, next.calls)
	}
	if res, _ := l.Allow(ctx, "other", 5); !res.Allowed {
		t.Error("another key was refused")
	}
	time.Sleep(60 * time.Millisecond) // past the refusal's RetryAfter
	next.allow = 100
	if res, _ := l.Allow(ctx, "k", 20); !res.Allowed {
		t.Errorf("after RetryAfter: %+v", res)
	}
}

// degradedCounting refuses everything while degraded.
type degradedCounting struct {
	counting
	degraded bool
}

func (d *degradedCounting) Allow(ctx context.Context, key string, cost int) (Result, error) {
	if d.degraded {
		d.calls++
		return Result{RetryAfter: time.Hour}, nil
	}
	return d.counting.Allow(ctx, key, cost)
}

func (d *degradedCounting) Degraded() bool { return d.degraded }

// TestRememberForgetsOutages: what a degraded limiter's fallback refused
// is asked again once the shared store is back.
func TestRememberForgetsOutages(t *testing.T) {
	next := &degradedCounting{counting: counting{allow: 10}, degraded: true}
	l := Remember(next, 100)
	ctx := context.Background()
	if res, _ := l.Allow(ctx, "k", 5); res.Allowed {
		t.Fatal("allowed while the fallback refuses")
	}
	next.degraded = false
	if res, _ := l.Allow(ctx, "k", 5); !res.Allowed {
		t.Errorf("after the outage: %+v, want the shared budget asked", res)
	}
}
