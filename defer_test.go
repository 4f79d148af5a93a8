package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// What Apollo Client sends for an operation with @defer.
const acceptDefer = "multipart/mixed;deferSpec=20220824,application/json"

// part is one payload of a multipart/mixed answer: the first is a response
// of its own, each later one carries incremental entries.
type part struct {
	Data        json.RawMessage `json:"data"`
	Errors      []gqlError      `json:"errors"`
	HasNext     *bool           `json:"hasNext"`
	Incremental []struct {
		Data   json.RawMessage `json:"data"`
		Path   []any           `json:"path"`
		Label  string          `json:"label"`
		Errors []gqlError      `json:"errors"`
	} `json:"incremental"`
	raw string
}

// deferred posts query with accept and reads the answer's parts with Go's
// own multipart reader, failing unless it is multipart/mixed whose every
// part is JSON, whose last says hasNext false and no other does.
func (a *api) deferred(t *testing.T, tok, query string, vars map[string]any) []part {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	h := header(tok, "application/json")
	h.Set("Accept", acceptDefer)
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/query", bytes.NewReader(body))
	req.Header = h
	return readParts(t, a.srv.Client(), req)
}

func readParts(t *testing.T, c *http.Client, req *http.Request) []part {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	media, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if res.StatusCode != http.StatusOK || err != nil || media != "multipart/mixed" || params["deferspec"] != "20220824" {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d, Content-Type %q: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	mr := multipart.NewReader(res.Body, params["boundary"])
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d parts: %v", len(parts), err)
		}
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("part %d: Content-Type %q", len(parts), ct)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		pt := part{raw: string(b)}
		if err := json.Unmarshal(b, &pt); err != nil {
			t.Fatalf("part %d is not JSON: %v: %s", len(parts), err, b)
		}
		if pt.HasNext == nil {
			t.Errorf("part %d has no hasNext: %s", len(parts), b)
		}
		parts = append(parts, pt)
	}
	for i, p := range parts {
		if last := i == len(parts)-1; p.HasNext != nil && *p.HasNext == last {
			t.Errorf("part %d of %d says hasNext %v: %s", i, len(parts), *p.HasNext, p.raw)
		}
	}
	if len(parts) == 0 {
		t.Fatal("no parts")
	}
	return parts
}

// TestDeferOverHTTP: a deferred fragment arrives in a part of its own, at
// its path and with its label, for a client that accepts multipart/mixed,
// with the caller's own data only; a client that does not is told so
// before anything runs, mutations included.
func TestDeferOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice, bob := a.token("alice"), a.token("bob")
		for _, title := range []string{"a1", "a2", "a3"} {
			a.createTask(t, alice, map[string]any{"title": title})
		}
		a.createTask(t, bob, map[string]any{"title": "b1"})

		const q = `query($d: Boolean = true) { tasks(first: 2) { edges { node { title } } ... @defer(label: "n", if: $d) { count { value } } } }`
		for _, who := range []struct {
			tok    string
			titles string
			count  int
		}{{alice, `["a3","a2"]`, 3}, {bob, `["b1"]`, 1}} {
			parts := a.deferred(t, who.tok, q, nil)
			if len(parts) != 2 {
				t.Fatalf("%d parts, want 2: %v", len(parts), parts)
			}
			var first struct {
				Tasks struct {
					Edges []struct{ Node struct{ Title string } }
				}
			}
			if err := json.Unmarshal(parts[0].Data, &first); err != nil || len(parts[0].Errors) > 0 {
				t.Fatalf("first part: %v: %s", err, parts[0].raw)
			}
			var titles []string
			for _, e := range first.Tasks.Edges {
				titles = append(titles, e.Node.Title)
			}
			if got, _ := json.Marshal(titles); string(got) != who.titles {
				t.Errorf("first part's titles %s, want %s", got, who.titles)
			}
			inc := parts[1].Incremental
			if len(inc) != 1 || inc[0].Label != "n" || len(inc[0].Path) != 1 || inc[0].Path[0] != "tasks" || len(inc[0].Errors) > 0 {
				t.Fatalf("second part: %s", parts[1].raw)
			}
			var later struct{ Count struct{ Value int } }
			if err := json.Unmarshal(inc[0].Data, &later); err != nil || later.Count.Value != who.count {
				t.Errorf("deferred count %s, want %d", inc[0].Data, who.count)
			}
		}

		// Turned off, @defer is no @defer: one JSON answer for anyone.
		res := a.post(alice, q, map[string]any{"d": false})
		if res.Status != http.StatusOK || !strings.Contains(string(res.Data), `"count":{"value":3}`) || strings.Contains(res.Body, "hasNext") {
			t.Errorf("@defer(if: false): %d %s", res.Status, res.Body)
		}
		// On fields read with their object, nothing is deferred: one part.
		parts := a.deferred(t, alice, `{ tasks(first: 1) { edges { node { ... on Task @defer { title } } } } }`, nil)
		if len(parts) != 1 || !strings.Contains(string(parts[0].Data), `"title":"a3"`) {
			t.Errorf("@defer on a task's fields: %v", parts)
		}
		// Through a named fragment, over GET.
		get, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/query?"+url.Values{"query": {
			`query { tasks { ...C @defer } } fragment C on TaskConnection { count { value } }`}}.Encode(), nil)
		get.Header = header(bob, "")
		get.Header.Set("Accept", acceptDefer)
		if parts := readParts(t, a.srv.Client(), get); len(parts) != 2 || string(parts[1].Incremental[0].Data) != `{"count":{"value":1}}` {
			t.Errorf("a deferred fragment spread over GET: %v", parts)
		}

		// A failed non-null field nulls data: nothing is left for a later
		// part, so the first is the last.
		parts = a.deferred(t, alice, `{ tasks { ... @defer { count { value } } } task(id: "00000000-0000-0000-0000-000000000000") { id } }`, nil)
		if len(parts) != 1 || string(parts[0].Data) != "null" || len(parts[0].Errors) != 1 || parts[0].Errors[0].code() != gqlerr.NotFound {
			t.Errorf("data nulled by an error: %v", parts)
		}
		// Left out by @skip or @include, a @defer defers nothing.
		for _, skip := range []string{
			`{ tasks { ... @defer @skip(if: true) { count { value } } totalCount } }`,
			`query($i: Boolean!) { tasks { ... @include(if: $i) { ... @defer { count { value } } } totalCount } }`,
		} {
			if res := a.post(alice, skip, map[string]any{"i": false}); res.Status != http.StatusOK || len(res.Errors) > 0 || string(res.Data) != `{"tasks":{"totalCount":3}}` {
				t.Errorf("%s: %d %s", skip, res.Status, res.Body)
			}
		}
		// The parts are in deferSpec=20220824's format: a client that asks
		// for another is told which one it can have.
		for accept, ok := range map[string]bool{
			"multipart/mixed":                         true,
			"multipart/mixed; deferSpec=20220824":     true,
			"multipart/mixed;incrementalSpec=v0.2":    false,
			"multipart/mixed;deferSpec=20230101":      false,
			"multipart/mixed;q=0, application/json":   false,
			"application/json, multipart/mixed;q=0.5": true,
		} {
			h := header(alice, "application/json")
			h.Set("Accept", accept)
			body, _ := json.Marshal(map[string]any{"query": q})
			res := a.raw(http.MethodPost, "/query", bytes.NewReader(body), h)
			if got := res.Status == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "multipart/mixed"); got != ok {
				t.Errorf("Accept %q: status %d, %s: %s", accept, res.Status, res.Header.Get("Content-Type"), res.Body)
			}
			if !ok && (res.Status != http.StatusNotAcceptable || !strings.Contains(res.Body, "deferSpec=20220824")) {
				t.Errorf("Accept %q: %d %s", accept, res.Status, res.Body)
			}
		}

		for _, tc := range []struct{ name, query string }{
			{"a query", q},
			{"a fragment spread", `query { tasks { ...C @defer } } fragment C on TaskConnection { count { value } }`},
			{"a fragment within a fragment", `query { ...Q } fragment Q on Query { tasks { ... @defer { count { value } } } }`},
			{"a mutation", `mutation { createTask(input: {title: "deferred"}) { id ... @defer { title } } }`},
		} {
			t.Run("refused without multipart: "+tc.name, func(t *testing.T) {
				before := countRows(t, db)
				for _, accept := range []string{"", "application/json", "*/*", "application/graphql-response+json"} {
					h := header(alice, "application/json")
					if accept != "" {
						h.Set("Accept", accept)
					}
					body, _ := json.Marshal(map[string]any{"query": tc.query})
					res := a.raw(http.MethodPost, "/query", bytes.NewReader(body), h)
					if res.Status != http.StatusNotAcceptable || res.Data != nil {
						t.Errorf("Accept %q: status %d: %s", accept, res.Status, res.Body)
					} else if e := res.onlyError(t); e.code() != gqlerr.TransportNotSupported || !strings.Contains(e.Message, "multipart/mixed") {
						t.Errorf("Accept %q: %s", accept, res.Body)
					}
				}
				if after := countRows(t, db); after != before {
					t.Errorf("a refused operation wrote: %d rows, then %d", before, after)
				}
			})
		}

		// A mutation that asks for parts gets one: nothing in it defers.
		parts = a.deferred(t, bob, `mutation { createTask(input: {title: "b2"}) { title ... @defer { isCompleted } } }`, nil)
		if len(parts) != 1 || string(parts[0].Data) != `{"createTask":{"title":"b2","isCompleted":false}}` {
			t.Errorf("a deferring mutation: %v", parts)
		}
	})
}

// TestDeferredPartPastTheDeadline: when the database hangs after the first
// part, the stream still ends at the request's deadline, with a TIMEOUT,
// rather than waiting for a payload that will never come.
func TestDeferredPartPastTheDeadline(t *testing.T) {
	needPostgres(t)
	a, proxy := apiThrough(t, 500*time.Millisecond)
	tok := a.token("alice")
	a.createTask(t, tok, map[string]any{"title": "before the hang"})

	for range 4 { // the wait has two ways to end: each must end the stream
		proxy.stalled.Store(true)
		start := time.Now()
		// The first part needs no SQL: a connection's count is read when it is asked for.
		parts := a.deferred(t, tok, `{ tasks { ... @defer { count { value } } } }`, nil)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("answered after %v", took)
		}
		if len(parts) != 2 || !strings.Contains(parts[1].raw, gqlerr.Timeout) || !strings.Contains(parts[1].raw, `"requestId"`) {
			t.Errorf("parts: %v", parts)
		}
		proxy.stalled.Store(false)
	}
	// Each stream is one operation, its deadline notwithstanding.
	if m := a.raw("GET", "/metrics", nil, nil); !strings.Contains(m.Body, `tasks_graphql_operations_total{document="free-form",outcome="ok",type="query"} 4`+"\n") {
		t.Errorf("/metrics:\n%s", m.Body)
	}
}

// TestDeferOverWebSocket: over graphql-transport-ws, an operation with
// @defer is refused with a code, queries and subscriptions alike, and the
// connection goes on serving; without @defer the same query runs.
func TestDeferOverWebSocket(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		a.createTask(t, alice, map[string]any{"title": "a1"})
		c := initWS(t, a, alice)
		c.expect("connection_ack")
		for i, q := range []string{
			`{ tasks { edges { node { title } } ... @defer { count { value } } } }`,
			`subscription { taskChanged { kind task { id ... @defer { title } } } }`,
		} {
			data, errs := c.run(string(rune('a'+i)), q, nil)
			if len(errs) != 1 || errs[0].code() != gqlerr.TransportNotSupported || !strings.Contains(errs[0].Message, "multipart/mixed") || data != nil && string(data) != "null" {
				t.Errorf("%s: data %s, errors %v", q, data, errs)
			}
		}
		data, errs := c.run("c", `{ tasks { edges { node { title } } ... @defer(if: false) { count { value } } } }`, nil)
		if len(errs) > 0 || string(data) != `{"tasks":{"edges":[{"node":{"title":"a1"}}],"count":{"value":1}}}` {
			t.Errorf("@defer(if: false) over the socket: %s %v", data, errs)
		}
	})
}

// TestDeferredFirstPartComesFirst: the first part reaches the client while
// the deferred count is still waiting on the database, and the count's part
// follows once the database answers.
func TestDeferredFirstPartComesFirst(t *testing.T) {
	needPostgres(t)
	a, proxy := apiThrough(t, time.Minute) // the database hangs until the test lets go
	tok := a.token("alice")
	a.createTask(t, tok, map[string]any{"title": "a1"})

	proxy.stalled.Store(true)
	body, _ := json.Marshal(map[string]any{"query": `{ tasks { ... @defer { count { value } } } }`})
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/query", bytes.NewReader(body))
	req.Header = header(tok, "application/json")
	req.Header.Set("Accept", acceptDefer)
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, params, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	mr := multipart.NewReader(res.Body, params["boundary"])
	read := func() string {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		return string(b)
	}
	if first := read(); first != `{"data":{"tasks":{"count":null}},"hasNext":true}` {
		t.Fatalf("first part %s", first)
	}
	waitFor(t, func() bool { return proxy.held.Load() > 0 }, "the count to reach the database")
	proxy.stalled.Store(false)
	if second := read(); second != `{"incremental":[{"data":{"count":{"value":1}},"path":["tasks"]}],"hasNext":false}` {
		t.Errorf("second part %s", second)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the last part: %v", err)
	}
}
