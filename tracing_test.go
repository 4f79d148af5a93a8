package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/telemetry"
	"github.com/taskapi/server/internal/testdb"
	"github.com/taskapi/server/migrate"
)

// A client's trace, continued by the server.
const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

// tracedAPI is the API over a fresh database of dialect d, with every span,
// the database's included, recorded.
func tracedAPI(t *testing.T, d string) (*api, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	db, err := database.Open(t.Context(), testdb.URL(t, d), database.Pool{MaxConns: 8, Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := migrate.Up(t.Context(), db.SQL, db.Dialect); err != nil {
		t.Fatal(err)
	}
	return newAPIWith(t, db, serverOptions{Tracer: tp}), rec
}

func TestTracing(t *testing.T) {
	for _, d := range testdb.Dialects() {
		t.Run(d, func(t *testing.T) {
			a, rec := tracedAPI(t, d)
			alice := a.token("alice")
			const secret = "dentist on tuesday"
			const secretNote = "bring the x-rays"

			body, _ := json.Marshal(map[string]any{
				"query":     `mutation CreateTask($input: CreateTaskInput!) { createTask(input: $input) { id title } }`,
				"variables": map[string]any{"input": map[string]any{"title": secret, "description": secretNote}},
			})
			h := header(alice, "application/json")
			h.Set("Traceparent", traceparent)
			res := a.raw(http.MethodPost, "/query", bytes.NewReader(body), h)
			var created struct{ CreateTask task }
			res.decode(t, &created)
			// A GET carries its variables in the URL: they must stay out too.
			a.list(t, alice, map[string]any{"where": map[string]any{"titleContains": secret}})
			// Close waits for the handlers, and so for their spans to end.
			a.srv.Close()

			spans := rec.Ended()
			byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
			for _, s := range spans {
				byID[s.SpanContext().SpanID()] = s
				for _, leak := range []string{secret, secretNote, alice, created.CreateTask.ID} {
					if where := holds(s, leak); where != "" {
						t.Errorf("span %q holds %q in %s", s.Name(), leak, where)
					}
				}
			}
			names := map[string]bool{}
			for _, s := range spans {
				names[s.Name()] = true
			}
			// One span per operation and per resolver; none per plain field.
			for _, want := range []string{"Mutation/createTask", "Query/tasks"} {
				if !names[want] {
					t.Errorf("no span %q among %v", want, names)
				}
			}
			if names["Task/title"] || names["TaskConnection/edges"] {
				t.Errorf("spans for plain fields: %v", names)
			}

			// HTTP → operation → resolver, in the client's trace.
			resolver := only(t, spans, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "Mutation/createTask" })
			op, ok := byID[resolver.Parent().SpanID()]
			if !ok || op.Name() != "CreateTask" {
				t.Fatalf("the resolver's parent is not the operation span CreateTask: %v", resolver.Parent())
			}
			server, ok := byID[op.Parent().SpanID()]
			if !ok || server.Name() != "POST /query" || server.SpanKind() != trace.SpanKindServer {
				t.Fatalf("the operation's parent is not the HTTP span POST /query: %v", op.Parent())
			}
			if got := server.SpanContext().TraceID().String(); got != clientTraceID {
				t.Errorf("trace %s, want the client's %s", got, clientTraceID)
			}
			if got := server.Parent(); !got.IsRemote() || got.SpanID().String() != clientSpanID {
				t.Errorf("the HTTP span's parent is %v, want the client's span %s", got, clientSpanID)
			}
			if got := res.Header.Get(telemetry.RequestIDHeader); got == "" {
				t.Error("no X-Request-Id on the answer")
			}

			// → SQL: otelpgx traces the pgx pool, so PostgreSQL only.
			inserts := 0
			for _, s := range spans {
				if s.InstrumentationScope().Name != "github.com/exaring/otelpgx" {
					continue
				}
				if d != dialect.Postgres {
					t.Fatalf("SQL span %q on %s", s.Name(), d)
				}
				if !strings.HasPrefix(sqlText(s), "INSERT INTO") {
					continue
				}
				inserts++
				if !descends(byID, s, resolver) {
					t.Errorf("INSERT span %q does not descend from the resolver span", s.Name())
				}
				if s.SpanContext().TraceID() != server.SpanContext().TraceID() {
					t.Error("INSERT span in another trace")
				}
			}
			if d == dialect.Postgres && inserts == 0 {
				t.Errorf("no INSERT span among %v", names)
			}
		})
	}
}

// holds names where s holds text: its name, an attribute or an event's.
func holds(s sdktrace.ReadOnlySpan, text string) string {
	in := func(kvs []attribute.KeyValue) string {
		for _, kv := range kvs {
			if strings.Contains(kv.Value.Emit(), text) {
				return string(kv.Key)
			}
		}
		return ""
	}
	if strings.Contains(s.Name(), text) {
		return "its name"
	}
	if k := in(s.Attributes()); k != "" {
		return "attribute " + k
	}
	for _, e := range s.Events() {
		if k := in(e.Attributes); k != "" {
			return "event " + e.Name + " attribute " + k
		}
	}
	if strings.Contains(s.Status().Description, text) {
		return "its status"
	}
	return ""
}

func sqlText(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Attributes() {
		if kv.Key == "db.query.text" {
			return kv.Value.AsString()
		}
	}
	return ""
}

// descends reports whether s is below ancestor.
func descends(byID map[trace.SpanID]sdktrace.ReadOnlySpan, s, ancestor sdktrace.ReadOnlySpan) bool {
	for {
		p, ok := byID[s.Parent().SpanID()]
		if !ok {
			return false
		}
		if p.SpanContext().SpanID() == ancestor.SpanContext().SpanID() {
			return true
		}
		s = p
	}
}

func only(t *testing.T, spans []sdktrace.ReadOnlySpan, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d matching spans, want 1", len(found))
	}
	return found[0]
}

func TestRequestID(t *testing.T) {
	a := newAPI(t, testdb.Open(t, dialect.SQLite))
	alice := a.token("alice")
	const bad = `query { nope }`
	post := func(id string) response {
		t.Helper()
		h := header(alice, "application/json")
		if id != "" {
			h.Set(telemetry.RequestIDHeader, id)
		}
		body, _ := json.Marshal(map[string]any{"query": bad})
		return a.raw(http.MethodPost, "/query", bytes.NewReader(body), h)
	}
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"none sent: one is made", "", false},
		{"a well-formed one is kept", "req-42_A.b", true},
		{"64 characters are kept", strings.Repeat("a", 64), true},
		{"65 characters are replaced", strings.Repeat("a", 65), false},
		{"a space is replaced", "req 42", false},
		{"a quote is replaced", `req"42`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(tc.sent)
			id := res.Header.Get(telemetry.RequestIDHeader)
			if id == "" || (id == tc.sent) != tc.kept {
				t.Fatalf("sent %q, answered %q; want it kept: %v", tc.sent, id, tc.kept)
			}
			e := res.onlyError(t)
			if e.code() != gqlerr.ValidationFailed || e.Extensions["requestId"] != id {
				t.Errorf("error %+v; want %s with requestId %q", e, gqlerr.ValidationFailed, id)
			}
			if _, ok := e.Extensions["traceId"]; ok {
				t.Errorf("a traceId without tracing: %+v", e)
			}
		})
	}
	t.Run("generated ids differ", func(t *testing.T) {
		if post("").Header.Get(telemetry.RequestIDHeader) == post("").Header.Get(telemetry.RequestIDHeader) {
			t.Error("two requests got one id")
		}
	})
	t.Run("a resolver's error carries it", func(t *testing.T) {
		h := header(alice, "application/json")
		body, _ := json.Marshal(map[string]any{"query": `{ task(id: "6f1c2a9e-3b7d-4c1e-9a55-0d2f8e7b4c31") { id } }`})
		res := a.raw(http.MethodPost, "/query", bytes.NewReader(body), h)
		if e := res.onlyError(t); e.code() != gqlerr.NotFound || e.Extensions["requestId"] != res.Header.Get(telemetry.RequestIDHeader) {
			t.Errorf("got %s, want NOT_FOUND with the request id", res.Body)
		}
	})
	t.Run("a 401 has it in its header and body", func(t *testing.T) {
		res := a.raw(http.MethodPost, "/query", strings.NewReader(`{"query":"{ __typename }"}`), header("", "application/json"))
		id := res.Header.Get(telemetry.RequestIDHeader)
		if res.Status != http.StatusUnauthorized || id == "" || res.onlyError(t).Extensions["requestId"] != id {
			t.Errorf("status %d, X-Request-Id %q: %s", res.Status, id, res.Body)
		}
	})
	t.Run("other routes have it", func(t *testing.T) {
		if res := a.raw(http.MethodGet, "/healthz", nil, http.Header{}); res.Header.Get(telemetry.RequestIDHeader) == "" {
			t.Error("no X-Request-Id on /healthz")
		}
	})
}

func TestTraceIDInErrors(t *testing.T) {
	a, _ := tracedAPI(t, dialect.SQLite)
	h := header(a.token("alice"), "application/json")
	h.Set("Traceparent", traceparent)
	res := a.raw(http.MethodPost, "/query", strings.NewReader(`{"query":"{ nope }"}`), h)
	if e := res.onlyError(t); e.Extensions["traceId"] != clientTraceID {
		t.Errorf("got %s, want traceId %s", res.Body, clientTraceID)
	}
}
