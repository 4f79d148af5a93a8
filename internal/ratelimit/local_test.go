package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slow refills one unit every 36 s, so no test sees a refill unless its
// clock says so.
var slow = Limit{Rate: 100, Period: time.Hour, Burst: 100}

// frozen stops l's clock, so that counts do not depend on how fast the
// test runs.
func frozen(l *Local) *Local {
	at := l.now()
	l.now = func() time.Duration { return at }
	return l
}

func spend(t *testing.T, l Limiter, key string, cost, times int) (allowed int, last Result) {
	t.Helper()
	for range times {
		res, err := l.Allow(context.Background(), key, cost)
		if err != nil {
			t.Fatalf("Allow: %v", err)
		}
		if res.Allowed {
			allowed++
		}
		last = res
	}
	return allowed, last
}

func TestLocal(t *testing.T) {
	t.Run("a burst over the budget is refused with a retry time", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		if n, _ := spend(t, l, "k", 1, 100); n != 100 {
			t.Fatalf("allowed %d of the burst of 100", n)
		}
		n, res := spend(t, l, "k", 1, 1)
		if n != 0 || res.RetryAfter <= 0 || res.Remaining != 0 {
			t.Fatalf("101st call: %+v, want refused with RetryAfter > 0", res)
		}
		if want := 36 * time.Second; res.RetryAfter != want {
			t.Fatalf("RetryAfter = %v, want one unit's refill %v", res.RetryAfter, want)
		}
	})

	t.Run("remaining counts down by cost", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		if _, res := spend(t, l, "k", 30, 1); !res.Allowed || res.Remaining != 70 {
			t.Fatalf("after spending 30: %+v, want allowed with 70 remaining", res)
		}
	})

	t.Run("one call of cost 100 spends as much as 100 calls of cost 1", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		if n, _ := spend(t, l, "big", 100, 1); n != 1 {
			t.Fatal("cost 100 refused on a full budget of 100")
		}
		if n, _ := spend(t, l, "big", 1, 1); n != 0 {
			t.Fatal("cost 1 allowed after cost 100 emptied the budget")
		}
		spend(t, l, "small", 1, 100)
		if n, _ := spend(t, l, "small", 100, 1); n != 0 {
			t.Fatal("cost 100 allowed after 100 calls of cost 1")
		}
	})

	t.Run("a refused cost spends nothing", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		spend(t, l, "k", 60, 1)
		if n, _ := spend(t, l, "k", 60, 1); n != 0 {
			t.Fatal("second cost 60 allowed on a budget of 100")
		}
		if n, _ := spend(t, l, "k", 40, 1); n != 1 {
			t.Fatal("cost 40 refused: the refused call spent units")
		}
	})

	t.Run("the budget refills with time", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		_, res := spend(t, l, "k", 100, 2)
		at := l.now() + res.RetryAfter
		l.now = func() time.Duration { return at }
		if n, _ := spend(t, l, "k", 100, 1); n != 1 {
			t.Fatal("refused after waiting RetryAfter")
		}
	})

	t.Run("a cost above the burst is refused without spending", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		_, res := spend(t, l, "k", 101, 1)
		if res.Allowed || res.RetryAfter != time.Hour {
			t.Fatalf("cost 101 on burst 100: %+v, want refused with RetryAfter = a full refill (1h)", res)
		}
		if n, _ := spend(t, l, "k", 100, 1); n != 1 {
			t.Fatal("the refused cost 101 spent units")
		}
	})

	t.Run("a cost below 1 counts as 1", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		if _, res := spend(t, l, "k", 0, 1); res.Remaining != 99 {
			t.Fatalf("after cost 0: %+v, want 99 remaining", res)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		l := frozen(NewLocal(slow, 10))
		spend(t, l, SubjectKey("alice"), 100, 1)
		if n, _ := spend(t, l, SubjectKey("bob"), 100, 1); n != 1 {
			t.Fatal("bob refused after alice spent her budget")
		}
	})

	t.Run("keys stay bounded by maxKeys", func(t *testing.T) {
		const maxKeys = 100
		l := NewLocal(slow, maxKeys)
		for i := range 10 * maxKeys {
			spend(t, l, fmt.Sprint("key", i), 1, 1)
		}
		if n := l.size(); n > maxKeys {
			t.Fatalf("%d keys held, want at most %d", n, maxKeys)
		}
	})

	t.Run("a key whose budget is full again is dropped", func(t *testing.T) {
		l := NewLocal(Limit{Rate: 1000, Period: time.Second, Burst: 10}, 100)
		spend(t, l, "k", 1, 1) // full again after 1 ms
		deadline := time.Now().Add(5 * time.Second)
		for l.size() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d keys still held 5 s after their budgets refilled", l.size())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("concurrent calls spend exactly the budget", func(t *testing.T) {
		l := frozen(NewLocal(slow, 1000))
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 50 {
					for _, key := range []string{"shared", fmt.Sprint("own", g, i%5)} {
						res, err := l.Allow(context.Background(), key, 1)
						if err != nil {
							t.Errorf("Allow: %v", err)
						}
						if res.Allowed && key == "shared" {
							allowed.Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 100 {
			t.Fatalf("%d of 800 concurrent calls allowed on a budget of 100", n)
		}
	})
}

func TestLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit Limit
		ok    bool
	}{
		{"a usual limit is valid", Limit{Rate: 100, Period: time.Minute, Burst: 3000}, true},
		{"a zero rate is refused", Limit{Period: time.Minute, Burst: 1}, false},
		{"a zero period is refused", Limit{Rate: 1, Burst: 1}, false},
		{"a zero burst is refused", Limit{Rate: 1, Period: time.Minute}, false},
		{"a burst × period past int64 is refused", Limit{Rate: 1, Period: 1000 * time.Hour, Burst: 1 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.limit.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		same       bool
	}{
		{"two IPv4 addresses differ", "192.0.2.1", "192.0.2.2", false},
		{"an IPv4-mapped address is its IPv4 address", "::ffff:192.0.2.1", "192.0.2.1", true},
		{"two addresses in one IPv6 /64 share a key", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"two IPv6 /64s differ", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := AddrKey(netip.MustParseAddr(tc.a)), AddrKey(netip.MustParseAddr(tc.b))
			if (a == b) != tc.same {
				t.Fatalf("AddrKey: %q, %q", a, b)
			}
		})
	}
	if AddrKey(netip.MustParseAddr("192.0.2.1")) == SubjectKey("192.0.2.1") {
		t.Fatal("a subject spelled like an address shares its key")
	}
}
