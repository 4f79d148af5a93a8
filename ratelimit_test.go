package main

import (
	"crypto/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/ratelimit"
	"github.com/taskapi/server/internal/testdb"
)

// A budget that refills too slowly to matter during a test: what is spent
// is gone.
var testRateLimit = ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 3000}

// costly is a query near the cost limit: two fit in testRateLimit's burst,
// a third does not.
var costly = `{ totalCount: tasks { totalCount } page: tasks(first: 100) { edges { node { ` + taskFields + ` } } } }`

func TestRateLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPIWith(t, db, serverOptions{RateLimit: ratelimit.NewLocal(testRateLimit, 1000)})
		alice, bob := a.token("alice"), a.token("bob")
		var out map[string]any
		a.post(alice, costly, nil).decode(t, &out)
		a.post(alice, costly, nil).decode(t, &out)

		t.Run("over the budget: 429 with Retry-After, a code, and nothing written", func(t *testing.T) {
			for _, accept := range []string{"application/json", "application/graphql-response+json"} {
				h := header(alice, "application/json")
				h.Set("Accept", accept)
				res := a.raw("POST", "/query", strings.NewReader(`{"query": `+quote(costly)+`}`), h)
				e := res.onlyError(t)
				secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
				if res.Status != http.StatusTooManyRequests || e.code() != gqlerr.RateLimited || secs < 1 || res.Data != nil {
					t.Errorf("accepting %s: %d %q %s", accept, res.Status, res.Header.Get("Retry-After"), res.Body)
				}
			}
			// Spend what is left with cheap queries, then a mutation is
			// refused too.
			for i := 0; a.post(alice, `{ tasks(first: 1) { edges { node { id } } } }`, nil).Status == 200; i++ {
				if i > 1000 {
					t.Fatal("cheap queries never ran out of budget")
				}
			}
			before := countRows(t, db)
			res := a.post(alice, `mutation { createTask(input: {title: "x"}) { id } }`, nil)
			if res.Status != http.StatusTooManyRequests || countRows(t, db) != before {
				t.Errorf("a mutation over the budget: %d %s, rows %d → %d", res.Status, res.Body, before, countRows(t, db))
			}
		})
		t.Run("cost counts: many cheap operations fit where one costly did not", func(t *testing.T) {
			for i := range 100 {
				if res := a.post(bob, `{ tasks(first: 1) { edges { node { id } } } }`, nil); res.Status != 200 {
					t.Fatalf("bob's cheap query %d: %d %s", i, res.Status, res.Body)
				}
			}
		})
	})
}

// TestRateLimitSharedThroughRedis: two instances on one Redis hold one
// budget between them.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("needs REDIS_URL")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "tasks:rl:test:" + rand.Text() + ":"
	db := testdb.Open(t, "sqlite3")
	var apis [2]*api
	for i := range apis {
		client := redis.NewClient(opts)
		t.Cleanup(func() { client.Close() })
		limiter := ratelimit.NewRedis(client, testRateLimit, ratelimit.NewLocal(testRateLimit, 1000), nil, ratelimit.WithPrefix(prefix))
		apis[i] = newAPIWith(t, db, serverOptions{RateLimit: limiter, GraphQL: graph.Options{}})
	}
	alice := apis[0].token("alice")
	var out map[string]any
	apis[0].post(alice, costly, nil).decode(t, &out)
	apis[1].post(alice, costly, nil).decode(t, &out)
	for i, a := range apis {
		if res := a.post(alice, costly, nil); res.Status != http.StatusTooManyRequests {
			t.Errorf("instance %d after the budget was spent on both: %d %s", i, res.Status, res.Body)
		}
	}
}
