package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
	"github.com/taskapi/server/migrate"
)

// stallProxy forwards TCP to a database and, once stalled, holds every
// byte: a database that hangs (as PostgreSQL under SIGSTOP does) without
// stopping the one the rest of the suite shares.
type stallProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	// held counts the chunks of bytes held back while stalled.
	held atomic.Int64
	// closed counts connections the application closed.
	closed atomic.Int64
	// accepted counts connections the application opened.
	accepted atomic.Int64
	// waiting holds the connections whose statements are held back.
	waiting sync.Map
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *stallProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go p.pipe(server, client, true)
		go p.pipe(client, server, false)
	}
}

// pipe copies src to dst. It keeps reading while stalled, so it sees the
// moment src is closed; only the writes wait.
func (p *stallProxy) pipe(dst, src net.Conn, fromApp bool) {
	chunks := make(chan []byte, 1024)
	go func() {
		defer dst.Close()
		for c := range chunks {
			for p.stalled.Load() {
				time.Sleep(5 * time.Millisecond) // infrastructure, not a timing assertion
			}
			if _, err := dst.Write(c); err != nil {
				return
			}
		}
	}()
	defer close(chunks)
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			if p.stalled.Load() {
				p.held.Add(1)
				// A statement, not a new connection's startup or a cancel
				// request: those open with a length, whose first byte is 0.
				if fromApp && buf[0] != 0 {
					p.waiting.Store(src, true)
				}
			}
			chunks <- buf[:n]
		}
		if err != nil {
			if fromApp {
				p.closed.Add(1) // the application closed its end
			}
			return
		}
	}
}

// apiThrough is the API over a database opened through a stallProxy, its
// requests bounded by timeout.
func apiThrough(t *testing.T, timeout time.Duration) (*api, *stallProxy) {
	t.Helper()
	db, proxy := openThrough(t)
	lim := graph.DefaultLimits()
	lim.Timeout = timeout
	return newAPIWith(t, db, serverOptions{GraphQL: graph.Options{Limits: lim}}), proxy
}

// openThrough opens a fresh, migrated PostgreSQL test database whose
// connections pass through a stallProxy.
func openThrough(t *testing.T) (*database.DB, *stallProxy) {
	t.Helper()
	raw := testdb.URL(t, dialect.Postgres)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if !strings.Contains(host, ":") {
		host += ":5432"
	}
	p := newStallProxy(t, host)
	u.Host = p.ln.Addr().String()
	db, err := database.Open(context.Background(), u.String(), database.Pool{MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := migrate.Up(context.Background(), db.SQL, db.Dialect); err != nil {
		t.Fatal(err)
	}
	return db, p
}

// TestDeadlineWhenTheDatabaseHangs: a request whose SQL does not come back
// gets a coded 503 with Retry-After at its deadline, not an empty reply
// after the write timeout, and the server answers again once the database
// does.
func TestDeadlineWhenTheDatabaseHangs(t *testing.T) {
	needPostgres(t)
	a, proxy := apiThrough(t, 500*time.Millisecond)
	tok := a.token("alice")
	a.createTask(t, tok, map[string]any{"title": "before the hang"})

	proxy.stalled.Store(true)
	start := time.Now()
	res := a.post(tok, `{ tasks { totalCount } }`, nil)
	took := time.Since(start)
	if proxy.held.Load() == 0 {
		t.Fatal("the request never reached the database")
	}
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q: %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	if e := res.onlyError(t); e.code() != gqlerr.Timeout {
		t.Errorf("code %q", e.code())
	}
	if took > 10*time.Second {
		t.Errorf("answered after %v", took) // generous: unbounded, it waited 100 s
	}
	create := a.post(tok, `mutation { createTask(input: {title: "during the hang"}) { id } }`, nil)
	if create.Status != http.StatusServiceUnavailable {
		t.Errorf("a write during the hang: status %d: %s", create.Status, create.Body)
	}

	proxy.stalled.Store(false)
	got := a.list(t, tok, map[string]any{})
	// The refused create may or may not have reached the table before the
	// hang; the client was told to retry either way, and nothing else
	// changed.
	if len(got.Edges) < 1 || got.Edges[len(got.Edges)-1].Node.Title != "before the hang" {
		t.Errorf("after the hang: %v", got.titles())
	}
}

// TestWorkStopsWhenTheClientLeaves: when the client of a request whose SQL
// hangs goes away, the request ends at once and PostgreSQL is asked to
// cancel the query, rather than both waiting for the database.
func TestWorkStopsWhenTheClientLeaves(t *testing.T) {
	needPostgres(t)
	db, proxy := openThrough(t)
	lim := graph.DefaultLimits()
	lim.Timeout = time.Minute // the client leaves long before
	logs := &syncBuffer{}
	h, v := testHandler(t, db, logs, serverOptions{GraphQL: graph.Options{Limits: lim}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tok, err := v.Sign("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	proxy.stalled.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/query",
			strings.NewReader(`{"query":"{ tasks { totalCount } }"}`))
		req.Header = header(tok, "application/json")
		res, err := srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool { return proxy.held.Load() > 0 }, "the request to reach the database")
	opened := proxy.accepted.Load()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	// The database still hangs: only the request's own context can have
	// ended it.
	waitFor(t, func() bool { return strings.Contains(logs.String(), "path=/query") }, "the request to end")
	// pgx's cancel request comes on a connection of its own.
	waitFor(t, func() bool { return proxy.accepted.Load() > opened }, "a cancel request to PostgreSQL")
	if !proxy.stalled.Load() {
		t.Fatal("the proxy let go early")
	}
	proxy.stalled.Store(false)
}

// TestOneOperationDoesNotTakeThePool: the root fields of one query resolve
// a few at a time, so while the database hangs one request holds at most
// RootFieldsAtOnce connections and leaves the rest of the pool to others.
func TestOneOperationDoesNotTakeThePool(t *testing.T) {
	needPostgres(t)
	a, proxy := apiThrough(t, time.Second)
	tok := a.token("alice")
	a.createTask(t, tok, map[string]any{"title": "t"})

	proxy.stalled.Store(true)
	var q strings.Builder
	q.WriteString("{")
	for i := range 10 {
		fmt.Fprintf(&q, " t%d: tasks(first: 1) { edges { node { id } } }", i)
	}
	q.WriteString(" }")
	res := a.post(tok, q.String(), nil)
	if res.Status != http.StatusServiceUnavailable {
		t.Errorf("status %d: %s", res.Status, res.Body)
	}
	waiting := 0
	proxy.waiting.Range(func(_, _ any) bool { waiting++; return true })
	if waiting < 2 || waiting > graph.RootFieldsAtOnce {
		t.Errorf("%d connections waited on the database at once, want 2 to %d", waiting, graph.RootFieldsAtOnce)
	}
	proxy.stalled.Store(false)
}

// needPostgres skips, saying so, where the PostgreSQL part of the suite
// does not run; CI sets TEST_DATABASE_URL, so there it always runs.
func needPostgres(t *testing.T) {
	t.Helper()
	for _, d := range testdb.Dialects() {
		if d == dialect.Postgres {
			return
		}
	}
	t.Skip("TEST_DATABASE_URL is not set: this test needs PostgreSQL")
}

// waitFor polls cond for up to 10 s: a condition, not a timing claim.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
