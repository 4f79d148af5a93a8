package broker

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedis runs the conformance suite on the Redis server named by
// REDIS_URL, as an ACL user of its own on channels of its own: disabling the
// user and killing its pub/sub connections makes an outage.
func TestRedis(t *testing.T) {
	admin := os.Getenv("REDIS_URL")
	if admin == "" {
		t.Skip("REDIS_URL is not set: skipping the Redis broker suite (CI sets REDIS_URL=redis://127.0.0.1:6379/0)")
	}
	ctx := context.Background()
	opts, err := redis.ParseURL(admin)
	if err != nil {
		t.Fatalf("parsing REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("REDIS_URL is set but the server does not answer: %v", err)
	}
	user, password := "broker_test_"+rand.Text()[:12], rand.Text()
	do(t, rdb, "ACL", "SETUSER", user, "on", ">"+password, "~*", "&*", "+@all")
	t.Cleanup(func() { do(t, rdb, "ACL", "DELUSER", user) })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing REDIS_URL: %v", err)
	}
	u.User = url.UserPassword(user, password)
	brokerURL := u.String()
	// Channels of this run's own, so that parallel runs do not hear each other.
	channel := "tasks_events_test_" + rand.Text()[:12]

	testConformance(t, backend{
		instances: func(t *testing.T) (Broker, Broker) {
			t.Helper()
			return openRedis(t, brokerURL, channel, nil), openRedis(t, brokerURL, channel, nil)
		},
		foreign: func(t *testing.T, userID string) {
			t.Helper()
			bob := encode(event(Created, "bob")) // well formed, on the wrong user's channel
			for _, payload := range []string{`{"table":"tasks"}`, "1C", bob} {
				do(t, rdb, "PUBLISH", channel+":"+userID, payload)
			}
		},
		outage: func(t *testing.T) func() {
			t.Helper()
			do(t, rdb, "ACL", "SETUSER", user, "off")
			do(t, rdb, "CLIENT", "KILL", "USER", user, "TYPE", "pubsub")
			return func() { do(t, rdb, "ACL", "SETUSER", user, "on") }
		},
	})

	t.Run("a quiet listener is pinged and stays up", func(t *testing.T) {
		quick := func(o *Options) { o.HealthInterval = 5 * time.Millisecond }
		b := openRedis(t, brokerURL, channel, quick)
		testHealthCheck(t, openRedis(t, brokerURL, channel, nil), b, b.pings.Load)
	})
}

func openRedis(t *testing.T, url, channel string, tune func(*Options)) *Redis {
	t.Helper()
	opts := testOptions(t)
	opts.Channel = channel
	if tune != nil {
		tune(&opts)
	}
	r, err := NewRedis(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func do(t *testing.T, rdb *redis.Client, args ...any) {
	t.Helper()
	if err := rdb.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
}
