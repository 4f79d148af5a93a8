package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/taskapi/server/graph"
	"github.com/taskapi/server/internal/broker"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
	"github.com/taskapi/server/migrate"
)

// wsClient speaks graphql-transport-ws, as the graphql-ws library does.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a socket to a's /query with the given Origin (none if
// empty), without connection_init.
func dialWS(t *testing.T, a *api, origin string) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/query", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   h,
	})
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn}, res, nil
}

// initWS opens a socket and sends connection_init with tok (no payload if
// empty).
func initWS(t *testing.T, a *api, tok string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, a, "")
	if err != nil {
		t.Fatal(err)
	}
	init := wsMessage{Type: "connection_init"}
	if tok != "" {
		init.Payload, _ = json.Marshal(map[string]string{"Authorization": "Bearer " + tok})
	}
	c.send(init)
	return c
}

func (c *wsClient) send(m wsMessage) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c.conn, m); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next message other than ping and pong, or the close.
func (c *wsClient) next(timeout time.Duration) (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c.conn, &m); err != nil {
			return m, err
		}
		switch m.Type {
		case "ping":
			_ = wsjson.Write(ctx, c.conn, wsMessage{Type: "pong"})
		case "pong":
		default:
			return m, nil
		}
	}
}

// expect reads the next message and fails unless it has type typ.
func (c *wsClient) expect(typ string) wsMessage {
	c.t.Helper()
	m, err := c.next(10 * time.Second)
	if err != nil || m.Type != typ {
		c.t.Fatalf("want %s, got %+v (%v)", typ, m, err)
	}
	return m
}

// closedWith waits for the server to close the socket and returns the code.
func (c *wsClient) closedWith(timeout time.Duration) (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.next(timeout)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		c.t.Fatalf("the socket ended without a close frame: %v", err)
	}
}

// run sends one operation and returns its single result and errors.
func (c *wsClient) run(id, query string, vars map[string]any) (json.RawMessage, []gqlError) {
	c.t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
	m, err := c.next(10 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	var out struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	switch m.Type {
	case "next":
		if err := json.Unmarshal(m.Payload, &out); err != nil {
			c.t.Fatal(err)
		}
		c.expect("complete")
	case "error":
		if err := json.Unmarshal(m.Payload, &out.Errors); err != nil {
			c.t.Fatal(err)
		}
	default:
		c.t.Fatalf("%s: %s", m.Type, m.Payload)
	}
	return out.Data, out.Errors
}

func TestWebSocket(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPIWith(t, db, serverOptions{CORSOrigins: []string{"https://app.example"}, GraphQL: graph.Options{Introspection: true}})
		alice, bob := a.token("alice"), a.token("bob")
		a.createTask(t, alice, map[string]any{"title": "alice's"})

		t.Run("connection_init with a token runs operations as its user", func(t *testing.T) {
			c := initWS(t, a, bob)
			c.expect("connection_ack")
			data, errs := c.run("1", `{ tasks { totalCount edges { node { title } } } }`, nil)
			if len(errs) > 0 || !strings.Contains(string(data), `"totalCount":0`) {
				t.Errorf("bob lists %s %v", data, errs)
			}
			data, errs = c.run("2", `mutation { createTask(input: {title: "bob's"}) { title } }`, nil)
			if len(errs) > 0 || !strings.Contains(string(data), "bob's") {
				t.Errorf("bob creates %s %v", data, errs)
			}
			c2 := initWS(t, a, alice)
			c2.expect("connection_ack")
			data, _ = c2.run("1", `{ tasks { totalCount edges { node { title } } } }`, nil)
			if !strings.Contains(string(data), `"totalCount":1`) || strings.Contains(string(data), "bob's") {
				t.Errorf("alice lists %s", data)
			}
		})
		for name, tok := range map[string]string{"no token": "", "a bad token": "garbage", "an expired token": expiredToken(t, a)} {
			t.Run("connection_init with "+name+" is closed with 4403", func(t *testing.T) {
				c := initWS(t, a, tok)
				if code, _ := c.closedWith(10 * time.Second); code != graph.CloseForbidden {
					t.Errorf("closed with %d", code)
				}
			})
		}
		t.Run("a connection_init payload that is no object closes the socket with 4400", func(t *testing.T) {
			for _, payload := range []string{`[]`, `"x"`, `1`, `true`} {
				c, _, err := dialWS(t, a, "")
				if err != nil {
					t.Fatal(err)
				}
				c.send(wsMessage{Type: "connection_init", Payload: json.RawMessage(payload)})
				if code, _ := c.closedWith(10 * time.Second); code != 4400 {
					t.Errorf("payload %s: closed with %d", payload, code)
				}
			}
		})
		t.Run("two spellings of Authorization at once are refused", func(t *testing.T) {
			c, _, err := dialWS(t, a, "")
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + alice, "authorization": "Bearer " + bob})
			c.send(wsMessage{Type: "connection_init", Payload: payload})
			if code, _ := c.closedWith(10 * time.Second); code != graph.CloseForbidden {
				t.Errorf("closed with %d", code)
			}
		})
		t.Run("the socket closes with 4403 when the token expires", func(t *testing.T) {
			// Valid for about a second more: the leeway is 30 s.
			tok, err := a.signer.Sign("alice", -29*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c := initWS(t, a, tok)
			c.expect("connection_ack")
			if code, reason := c.closedWith(10 * time.Second); code != graph.CloseForbidden || reason != "token expired" {
				t.Errorf("closed with %d %q", code, reason)
			}
		})
		t.Run("a user's connections are bounded", func(t *testing.T) {
			carol := a.token("carol")
			for range graph.MaxConnectionsPerUser {
				initWS(t, a, carol).expect("connection_ack")
			}
			c := initWS(t, a, carol)
			if code, _ := c.closedWith(10 * time.Second); code != graph.CloseTooManyConnections {
				t.Errorf("closed with %d", code)
			}
			// Another user is not affected.
			initWS(t, a, a.token("dave")).expect("connection_ack")
		})
		t.Run("a page of another origin may not open a socket", func(t *testing.T) {
			_, res, err := dialWS(t, a, "https://evil.example")
			if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
				t.Fatalf("another origin: %v", err)
			}
			var body struct{ Errors []gqlError }
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || len(body.Errors) != 1 || body.Errors[0].code() != gqlerr.OriginNotAllowed {
				t.Errorf("another origin's answer: %+v %v", body, err)
			}
			c, _, err := dialWS(t, a, "https://app.example")
			if err != nil {
				t.Fatalf("an allowed origin: %v", err)
			}
			c.conn.CloseNow()
		})
		t.Run("the budget holds over a socket", func(t *testing.T) {
			c := initWS(t, a, alice)
			c.expect("connection_ack")
			var q strings.Builder
			q.WriteString("{")
			for i := range 4 {
				q.WriteString(" a" + string(rune('0'+i)) + ": tasks(first: 100) { edges { node { id title description isCompleted createdAt updatedAt } } }")
			}
			q.WriteString(" }")
			_, errs := c.run("1", q.String(), nil)
			if len(errs) != 1 || errs[0].code() != gqlerr.ComplexityLimit {
				t.Errorf("got %+v", errs)
			}
		})
	})
}

func expiredToken(t *testing.T, a *api) string {
	t.Helper()
	tok, err := a.signer.Sign("alice", -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestWebSocketOnlyMode(t *testing.T) {
	docs, _ := loadedDocuments(t)
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{GraphQL: graph.Options{Documents: docs, Mode: graph.ModeOnly}})
	c := initWS(t, a, a.token("alice"))
	c.expect("connection_ack")
	if _, errs := c.run("1", `{ tasks { totalCount } }`, nil); len(errs) != 1 || errs[0].code() != gqlerr.PersistedQueryNotInList {
		t.Errorf("free-form text over a socket: %+v", errs)
	}
	payload, _ := json.Marshal(map[string]any{"extensions": apq(sha(opList))})
	c.send(wsMessage{ID: "2", Type: "subscribe", Payload: payload})
	m := c.expect("next")
	if !strings.Contains(string(m.Payload), `"totalCount":0`) {
		t.Errorf("a known hash over a socket: %s", m.Payload)
	}
}

func TestWebSocketShutdown(t *testing.T) {
	shutdown, stop := context.WithCancel(context.Background())
	defer stop()
	events := broker.NewLocal(broker.Options{})
	a := newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{Events: events, GraphQL: graph.Options{Shutdown: shutdown}})
	c := initWS(t, a, a.token("alice"))
	c.expect("connection_ack")
	stop()
	if code, _ := c.closedWith(10 * time.Second); code != graph.CloseGoingAway {
		t.Errorf("closed with %d", code)
	}
	// A socket opened once shutdown has begun is ended at once.
	late := initWS(t, a, a.token("carol"))
	if code, _ := late.closedWith(10 * time.Second); code != graph.CloseGoingAway {
		t.Errorf("a socket opened during shutdown: closed with %d", code)
	}
	// The broker closing first (as at the end of a deploy) ends a
	// subscription with 1001 too, and no complete: a graphql-ws client does
	// not subscribe again after complete.
	events = broker.NewLocal(broker.Options{})
	a = newAPIWith(t, testdb.Open(t, "sqlite3"), serverOptions{Events: events})
	c2 := initWS(t, a, a.token("bob"))
	c2.expect("connection_ack")
	c2.subscribe("s")
	waitSubscribers(t, events, "bob")
	events.Close()
	m, err := c2.next(10 * time.Second)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != graph.CloseGoingAway {
		t.Errorf("after the broker closed: %+v %v", m, err)
	}
}

const taskChangedSub = `subscription { taskChanged { kind taskId task { id title isCompleted } } }`

type taskEvent struct {
	Kind   string `json:"kind"`
	TaskID string `json:"taskId"`
	Task   *task  `json:"task"`
}

// subscribe starts taskChanged on c under id.
func (c *wsClient) subscribe(id string) {
	c.t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": taskChangedSub})
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: payload})
}

// event reads the next event of subscription id.
func (c *wsClient) event(id string) taskEvent {
	c.t.Helper()
	m := c.expect("next")
	var out struct {
		Data   struct{ TaskChanged taskEvent }
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &out); err != nil || m.ID != id || len(out.Errors) > 0 {
		c.t.Fatalf("event of %s: %s %s (%v)", id, m.ID, m.Payload, err)
	}
	return out.Data.TaskChanged
}

func TestSubscriptions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		events := broker.NewLocal(broker.Options{})
		a := newAPIWith(t, db, serverOptions{Events: events})
		alice, bob := a.token("alice"), a.token("bob")
		ca, cb := initWS(t, a, alice), initWS(t, a, bob)
		ca.expect("connection_ack")
		cb.expect("connection_ack")
		ca.subscribe("a")
		cb.subscribe("b")
		waitSubscribers(t, events, "alice", "bob")

		created := a.createTask(t, alice, map[string]any{"title": "first"})
		if e := ca.event("a"); e.Kind != "CREATED" || e.TaskID != created.ID || e.Task == nil || e.Task.Title != "first" || e.Task.IsCompleted {
			t.Fatalf("alice's first event: %+v", e)
		}
		var upd struct{ UpdateTask task }
		a.post(alice, `mutation($id: ID!) { updateTask(id: $id, input: {isCompleted: true}) { id } }`, map[string]any{"id": created.ID}).decode(t, &upd)
		if e := ca.event("a"); e.Kind != "UPDATED" || e.TaskID != created.ID || e.Task == nil || !e.Task.IsCompleted {
			t.Fatalf("alice's second event: %+v", e)
		}
		var del struct{ DeleteTask string }
		a.post(alice, `mutation($id: ID!) { deleteTask(id: $id) }`, map[string]any{"id": created.ID}).decode(t, &del)
		if e := ca.event("a"); e.Kind != "DELETED" || e.TaskID != created.ID || e.Task != nil {
			t.Fatalf("alice's third event: %+v", e)
		}
		// Bob's own change, after all of Alice's: the first event bob sees
		// must be it.
		bobs := a.createTask(t, bob, map[string]any{"title": "bob's"})
		if e := cb.event("b"); e.Kind != "CREATED" || e.TaskID != bobs.ID || e.Task == nil || e.Task.Title != "bob's" {
			t.Errorf("bob's first event: %+v, want his own task", e)
		}

		t.Run("an operation that rolls back publishes nothing", func(t *testing.T) {
			res := a.post(alice, `mutation { a: createTask(input: {title: "kept?"}) { id } b: createTask(input: {title: "`+strings.Repeat("x", 201)+`"}) { id } }`, nil)
			if len(res.Errors) == 0 {
				t.Fatalf("the second create passed: %s", res.Body)
			}
			after := a.createTask(t, alice, map[string]any{"title": "after"})
			if e := ca.event("a"); e.TaskID != after.ID || e.Task == nil || e.Task.Title != "after" {
				t.Errorf("the event after a rolled-back operation: %+v", e)
			}
		})
		t.Run("one operation's events arrive in its order", func(t *testing.T) {
			one := a.createTask(t, alice, map[string]any{"title": "one"})
			ca.event("a")
			var out map[string]any
			a.post(alice, `mutation($id: ID!) { u: updateTask(id: $id, input: {title: "renamed"}) { id } d: deleteTask(id: $id) }`, map[string]any{"id": one.ID}).decode(t, &out)
			for _, want := range []string{"UPDATED", "DELETED"} {
				if e := ca.event("a"); e.Kind != want || e.TaskID != one.ID {
					t.Errorf("got %+v, want %s", e, want)
				}
			}
		})
		t.Run("subscriptions are WebSocket only", func(t *testing.T) {
			res := a.post(alice, taskChangedSub, nil)
			if res.Status != 400 || res.onlyError(t).code() != gqlerr.TransportNotSupported {
				t.Errorf("over POST: %d %s", res.Status, res.Body)
			}
		})
		t.Run("a connection's subscriptions are bounded", func(t *testing.T) {
			c := initWS(t, a, a.token("erin"))
			c.expect("connection_ack")
			// They start concurrently: whichever comes last is refused.
			for i := range graph.MaxSubscriptionsPerConnection + 1 {
				c.subscribe(fmt.Sprint(i))
			}
			m := c.expect("next")
			if !strings.Contains(string(m.Payload), gqlerr.SubscriptionLimit) {
				t.Errorf("got %s %s", m.ID, m.Payload)
			}
			if done, err := c.next(10 * time.Second); err != nil || done.Type != "complete" || done.ID != m.ID {
				t.Errorf("after the refusal of %s: %+v %v", m.ID, done, err)
			}
		})
	})
}

// waitSubscribers polls until each user has a subscription on b: gqlgen
// starts an operation in its own goroutine, after the subscribe message.
func waitSubscribers(t *testing.T, b broker.Broker, users ...string) {
	t.Helper()
	type counter interface{ Subscribers(string) int }
	c, ok := b.(counter)
	if !ok {
		t.Fatalf("%T cannot count its subscribers", b)
	}
	for range 400 {
		all := true
		for _, u := range users {
			all = all && c.Subscribers(u) > 0
		}
		if all {
			return
		}
		time.Sleep(25 * time.Millisecond) // polling, not a timing assertion
	}
	t.Fatalf("no subscription for %v within 10 s", users)
}

// TestSubscriptionsAcrossInstances: two servers on one PostgreSQL, each
// with its own broker (two processes, as deployed): a change made through
// one reaches a subscriber on the other, over LISTEN/NOTIFY, and over
// Redis when REDIS_URL is set.
func TestSubscriptionsAcrossInstances(t *testing.T) {
	if os.Getenv(testdb.EnvURL) == "" {
		t.Skip("needs PostgreSQL (TEST_DATABASE_URL): SQLite serves one process")
	}
	type brokers struct {
		name string
		open func(t *testing.T, dbURL string) broker.Broker
	}
	kinds := []brokers{{"LISTEN/NOTIFY", func(t *testing.T, dbURL string) broker.Broker {
		b, err := broker.NewPostgres(context.Background(), dbURL, broker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}}}
	if url := os.Getenv("REDIS_URL"); url != "" {
		// Both instances on one channel, of this run alone.
		channel := "tasks_test_" + rand.Text()
		kinds = append(kinds, brokers{"Redis", func(t *testing.T, _ string) broker.Broker {
			b, err := broker.NewRedis(context.Background(), url, broker.Options{Channel: channel})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}})
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dbURL := testdb.URL(t, dialect.Postgres)
			var apis [2]*api
			var events [2]broker.Broker
			for i := range apis {
				db, err := database.Open(context.Background(), dbURL, database.Pool{MaxConns: 4})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if i == 0 {
					if _, err := migrate.Up(context.Background(), db.SQL, db.Dialect); err != nil {
						t.Fatal(err)
					}
				}
				events[i] = k.open(t, dbURL)
				t.Cleanup(func() { events[i].Close() })
				apis[i] = newAPIWith(t, db, serverOptions{Events: events[i]})
			}
			alice, bob := apis[0].token("alice"), apis[0].token("bob")
			ca, cb := initWS(t, apis[0], alice), initWS(t, apis[0], bob)
			ca.expect("connection_ack")
			cb.expect("connection_ack")
			ca.subscribe("a")
			cb.subscribe("b")
			waitSubscribers(t, events[0], "alice", "bob")

			created := apis[1].createTask(t, alice, map[string]any{"title": "through the other instance"})
			bobs := apis[1].createTask(t, bob, map[string]any{"title": "bob's"})
			if e := ca.event("a"); e.Kind != "CREATED" || e.TaskID != created.ID || e.Task == nil || e.Task.Title != created.Title {
				t.Errorf("alice on instance 1: %+v", e)
			}
			if e := cb.event("b"); e.TaskID != bobs.ID {
				t.Errorf("bob's first event is not his own: %+v", e)
			}
		})
	}
}

// TestIdleSubscriptionsMemory holds 1,000 idle subscriptions (100 users,
// 10 on each socket) on one instance and measures the heap they hold; the
// README states the budget.
func TestIdleSubscriptionsMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory is not the server's")
	}
	events := broker.NewLocal(broker.Options{})
	a := newAPIWith(t, testdb.Open(t, dialect.SQLite), serverOptions{Events: events})
	const users, perSocket = 100, graph.MaxSubscriptionsPerConnection
	toks := make([]string, users)
	for i := range toks {
		toks[i] = a.token(fmt.Sprintf("user%03d", i))
	}
	before := liveHeap()
	clients := make([]*wsClient, users)
	for i, tok := range toks {
		clients[i] = initWS(t, a, tok)
		clients[i].expect("connection_ack")
		for j := range perSocket {
			clients[i].subscribe(fmt.Sprint(j))
		}
	}
	for i := range toks {
		for range 400 {
			if events.Subscribers(fmt.Sprintf("user%03d", i)) == perSocket {
				break
			}
			time.Sleep(10 * time.Millisecond) // polling, not a timing assertion
		}
	}
	per := (liveHeap() - before) / (users * perSocket)
	t.Logf("%d idle subscriptions on %d sockets: %d bytes each, the sockets' share included (client side too: this test holds both ends)", users*perSocket, users, per)
	if per > idleSubscriptionBudget {
		t.Errorf("%d bytes per idle subscription, over the budget of %d", per, idleSubscriptionBudget)
	}
}

// idleSubscriptionBudget is what the README promises an idle subscription
// costs, both ends of its socket counted (this test is its own client).
const idleSubscriptionBudget = 24 << 10 // measured 10.9 KB on 2026-12-06

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSlowSubscriber: a client that stops reading while its events pile up
// is cut off with 1013 once the broker's buffer for it is full, instead of
// the server holding ever more for it.
func TestSlowSubscriber(t *testing.T) {
	events := broker.NewLocal(broker.Options{BufferSize: 8})
	a := newAPIWith(t, testdb.Open(t, dialect.SQLite), serverOptions{Events: events})
	c := initWS(t, a, a.token("slow"))
	c.expect("connection_ack")
	payload, _ := json.Marshal(map[string]any{"query": `subscription { taskChanged { kind taskId } }`})
	c.send(wsMessage{ID: "s", Type: "subscribe", Payload: payload})
	waitSubscribers(t, events, "slow")
	// The client reads nothing while events arrive faster than any socket
	// takes them: the server's write blocks, then the buffer fills.
	const sent = 200_000
	published := 0
	for ; published < sent && events.Subscribers("slow") > 0; published++ {
		if err := events.Publish(context.Background(), broker.Event{Kind: broker.Updated, UserID: "slow", TaskID: uuid.New()}); err != nil {
			t.Fatal(err)
		}
	}
	if events.Subscribers("slow") > 0 {
		t.Fatalf("%d events published and the subscription still stands", published)
	}
	received := 0
	for {
		_, err := c.next(10 * time.Second)
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != graph.CloseTryAgainLater || received >= published {
				t.Errorf("closed with %d after %d of %d events", ce.Code, received, published)
			}
			return
		}
		if err != nil {
			t.Fatalf("after %d events: %v", received, err)
		}
		received++
	}
}
