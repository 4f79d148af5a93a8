package main

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskapi/server/internal/testdb"
)

func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	db := testdb.Open(t, dialect.SQLite)
	h, v := testHandler(t, db, io.Discard, serverOptions{Tracer: tp})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, verifier: v, db: db}

	alice := a.token("alice")
	const secret = "dentist on tuesday"
	a.createTask(t, alice, map[string]any{"title": secret})
	a.list(t, alice, nil)

	names := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()] = true
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), secret) {
				t.Errorf("span %q attribute %s holds a variable's value", s.Name(), kv.Key)
			}
		}
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
}
