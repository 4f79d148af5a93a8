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
