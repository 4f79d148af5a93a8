package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix namespaces our keys in a Redis shared with other uses.
// redis_rate puts its own "rate:" before it.
const DefaultPrefix = "tasks:rl:"

// DefaultProbeInterval is how often, at most, a degraded Redis limiter asks
// whether Redis is back: often enough to return within seconds, rarely
// enough that a dead Redis costs nothing per request.
const DefaultProbeInterval = 2 * time.Second

// probeTimeout bounds one probe, which runs in the background.
const probeTimeout = time.Second

// Redis keeps budgets in Redis, so that every instance spends from the same
// one (GCRA by redis_rate, computed in a Lua script on Redis's clock).
//
// When a call to Redis fails, the limiter is degraded: it logs that once,
// answers from its fallback Local (whose budgets are per instance, so give
// it a tighter limit if N instances × the fallback's limit is too much),
// and probes Redis in the background at most every probe interval, logging
// once more and returning to Redis when it answers. Until a call fails,
// requests wait as long as the client's dial and read timeouts allow, so
// the client should keep them short.
type Redis struct {
	rdb        redis.UniversalClient
	rl         *redis_rate.Limiter
	limit      Limit
	fallback   *Local
	logger     *slog.Logger
	prefix     string
	probeEvery time.Duration

	epoch     time.Time
	degraded  atomic.Bool
	lastProbe atomic.Int64 // nanoseconds since epoch
}

var _ Limiter = (*Redis)(nil)

// RedisOption configures NewRedis.
type RedisOption func(*Redis)

// WithPrefix replaces DefaultPrefix, for a Redis shared by deployments or
// by test runs.
func WithPrefix(prefix string) RedisOption { return func(r *Redis) { r.prefix = prefix } }

// WithProbeInterval replaces DefaultProbeInterval.
func WithProbeInterval(d time.Duration) RedisOption {
	return func(r *Redis) { r.probeEvery = d }
}

// NewRedis returns a limiter on client's Redis that falls back to fallback
// while Redis is away. It panics if limit does not Validate or fallback is
// nil; a nil logger means slog.Default().
func NewRedis(client redis.UniversalClient, limit Limit, fallback *Local, logger *slog.Logger, opts ...RedisOption) *Redis {
	limit.mustValidate()
	if fallback == nil {
		panic("rate limit: a Redis limiter needs a fallback")
	}
	if logger == nil {
		logger = slog.Default()
	}
	r := &Redis{
		rdb:        client,
		rl:         redis_rate.NewLimiter(client),
		limit:      limit,
		fallback:   fallback,
		logger:     logger,
		prefix:     DefaultPrefix,
		probeEvery: DefaultProbeInterval,
		epoch:      time.Now(),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Degraded reports whether budgets are served locally because Redis is
// away; it is meant for a gauge.
func (r *Redis) Degraded() bool { return r.degraded.Load() }

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, cost int) (Result, error) {
	cost = max(cost, 1)
	if cost > r.limit.Burst {
		return r.limit.refused(), nil // the same answer Local gives, without a round trip
	}
	if r.degraded.Load() {
		r.maybeProbe()
		return r.fallback.Allow(ctx, key, cost)
	}
	res, err := r.rl.AllowN(ctx, r.redisKey(key), redis_rate.Limit{Rate: r.limit.Rate, Burst: r.limit.Burst, Period: r.limit.Period}, cost)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about Redis.
			return Result{}, fmt.Errorf("checking rate limit: %w", ctx.Err())
		}
		r.degrade(err)
		return r.fallback.Allow(ctx, key, cost)
	}
	out := Result{Allowed: res.Allowed > 0, Remaining: res.Remaining}
	if !out.Allowed {
		out.RetryAfter = res.RetryAfter
	}
	return out, nil
}

// redisKey hashes key, so that a Redis key's length does not depend on
// what a client sends and subjects do not appear in Redis.
func (r *Redis) redisKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.prefix + hex.EncodeToString(sum[:16])
}

func (r *Redis) sinceEpoch() int64 { return int64(time.Since(r.epoch)) }

func (r *Redis) degrade(err error) {
	if r.degraded.CompareAndSwap(false, true) {
		r.lastProbe.Store(r.sinceEpoch())
		r.logger.Warn("rate limits: redis unavailable, limiting per instance until it is back", "err", err)
	}
}

// maybeProbe starts one background probe if none ran for the interval;
// the request that starts it does not wait for it.
func (r *Redis) maybeProbe() {
	now, last := r.sinceEpoch(), r.lastProbe.Load()
	if now-last < int64(r.probeEvery) || !r.lastProbe.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		// What requests do, not a PING: a Redis that answers PING but
		// refuses scripts (a read-only replica, out of memory, an ACL)
		// would otherwise flip between degraded and shared every probe.
		probe := redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Second}
		if _, err := r.rl.AllowN(ctx, r.prefix+"probe", probe, 0); err != nil {
			return
		}
		if r.degraded.CompareAndSwap(true, false) {
			r.logger.Info("rate limits: redis is back, budgets are shared again")
		}
	}()
}
