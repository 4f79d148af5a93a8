package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/taskapi/server/internal/auth"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/tcpproxy"
	"github.com/taskapi/server/internal/testdb"
)

// These tests run the built binary, several processes at once where it
// matters, and speak to them over HTTP and WebSocket only, as clients and
// a load balancer would.

// cheapQuery costs cheapCost (graph/cost.go: tasks 1 and its statement 10,
// plus edges, node and id 1 each on a page of 1). A refusal names the cost,
// which refusedAsRateLimited checks, so a change to the cost model shows
// up as such rather than as a wrong count.
const (
	cheapQuery = `{ tasks(first: 1) { edges { node { id } } } }`
	cheapCost  = 14
)

// procClient bounds every request, so that a hung server fails the test.
var procClient = &http.Client{Timeout: 30 * time.Second}

// serverProc is one running server process.
type serverProc struct {
	name   string
	base   string
	logs   *syncBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, once exited is closed
}

// startServers starts one process of bin per environment, all at once (as
// replicas of a deployment start), and waits until each answers /healthz.
// They are killed when the test ends; their logs are printed if it failed.
func startServers(t *testing.T, bin string, envs ...map[string]string) []*serverProc {
	t.Helper()
	procs := make([]*serverProc, len(envs))
	for i, env := range envs {
		env["PORT"] = freePort(t)
		p := &serverProc{
			name:   fmt.Sprintf("instance %d", i),
			base:   "http://127.0.0.1:" + env["PORT"],
			logs:   &syncBuffer{},
			exited: make(chan struct{}),
		}
		cmd := exec.Command(bin)
		cmd.Env = binaryEnv(env)
		cmd.Stdout, cmd.Stderr = p.logs, p.logs
		dieWithTest(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not exit after SIGKILL", p.name)
			}
			if t.Failed() {
				t.Logf("%s log (the end):\n%s", p.name, tail(p.logs.String(), 6000))
			}
		})
		procs[i] = p
	}
	for _, p := range procs {
		pollUntil(t, p.name+" answers /healthz", 60*time.Second, func() bool {
			p.checkRunning(t)
			res, err := procClient.Get(p.base + "/healthz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == 200
		})
	}
	return procs
}

// dieWithTest has Linux kill the server if the test process dies without
// running its cleanups (a -timeout panic, a closed output pipe). The field
// exists on Linux only: reflection keeps the file portable without a
// build-tagged twin.
func dieWithTest(cmd *exec.Cmd) {
	attr := &syscall.SysProcAttr{}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
		cmd.SysProcAttr = attr
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// checkRunning fails the test if the process has exited.
func (p *serverProc) checkRunning(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("%s exited (%v):\n%s", p.name, p.err, tail(p.logs.String(), 6000))
	default:
	}
}

// pollUntil polls ok until it holds, failing the test after timeout.
func pollUntil(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond) // polling, not a timing assertion
	}
}

// post sends one GraphQL operation as tok. It is safe from any goroutine.
func (p *serverProc) post(tok, query string, vars map[string]any) (response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return response{}, err
	}
	req, err := http.NewRequest("POST", p.base+"/query", bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header = header(tok, "application/json")
	res, err := procClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s: %w", p.name, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s: %w", p.name, err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s answered %d with no JSON: %s", p.name, res.StatusCode, b)
	}
	return r, nil
}

// do is post for the test's own goroutine: a failed request ends the test.
func (p *serverProc) do(t *testing.T, tok, query string, vars map[string]any) response {
	t.Helper()
	r, err := p.post(tok, query, vars)
	if err != nil {
		p.checkRunning(t)
		t.Fatal(err)
	}
	return r
}

// ok runs an operation that must succeed and decodes its data into out.
func (p *serverProc) ok(t *testing.T, tok, query string, vars map[string]any, out any) {
	t.Helper()
	r := p.do(t, tok, query, vars)
	if r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("%s: %d %s", p.name, r.Status, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", p.name, r.Data, err)
		}
	}
}

const createQuery = `mutation($title: String!) { createTask(input: {title: $title}) { id title } }`

func (p *serverProc) create(t *testing.T, tok, title string) task {
	t.Helper()
	var out struct{ CreateTask task }
	p.ok(t, tok, createQuery, map[string]any{"title": title}, &out)
	return out.CreateTask
}

// metric reads a metric without labels from /metrics; found is false when
// the server does not export it.
func (p *serverProc) metric(t *testing.T, name string) (value float64, found bool) {
	t.Helper()
	res, err := procClient.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return f, true
		}
	}
	return 0, false
}

// subject is a user of this run alone: budgets in a shared Redis and
// event channels are keyed by it.
func subject(role string) string { return role + "-" + strings.ToLower(rand.Text()[:12]) }

var procSigner = sync.OnceValue(func() *auth.Signer {
	s, err := auth.NewSigner(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		panic(err)
	}
	return s
})

func procToken(t *testing.T, sub string) string {
	t.Helper()
	tok, err := procSigner().Sign(sub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// serverEnv is the environment every test process shares: a secret, a
// production configuration, and a rate limit that refills 1 a minute, so
// that nothing refills while a test runs and burst is all a user has.
func serverEnv(dbURL, redisURL string, burst, maxCost int) map[string]string {
	return map[string]string{
		"APP_ENV":                    "production",
		"BETTER_AUTH_SECRET":         testSecret,
		"DATABASE_URL":               dbURL,
		"REDIS_URL":                  redisURL,
		"RATE_LIMIT_COST_PER_MINUTE": "1",
		"RATE_LIMIT_BURST":           strconv.Itoa(burst),
		"GRAPHQL_MAX_COST":           strconv.Itoa(maxCost),
		"LOG_LEVEL":                  "warn",
	}
}

// spendUntilRefused sends cheapQuery as tok to procs in turn until one
// refuses it, and returns how many each served and the refusal.
func spendUntilRefused(t *testing.T, procs []*serverProc, tok string, most int) ([]int, response) {
	t.Helper()
	served := make([]int, len(procs))
	for i := range most {
		p := procs[i%len(procs)]
		r := p.do(t, tok, cheapQuery, nil)
		switch {
		case r.Status == 200 && len(r.Errors) == 0 && strings.Contains(string(r.Data), `"tasks"`):
			served[i%len(procs)]++
		case r.Status == http.StatusTooManyRequests:
			return served, r
		default:
			t.Fatalf("%s, request %d: %d %s", p.name, i, r.Status, r.Body)
		}
	}
	t.Fatalf("%d requests served (%v) and none refused", most, served)
	return nil, response{}
}

// refusedAsRateLimited checks a refusal of cheapQuery: 429, Retry-After,
// RATE_LIMITED with retryAfter, and no data.
func refusedAsRateLimited(t *testing.T, where string, r response) {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.Status != http.StatusTooManyRequests || err != nil || secs < 1 {
		t.Errorf("%s: %d with Retry-After %q, want 429 and a number of seconds: %s", where, r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if len(r.Errors) != 1 || r.Errors[0].code() != gqlerr.RateLimited || string(r.Data) != "" && string(r.Data) != "null" {
		t.Fatalf("%s: want one %s error and no data: %s", where, gqlerr.RateLimited, r.Body)
	}
	if n, ok := r.Errors[0].Extensions["retryAfter"].(float64); !ok || n < 1 {
		t.Errorf("%s: extensions.retryAfter %v", where, r.Errors[0].Extensions["retryAfter"])
	}
	if want := fmt.Sprintf("costs %d,", cheapCost); !strings.Contains(r.Errors[0].Message, want) {
		t.Fatalf("%s: %q does not say it %s: the cost model changed; update cheapCost", where, r.Errors[0].Message, want)
	}
}

func needRedis(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL is not set: skipping the multi-process tests (CI sets REDIS_URL=redis://127.0.0.1:6379/0)")
	}
	return u
}

// TestInstancesShareOneRateLimit: two processes on one Redis hold one
// budget per user between them. Were each counting its own, alternating
// between them would serve twice the budget.
func TestInstancesShareOneRateLimit(t *testing.T) {
	redisURL := needRedis(t)
	const fits = 10 // cheapQuery this many times, exactly
	burst := fits * cheapCost
	bin := buildServer(t)
	var procs []*serverProc
	if os.Getenv(testdb.EnvURL) != "" {
		dbURL := testdb.URL(t, dialect.Postgres)
		procs = startServers(t, bin, serverEnv(dbURL, redisURL, burst, burst), serverEnv(dbURL, redisURL, burst, burst))
	} else {
		// One SQLite file: the second starts once the first has migrated it.
		dbURL := testdb.URL(t, dialect.SQLite)
		procs = append(startServers(t, bin, serverEnv(dbURL, redisURL, burst, burst)),
			startServers(t, bin, serverEnv(dbURL, redisURL, burst, burst))...)
		procs[1].name = "instance 1"
	}

	alice := procToken(t, subject("alice"))
	served, refusal := spendUntilRefused(t, procs, alice, 4*fits)
	if total := served[0] + served[1]; total != fits || served[0] == 0 || served[1] == 0 {
		t.Errorf("served %v (%d in all) on a budget of %d at cost %d: want %d in all, from both instances", served, total, burst, cheapCost, fits)
	}
	refusedAsRateLimited(t, "the first refusal", refusal)
	for round := range 2 {
		for _, p := range procs {
			refusedAsRateLimited(t, fmt.Sprintf("%s, round %d after the budget was spent", p.name, round), p.do(t, alice, cheapQuery, nil))
		}
	}
	bob := procToken(t, subject("bob"))
	for _, p := range procs {
		if r := p.do(t, bob, cheapQuery, nil); r.Status != 200 || len(r.Errors) > 0 {
			t.Errorf("%s: another user after alice's budget was spent: %d %s", p.name, r.Status, r.Body)
		}
	}
}

// TestThreeInstances runs three processes on one PostgreSQL and one Redis,
// driven round-robin as a load balancer would.
func TestThreeInstances(t *testing.T) {
	if os.Getenv(testdb.EnvURL) == "" || os.Getenv("REDIS_URL") == "" {
		t.Skip("needs TEST_DATABASE_URL and REDIS_URL (CI sets both): three instances share PostgreSQL and Redis")
	}
	const (
		users   = 5
		perUser = 12
		// A burst of cheapQuery: room for a user's work below (about
		// 3,000 each) and for burstOps requests spread over the three.
		burstOps = 400
	)
	burst := burstOps * cheapCost
	dbURL := testdb.URL(t, dialect.Postgres)
	bin := buildServer(t)
	redisURL := os.Getenv("REDIS_URL")
	procs := startServers(t, bin,
		serverEnv(dbURL, redisURL, burst, 3000),
		serverEnv(dbURL, redisURL, burst, 3000),
		serverEnv(dbURL, redisURL, burst, 3000))

	toks := make([]string, users)
	for u := range toks {
		toks[u] = procToken(t, subject(fmt.Sprint("user", u)))
	}
	// Each user creates through all three at once, the users concurrently.
	created := make([][]task, users)
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			for j := range perUser {
				p := procs[(u+j)%len(procs)]
				r, err := p.post(toks[u], createQuery, map[string]any{"title": fmt.Sprintf("user %d task %d", u, j)})
				var out struct{ CreateTask task }
				if err != nil || r.Status != 200 || len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || out.CreateTask.ID == "" {
					t.Errorf("user %d, create %d on %s: %v %d %s", u, j, p.name, err, r.Status, r.Body)
					return
				}
				created[u] = append(created[u], out.CreateTask)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// ownTasks checks that user u sees exactly the tasks u created, as
	// created, through p.
	ownTasks := func(t *testing.T, p *serverProc, u int) {
		t.Helper()
		var out struct{ Tasks connection }
		p.ok(t, toks[u], `{ tasks(first: 20) { totalCount edges { node { id title isCompleted createdAt updatedAt } } } }`, nil, &out)
		var got, want []string
		for _, e := range out.Tasks.Edges {
			got = append(got, e.Node.ID)
			if !strings.HasPrefix(e.Node.Title, fmt.Sprintf("user %d task ", u)) || e.Node.IsCompleted || !e.Node.UpdatedAt.Equal(e.Node.CreatedAt) {
				t.Errorf("user %d on %s: a task not as created: %+v", u, p.name, e.Node)
			}
		}
		for _, c := range created[u] {
			want = append(want, c.ID)
		}
		slices.Sort(got)
		slices.Sort(want)
		if out.Tasks.TotalCount != perUser || !slices.Equal(got, want) {
			t.Errorf("user %d on %s: totalCount %d and ids %v, want %d and %v", u, p.name, out.Tasks.TotalCount, got, perUser, want)
		}
	}
	t.Run("each user sees exactly their own tasks through every instance", func(t *testing.T) {
		for _, p := range procs {
			for u := range users {
				ownTasks(t, p, u)
			}
		}
	})

	t.Run("another user's task is not found through any instance, and stays as it was", func(t *testing.T) {
		absent := uuid.NewString()
		for u := range users {
			victim := (u + 1) % users
			for i, p := range procs {
				target := created[victim][i] // a different task through each instance
				for _, op := range []string{
					`query($id: ID!) { task(id: $id) { id title } }`,
					`mutation($id: ID!) { updateTask(id: $id, input: {title: "taken", isCompleted: true}) { id } }`,
					`mutation($id: ID!) { deleteTask(id: $id) }`,
				} {
					theirs := p.do(t, toks[u], op, map[string]any{"id": target.ID})
					none := p.do(t, toks[u], op, map[string]any{"id": absent})
					if len(theirs.Errors) != 1 || theirs.Errors[0].code() != gqlerr.NotFound || len(none.Errors) != 1 {
						t.Errorf("user %d on %s, %s on user %d's task: %d %s", u, p.name, op, victim, theirs.Status, theirs.Body)
						continue
					}
					e, e2 := theirs.Errors[0], none.Errors[0]
					delete(e.Extensions, "requestId")
					delete(e2.Extensions, "requestId")
					if theirs.Status != none.Status || e.Message != e2.Message || !reflect.DeepEqual(e.Extensions, e2.Extensions) || string(theirs.Data) != string(none.Data) {
						t.Errorf("user %d on %s, %s: another user's task answers unlike an absent one:\n%s\n%s", u, p.name, op, theirs.Body, none.Body)
					}
				}
				var node struct{ Node *task }
				p.ok(t, toks[u], `query($id: ID!) { node(id: $id) { id ... on Task { title } } }`, map[string]any{"id": target.ID}, &node)
				if node.Node != nil {
					t.Errorf("user %d on %s: node of user %d's task is %+v, want null", u, p.name, victim, node.Node)
				}
			}
		}
		// Checked by the owners, through every instance.
		for _, p := range procs {
			for u := range users {
				ownTasks(t, p, u)
			}
		}
	})

	t.Run("one rate limit across the three", func(t *testing.T) {
		tok := procToken(t, subject("burst"))
		served, refusal := spendUntilRefused(t, procs, tok, 2*burstOps)
		total := served[0] + served[1] + served[2]
		if total != burstOps || slices.Contains(served, 0) {
			t.Errorf("served %v (%d in all) on a budget of %d at cost %d: want %d in all, from every instance", served, total, burst, cheapCost, burstOps)
		}
		refusedAsRateLimited(t, "the first refusal", refusal)
		for _, p := range procs {
			refusedAsRateLimited(t, p.name+" once the budget was spent", p.do(t, tok, cheapQuery, nil))
		}
		other := procToken(t, subject("bystander"))
		for _, p := range procs {
			if r := p.do(t, other, cheapQuery, nil); r.Status != 200 || len(r.Errors) > 0 {
				t.Errorf("%s: another user: %d %s", p.name, r.Status, r.Body)
			}
		}
	})

	t.Run("a subscription on one instance gets its user's events from another, and no one else's", func(t *testing.T) {
		alice, bob := procToken(t, subject("alice")), procToken(t, subject("bob"))
		sa := openEvents(t, procs[0], alice)
		sb := openEvents(t, procs[1], bob)
		alices := sa.awaitLive(t, procs[2], alice)
		bobs := sb.awaitLive(t, procs[2], bob)

		// Bob's change first, through the instance alice's comes through:
		// were bob's events reaching alice, one would come before hers.
		bobsTask := procs[2].create(t, bob, "bob's")
		bobs[bobsTask.ID] = true
		alicesTask := procs[2].create(t, alice, "alice's")
		alices[alicesTask.ID] = true
		if e := sa.eventOf(t, alices, alicesTask.ID); e.Kind != "CREATED" {
			t.Errorf("alice's event: %+v", e)
		}
		if e := sb.eventOf(t, bobs, bobsTask.ID); e.Kind != "CREATED" {
			t.Errorf("bob's event: %+v", e)
		}
	})
}

// eventSocket is a graphql-transport-ws socket running one taskChanged
// subscription. A goroutine reads it, so that waiting for an event can
// time out without closing the socket (a read whose context ends does).
type eventSocket struct {
	name string
	conn *websocket.Conn
	msgs chan wsMessage
	err  error // why reading stopped, once msgs is closed
}

const eventsSub = `subscription { taskChanged { kind taskId } }`

func openEvents(t *testing.T, p *serverProc, tok string) *eventSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.base, "http")+"/query", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
	})
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	s := &eventSocket{name: p.name, conn: conn, msgs: make(chan wsMessage, 64)}
	go s.read()
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + tok})
	s.send(t, wsMessage{Type: "connection_init", Payload: init})
	if m := s.next(t, 10*time.Second); m == nil || m.Type != "connection_ack" {
		t.Fatalf("%s: want connection_ack, got %+v", p.name, m)
	}
	sub, _ := json.Marshal(map[string]any{"query": eventsSub})
	s.send(t, wsMessage{ID: "e", Type: "subscribe", Payload: sub})
	return s
}

func (s *eventSocket) read() {
	defer close(s.msgs)
	for {
		var m wsMessage
		if err := wsjson.Read(context.Background(), s.conn, &m); err != nil {
			s.err = err
			return
		}
		switch m.Type {
		case "ping":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = wsjson.Write(ctx, s.conn, wsMessage{Type: "pong"})
			cancel()
		case "pong":
		default:
			s.msgs <- m
		}
	}
}

func (s *eventSocket) send(t *testing.T, m wsMessage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, s.conn, m); err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
}

// next returns the next message, or nil if none came within timeout.
func (s *eventSocket) next(t *testing.T, timeout time.Duration) *wsMessage {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatalf("%s: the socket ended: %v", s.name, s.err)
		}
		return &m
	case <-timer.C:
		return nil
	}
}

// event returns the next event, or false if none came within timeout.
func (s *eventSocket) event(t *testing.T, timeout time.Duration) (taskEvent, bool) {
	t.Helper()
	m := s.next(t, timeout)
	if m == nil {
		return taskEvent{}, false
	}
	var out struct {
		Data   struct{ TaskChanged taskEvent }
		Errors []gqlError
	}
	if m.Type != "next" || m.ID != "e" || json.Unmarshal(m.Payload, &out) != nil || len(out.Errors) > 0 || out.Data.TaskChanged.TaskID == "" {
		t.Fatalf("%s: want an event, got %s %s %s", s.name, m.Type, m.ID, m.Payload)
	}
	return out.Data.TaskChanged, true
}

// awaitLive creates tasks as tok through p until the subscription reports
// one: only then is it surely listening. It returns the tasks created.
func (s *eventSocket) awaitLive(t *testing.T, p *serverProc, tok string) map[string]bool {
	t.Helper()
	mine := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mine[p.create(t, tok, "probe").ID] = true
		if e, ok := s.event(t, time.Second); ok {
			if !mine[e.TaskID] {
				t.Fatalf("%s: an event of a task its user did not make: %+v", s.name, e)
			}
			return mine
		}
	}
	t.Fatalf("%s: no event within 30 s of changes through %s", s.name, p.name)
	return nil
}

// eventOf reads events until the one of task id, failing on any event of
// a task not in mine (late probes of awaitLive may come first).
func (s *eventSocket) eventOf(t *testing.T, mine map[string]bool, id string) taskEvent {
	t.Helper()
	for {
		e, ok := s.event(t, 20*time.Second)
		if !ok {
			t.Fatalf("%s: no event of task %s within 20 s", s.name, id)
		}
		if !mine[e.TaskID] {
			t.Fatalf("%s: an event of another user's task: %+v", s.name, e)
		}
		if e.TaskID == id {
			return e
		}
	}
}

// TestRedisOutageKeepsServing: Redis goes away under a running server (a
// proxy in front of it stops) and comes back.
func TestRedisOutageKeepsServing(t *testing.T) {
	redisURL := needRedis(t)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	target := u.Host
	if u.Port() == "" {
		target += ":6379"
	}
	proxy, err := tcpproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	u.Host = proxy.Addr()

	const fits = 20 // cheapQuery this many times on a budget, exactly
	burst := fits * cheapCost
	env := serverEnv(testdb.URL(t, dialect.SQLite), u.String(), burst, burst)
	env["LOG_FORMAT"], env["LOG_LEVEL"] = "text", "info" // "redis is back" is at info
	p := startServers(t, buildServer(t), env)[0]
	const gauge = "tasks_rate_limit_degraded"
	// gaugeReads polls the gauge until it reads want; a server without it
	// fails the test once, and the rest still runs.
	gaugeReads := func(want float64) {
		t.Helper()
		if _, found := p.metric(t, gauge); !found {
			t.Errorf("/metrics has no %s gauge", gauge)
			return
		}
		pollUntil(t, fmt.Sprintf("%s reads %v", gauge, want), 30*time.Second, func() bool {
			v, _ := p.metric(t, gauge)
			return v == want
		})
	}

	owner := procToken(t, subject("owner"))
	var made []string
	p.ok(t, owner, cheapQuery, nil, nil)
	made = append(made, p.create(t, owner, "before the outage").ID)
	gaugeReads(0)

	proxy.Stop()
	for i := range 3 {
		if r := p.do(t, owner, cheapQuery, nil); r.Status != 200 || len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"tasks"`) {
			t.Fatalf("query %d with Redis away: %d %s", i, r.Status, r.Body)
		}
		r := p.do(t, owner, createQuery, map[string]any{"title": fmt.Sprint("during the outage ", i)})
		var out struct{ CreateTask task }
		if r.Status != 200 || len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || out.CreateTask.ID == "" {
			t.Fatalf("createTask %d with Redis away: %d %s", i, r.Status, r.Body)
		}
		made = append(made, out.CreateTask.ID)
	}
	pollUntil(t, "the log says redis is unavailable", 30*time.Second, func() bool {
		return strings.Contains(p.logs.String(), "rate limits: redis unavailable")
	})
	gaugeReads(1)
	// Still limited, by the instance's own budget.
	carol := procToken(t, subject("carol"))
	served, refusal := spendUntilRefused(t, []*serverProc{p}, carol, 4*fits)
	if served[0] != fits {
		t.Errorf("with Redis away, %d served on a budget of %d at cost %d, want %d", served[0], burst, cheapCost, fits)
	}
	refusedAsRateLimited(t, "with Redis away", refusal)
	// Dave spends all but one request of his own budget here: were it
	// still in use once Redis is back, he would get one more, not fits.
	dave := procToken(t, subject("dave"))
	for i := range fits - 1 {
		if r := p.do(t, dave, cheapQuery, nil); r.Status != 200 || len(r.Errors) > 0 {
			t.Fatalf("dave's query %d with Redis away: %d %s", i, r.Status, r.Body)
		}
	}
	if n := strings.Count(p.logs.String(), "rate limits: redis unavailable"); n != 1 {
		t.Errorf("the outage logged %d times, want once", n)
	}

	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	// The limiter probes Redis only when requests come: keep sending them,
	// each as a new user so that no budget runs out.
	pollUntil(t, "the log says redis is back", 60*time.Second, func() bool {
		r := p.do(t, procToken(t, subject("poll")), cheapQuery, nil)
		if r.Status != 200 || len(r.Errors) > 0 {
			t.Fatalf("a query while Redis comes back: %d %s", r.Status, r.Body)
		}
		return strings.Contains(p.logs.String(), "rate limits: redis is back")
	})
	gaugeReads(0)
	// Carol, refused by the local budget during the outage, is served:
	// her budget in Redis is whole.
	if r := p.do(t, carol, cheapQuery, nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Errorf("carol, refused during the outage, once Redis is back: %d %s", r.Status, r.Body)
	}
	// Budgets are Redis's again, where dave's is untouched.
	served, refusal = spendUntilRefused(t, []*serverProc{p}, dave, 4*fits)
	if served[0] != fits {
		t.Errorf("dave, once Redis is back: %d served, want his whole budget in Redis (%d)", served[0], fits)
	}
	refusedAsRateLimited(t, "dave once Redis is back", refusal)
	var list struct {
		Tasks struct {
			Edges []struct{ Node task }
		}
	}
	p.ok(t, owner, `{ tasks(first: 10) { edges { node { id } } } }`, nil, &list)
	var got []string
	for _, e := range list.Tasks.Edges {
		got = append(got, e.Node.ID)
	}
	slices.Sort(got)
	slices.Sort(made)
	if !slices.Equal(got, made) {
		t.Errorf("tasks %v, want those created before and during the outage %v", got, made)
	}
	// go-redis's own complaints come through the server's logger too.
	for line := range strings.SplitSeq(strings.TrimSpace(p.logs.String()), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("a log line not from the server's logger: %q", line)
		}
	}
	pollUntil(t, "/readyz answers 200 again", 60*time.Second, func() bool {
		res, err := procClient.Get(p.base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}
