package main

import (
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
	a := newAPIWith(t, testdb.Open(t, dialect.SQLite), serverOptions{Tracer: tp})

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
