package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskapi/server/internal/tcpproxy"
)

// redisOptions returns the options of the Redis named by REDIS_URL, skipping
// the test when it is unset and failing it when the server does not answer.
func redisOptions(t *testing.T) *redis.Options {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL is not set: skipping the Redis limiter tests (CI sets REDIS_URL=redis://127.0.0.1:6379/0)")
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("parsing REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("REDIS_URL is set but the server does not answer: %v", err)
	}
	return opts
}

// testPrefix is a key prefix of this run's own, so that parallel runs do
// not share budgets; its keys are deleted when the test ends.
func testPrefix(t *testing.T, opts *redis.Options) string {
	t.Helper()
	prefix := DefaultPrefix + "test:" + rand.Text()[:12] + ":"
	t.Cleanup(func() {
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "rate:"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting test keys: %v", err)
		}
	})
	return prefix
}

func newClient(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestRedis(t *testing.T) {
	opts := redisOptions(t)

	t.Run("two instances share one budget", func(t *testing.T) {
		prefix := testPrefix(t, opts)
		a := NewRedis(newClient(t, opts), slow, NewLocal(slow, 10), nil, WithPrefix(prefix))
		b := NewRedis(newClient(t, opts), slow, NewLocal(slow, 10), nil, WithPrefix(prefix))
		if n, _ := spend(t, a, SubjectKey("alice"), 60, 1); n != 1 {
			t.Fatal("instance a refused cost 60 on a full budget")
		}
		if _, res := spend(t, b, SubjectKey("alice"), 30, 1); !res.Allowed || res.Remaining != 10 {
			t.Fatalf("instance b after a spent 60 and b 30: %+v, want allowed with 10 remaining", res)
		}
		_, res := spend(t, a, SubjectKey("alice"), 20, 1)
		if res.Allowed || res.RetryAfter <= 0 {
			t.Fatalf("instance a, cost 20 with 10 left: %+v, want refused with RetryAfter > 0", res)
		}
		if n, _ := spend(t, b, SubjectKey("bob"), 100, 1); n != 1 {
			t.Fatal("bob refused after alice spent her budget")
		}
		if a.Degraded() || b.Degraded() {
			t.Fatal("degraded with Redis up")
		}
	})

	t.Run("a cost above the burst is refused as Local refuses it", func(t *testing.T) {
		r := NewRedis(newClient(t, opts), slow, NewLocal(slow, 10), nil, WithPrefix(testPrefix(t, opts)))
		if _, res := spend(t, r, "k", 101, 1); res != slow.refused() {
			t.Fatalf("cost 101 on burst 100: %+v, want %+v", res, slow.refused())
		}
	})

	t.Run("a caller's ended context is an error, not an outage", func(t *testing.T) {
		r := NewRedis(newClient(t, opts), slow, NewLocal(slow, 10), nil, WithPrefix(testPrefix(t, opts)))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := r.Allow(ctx, "k", 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Allow on a canceled context: %v, want context.Canceled", err)
		}
		if r.Degraded() {
			t.Fatal("degraded by a caller's canceled context")
		}
	})

	t.Run("a Redis that answers PING but refuses scripts stays degraded", func(t *testing.T) {
		admin := newClient(t, opts)
		user, password := "rl_noscript_"+rand.Text()[:8], rand.Text()
		if err := admin.Do(context.Background(), "ACL", "SETUSER", user, "on", ">"+password, "~*", "+@all", "-@scripting").Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
		o := *opts
		o.Username, o.Password = user, password
		r := NewRedis(newClient(t, &o), slow, NewLocal(slow, 10), nil,
			WithPrefix(testPrefix(t, opts)), WithProbeInterval(10*time.Millisecond))
		spend(t, r, "k", 1, 1)
		if !r.Degraded() {
			t.Fatal("not degraded when scripts are refused")
		}
		for i := range 5 {
			time.Sleep(20 * time.Millisecond)  // past the probe interval
			spend(t, r, "k", 1, 1)             // starts a probe
			time.Sleep(100 * time.Millisecond) // for its answer
			if !r.Degraded() {
				t.Fatalf("probe %d took a Redis that refuses scripts for healthy", i)
			}
		}
	})

	t.Run("while degraded, requests do not touch Redis between probes", func(t *testing.T) {
		p := startProxy(t, opts.Addr)
		via := *opts
		via.Addr = p.Addr()
		rdb := newClient(t, &via)
		var calls counter
		rdb.AddHook(&calls)
		r := NewRedis(rdb, slow, NewLocal(slow, 10), slog.New(slog.DiscardHandler),
			WithPrefix(testPrefix(t, opts)), WithProbeInterval(time.Hour))
		p.Stop()
		spend(t, r, "k", 1, 1)
		if !r.Degraded() {
			t.Fatal("not degraded with Redis away")
		}
		before := calls.n.Load()
		if n, _ := spend(t, r, "k", 1, 100); n != 99 {
			t.Fatalf("%d of 100 allowed locally, want the 99 left of 100", n)
		}
		if n := calls.n.Load() - before; n != 0 {
			t.Fatalf("%d dials or commands during 100 degraded requests, want none", n)
		}
	})

	t.Run("without Redis budgets are kept locally, and shared again when it is back", func(t *testing.T) {
		p := startProxy(t, opts.Addr)
		via := *opts
		via.Addr = p.Addr()
		via.DialTimeout, via.ReadTimeout, via.WriteTimeout = time.Second, time.Second, time.Second
		var logs syncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		local := Limit{Rate: 5, Period: time.Hour, Burst: 5}
		r := NewRedis(newClient(t, &via), slow, NewLocal(local, 10), logger,
			WithPrefix(testPrefix(t, opts)), WithProbeInterval(100*time.Millisecond))

		if _, res := spend(t, r, "k", 30, 1); !res.Allowed || res.Remaining != 70 || r.Degraded() {
			t.Fatalf("with Redis up: %+v, degraded %v", res, r.Degraded())
		}

		p.Stop()
		if n, _ := spend(t, r, "k", 1, 5); n != 5 {
			t.Fatalf("%d of 5 allowed by the fallback's budget of 5", n)
		}
		if !r.Degraded() {
			t.Fatal("not degraded with Redis away")
		}
		if n, _ := spend(t, r, "k", 1, 1); n != 0 {
			t.Fatal("allowed past the fallback's budget: not limited locally")
		}
		if n := strings.Count(logs.String(), "redis unavailable"); n != 1 {
			t.Fatalf("outage logged %d times, want once:\n%s", n, logs.String())
		}

		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for r.Degraded() {
			if time.Now().After(deadline) {
				t.Fatal("still degraded 10 s after Redis came back")
			}
			spend(t, r, "k", 1, 1) // probes run only when requests come
			time.Sleep(20 * time.Millisecond)
		}
		// Redis still holds 70 of the key's 100; the fallback has none left.
		if _, res := spend(t, r, "k", 10, 1); !res.Allowed || res.Remaining != 60 {
			t.Fatalf("after Redis came back: %+v, want Redis's budget (allowed, 60 remaining)", res)
		}
		if n := strings.Count(logs.String(), "redis is back"); n != 1 {
			t.Fatalf("recovery logged %d times, want once:\n%s", n, logs.String())
		}
	})
}

// counter counts the dials and commands of a Redis client.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.n.Add(1)
		return next(ctx, network, addr)
	}
}

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// syncBuffer is a bytes.Buffer the limiter's probe goroutine and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProxy puts a TCP proxy in front of target: stopping it is what the
// limiter sees when Redis goes away.
func startProxy(t *testing.T, target string) *tcpproxy.Proxy {
	t.Helper()
	p, err := tcpproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}
