package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/clientaddr"
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

// A budget for addresses that fits exactly three refused requests.
var addrTestLimit = ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 3 * graph.UnauthenticatedCost}

// TestAddressBudget: requests refused for their credentials spend from
// their client address's budget; once it is spent they get 429, while
// valid tokens from the same address and other addresses are unaffected.
func TestAddressBudget(t *testing.T) {
	db := testdb.Open(t, "sqlite3")
	proxies, err := clientaddr.New([]string{"127.0.0.1/32", "::1"}, "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	h, signer := testHandler(t, db, &logs, serverOptions{RateLimit: ratelimit.NewLocal(addrTestLimit, 1000), ClientAddr: proxies})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, signer: signer, db: db}
	from := func(addr, tok string) http.Header {
		h := header(tok, "application/json")
		if addr != "" {
			h.Set("X-Forwarded-For", addr)
		}
		return h
	}
	query := func(addr, tok string) response {
		return a.raw("POST", "/query", strings.NewReader(`{"query":"{ tasks { totalCount } }"}`), from(addr, tok))
	}

	for i := range 3 {
		if res := query("203.0.113.7", "not-a-token"); res.Status != http.StatusUnauthorized {
			t.Fatalf("refused request %d: %d %s", i, res.Status, res.Body)
		}
	}
	t.Run("then 429 with Retry-After, a code and the request id", func(t *testing.T) {
		for _, tok := range []string{"not-a-token", ""} {
			res := query("203.0.113.7", tok)
			e := res.onlyError(t)
			secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.Status != http.StatusTooManyRequests || e.code() != gqlerr.RateLimited || secs < 1 ||
				e.Extensions["requestId"] != res.Header.Get("X-Request-Id") || res.Data != nil {
				t.Errorf("token %q: %d %q %s", tok, res.Status, res.Header.Get("Retry-After"), res.Body)
			}
		}
	})
	t.Run("a valid token from the same address is served", func(t *testing.T) {
		var out map[string]any
		query("203.0.113.7", a.token("alice")).decode(t, &out)
	})
	t.Run("an expired token from the same address still gets its 401", func(t *testing.T) {
		for range 5 {
			if res := query("203.0.113.7", expiredToken(t, a)); res.Status != http.StatusUnauthorized {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		}
	})
	t.Run("another address still gets its 401", func(t *testing.T) {
		if res := query("198.51.100.1", "not-a-token"); res.Status != http.StatusUnauthorized {
			t.Errorf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("an IPv6 client is one budget per /64", func(t *testing.T) {
		for i := range 3 {
			query(fmt.Sprintf("2001:db8:1:2::%x", i+1), "")
		}
		if res := query("2001:db8:1:2:ffff::1", ""); res.Status != http.StatusTooManyRequests {
			t.Errorf("a fourth address of the same /64: %d %s", res.Status, res.Body)
		}
		if res := query("2001:db8:1:3::1", ""); res.Status != http.StatusUnauthorized {
			t.Errorf("another /64: %d %s", res.Status, res.Body)
		}
	})
	t.Run("a refused connection_init spends from it too", func(t *testing.T) {
		// The socket comes from 127.0.0.1 without a forwarded address:
		// the proxy itself is the client.
		for i := range 3 {
			c := initWS(t, a, "not-a-token")
			if code, _ := c.closedWith(10 * time.Second); code != graph.CloseForbidden {
				t.Fatalf("refused init %d closed with %d", i, code)
			}
		}
		c := initWS(t, a, "not-a-token")
		if code, reason := c.closedWith(10 * time.Second); code != graph.CloseTryAgainLater || !strings.Contains(reason, "retry in") {
			t.Errorf("over the budget: closed with %d %q", code, reason)
		}
		initWS(t, a, a.token("alice")).expect("connection_ack")
		// An expired token is a user's, whose client refreshes on 4403:
		// it neither spends nor is turned into a back-off.
		c = initWS(t, a, expiredToken(t, a))
		if code, _ := c.closedWith(10 * time.Second); code != graph.CloseForbidden {
			t.Errorf("an expired token over the budget: closed with %d", code)
		}
	})
	t.Run("the access log names the forwarded client", func(t *testing.T) {
		if !strings.Contains(logs.String(), "client=203.0.113.7") {
			t.Errorf("no client=203.0.113.7 in the access log:\n%.2000s", logs.String())
		}
	})
	t.Run("refusals are counted by key", func(t *testing.T) {
		res := a.raw("GET", "/metrics", nil, nil)
		for _, want := range []string{`tasks_rate_limit_refusals_total{key="address"} `, "tasks_rate_limit_degraded 0"} {
			if !strings.Contains(res.Body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}

// TestAddressBudgetTrustsOnlyItsProxies: without TRUSTED_PROXIES a client
// cannot escape its budget by sending X-Forwarded-For.
func TestAddressBudgetTrustsOnlyItsProxies(t *testing.T) {
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{RateLimit: ratelimit.NewLocal(addrTestLimit, 1000)})
	statuses := make([]int, 5)
	for i := range statuses {
		h := header("not-a-token", "application/json")
		h.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
		h.Set("Forwarded", fmt.Sprintf("for=192.0.2.%d", i+1))
		statuses[i] = a.raw("POST", "/query", strings.NewReader(`{"query":"{ tasks { totalCount } }"}`), h).Status
	}
	if want := []int{401, 401, 401, 429, 429}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
}

// TestRateLimitBurst: a burst of concurrent requests over one user's budget
// gets exactly what fits answered, and 429s, nothing else.
func TestRateLimitBurst(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		const cheap = `{ tasks(first: 1) { edges { node { id } } } }`
		a := newAPIWith(t, db, serverOptions{RateLimit: ratelimit.NewLocal(testRateLimit, 1000)})
		probe := newAPIWith(t, db, serverOptions{RateLimit: ratelimit.NewLocal(testRateLimit, 1000)})
		fits := 0
		for probe.post(probe.token("probe"), cheap, nil).Status == 200 {
			fits++
		}
		if fits < 10 {
			t.Fatalf("only %d cheap queries fit the budget", fits)
		}
		tok := a.token("alice")
		n := fits + 40
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res := a.post(tok, cheap, nil)
				if res.Status == http.StatusTooManyRequests && (res.Header.Get("Retry-After") == "" || res.onlyError(t).code() != gqlerr.RateLimited) {
					t.Errorf("a 429 without Retry-After or code: %s", res.Body)
				}
				statuses <- res.Status
			})
		}
		wg.Wait()
		close(statuses)
		counts := map[int]int{}
		for s := range statuses {
			counts[s]++
		}
		if counts[200] != fits || counts[429] != n-fits || len(counts) != 2 {
			t.Errorf("%d concurrent requests where %d fit: %v", n, fits, counts)
		}
	})
}

// TestWebSocketsPendingPerAddress: one address holds at most
// MaxPendingPerAddress sockets without connection_init; past it the oldest
// is closed, and other addresses are not affected.
func TestWebSocketsPendingPerAddress(t *testing.T) {
	db := testdb.Open(t, "sqlite3")
	proxies, err := clientaddr.New([]string{"127.0.0.1/32", "::1"}, "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	h, signer := testHandler(t, db, io.Discard, serverOptions{ClientAddr: proxies})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, signer: signer, db: db}
	dial := func(from string) (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/query", &websocket.DialOptions{
			Subprotocols: []string{"graphql-transport-ws"},
			HTTPHeader:   http.Header{"X-Forwarded-For": {from}},
		})
		if conn != nil {
			t.Cleanup(func() { conn.CloseNow() })
		}
		return conn, res, err
	}
	var first *websocket.Conn
	for i := range graph.MaxPendingPerAddress {
		conn, _, err := dial("203.0.113.50")
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		if i == 0 {
			first = conn
		}
	}
	// One more: the oldest waiting socket goes, so that sockets that send
	// nothing cannot keep out one that will.
	conn, _, err := dial("203.0.113.50")
	if err != nil {
		t.Fatalf("one socket more: %v", err)
	}
	if code, _ := (&wsClient{t: t, conn: first}).closedWith(10 * time.Second); code != graph.CloseInitTimeout {
		t.Errorf("the oldest waiting socket closed with %d, want %d", code, graph.CloseInitTimeout)
	}
	c := &wsClient{t: t, conn: conn}
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + a.token("alice")})
	c.send(wsMessage{Type: "connection_init", Payload: init})
	c.expect("connection_ack")
	if _, _, err := dial("203.0.113.51"); err != nil {
		t.Errorf("another address: %v", err)
	}
}
