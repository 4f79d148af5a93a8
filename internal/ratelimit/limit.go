// Package ratelimit holds each user to a budget of cost units over time,
// so that one expensive query counts as many cheap ones. Budgets are GCRA
// (the generic cell rate algorithm): one stored instant per key, no
// background refill. They live in memory (Local) or, shared by every
// instance, in Redis (Redis), which falls back to memory while Redis is away.
package ratelimit

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Limit is a GCRA budget: Rate units per Period, with Burst units available
// at once. Burst also caps the cost of a single call (see Limiter).
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Validate reports whether l can be used; the constructors panic on a limit
// it refuses, so configuration should be checked with it first.
func (l Limit) Validate() error {
	switch {
	case l.Rate < 1:
		return errors.New("rate limit: rate must be at least 1")
	case l.Period <= 0:
		return errors.New("rate limit: period must be positive")
	case l.Burst < 1:
		return errors.New("rate limit: burst must be at least 1")
	case int64(l.Period) > math.MaxInt64/int64(l.Burst):
		// Burst × Period nanoseconds must fit an int64 for the arithmetic below.
		return errors.New("rate limit: burst × period is too large")
	}
	return nil
}

func (l Limit) mustValidate() {
	if err := l.Validate(); err != nil {
		panic(err)
	}
}

// span is the time n units take to refill, exact to the nanosecond for any
// n up to Burst (Validate keeps n × Period within an int64).
func (l Limit) span(n int) time.Duration {
	return time.Duration(int64(n) * int64(l.Period) / int64(l.Rate))
}

// refused answers a cost that can never fit. Its RetryAfter is the time a
// full burst takes to refill: the longest wait any call that fits can see.
func (l Limit) refused() Result {
	return Result{RetryAfter: l.span(l.Burst)}
}

// gcra spends cost at now against a key whose theoretical arrival time is
// tat (zero for a key never seen), returning the new tat when allowed.
func (l Limit) gcra(tat, now time.Duration, cost int) (Result, time.Duration, bool) {
	tat = max(tat, now)
	next := tat + l.span(cost)
	allowAt := next - l.span(l.Burst)
	if allowAt > now {
		return Result{RetryAfter: allowAt - now}, tat, false
	}
	remaining := int(int64(now-allowAt) * int64(l.Rate) / int64(l.Period))
	return Result{Allowed: true, Remaining: remaining}, next, true
}

// Result is the answer to one Allow call.
type Result struct {
	Allowed bool
	// Remaining is what the key may still spend at once after this call;
	// zero when refused (as redis_rate answers).
	Remaining int
	// RetryAfter, when not allowed, is how long until the cost fits.
	RetryAfter time.Duration
}

// Limiter spends budgets. Local and Redis are its two implementations.
type Limiter interface {
	// Allow spends cost units of key's budget if they fit, and spends
	// nothing otherwise. A cost below 1 counts as 1, so every operation
	// spends something. A cost above the limit's Burst can never fit: it is
	// refused with RetryAfter the time a full burst takes to refill, so the
	// server's maximum cost should not exceed Burst. The error is non-nil
	// only when ctx ends first.
	Allow(ctx context.Context, key string, cost int) (Result, error)
}

// SubjectKey is the key of an authenticated user's budget.
func SubjectKey(subject string) string { return "sub:" + subject }

// IsAddrKey reports whether key was made by AddrKey.
func IsAddrKey(key string) bool { return strings.HasPrefix(key, "addr:") }

// AddrKey is the key of a client address, for requests refused before
// authentication. An IPv6 client is keyed by its /64, the block one host
// usually gets, so that it cannot mint a fresh budget per address.
func AddrKey(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is6() {
		return "addr:" + netip.PrefixFrom(addr, 64).Masked().String()
	}
	return "addr:" + addr.String()
}
