package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/testdb"
)

// An object's keys come out in the order the query selects them, each
// once, aliases and fragments merged: graph writes the objects that
// resolve nothing later itself (graph/fieldset.go), not through gqlgen.
func TestObjectKeysInSelectionOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		created := a.createTask(t, alice, map[string]any{"title": "Milk", "description": "2 litres"})

		var many []string // past 16 fields, a map finds the repeats
		var want []string
		for i := range 20 {
			many = append(many, fmt.Sprintf("t%d: title", i), fmt.Sprintf("t%d: title", i%3))
			want = append(want, fmt.Sprintf(`"t%d":"Milk"`, i))
		}
		for _, c := range []struct{ name, sel, want string }{
			{"order and aliases", `__typename title id2: id isCompleted`,
				`{"__typename":"Task","title":"Milk","id2":"` + created.ID + `","isCompleted":false}`},
			{"a field twice", `title description title`, `{"title":"Milk","description":"2 litres"}`},
			{"fragments merged", `...on Task { title } ... F title description`, `{"title":"Milk","isCompleted":false,"description":"2 litres"}`},
			{"many aliases", strings.Join(many, " "), `{` + strings.Join(want, ",") + `}`},
		} {
			t.Run(c.name, func(t *testing.T) {
				q := `query($id: ID!) { task(id: $id) { ` + c.sel + ` } }`
				if strings.Contains(c.sel, "... F") {
					q += ` fragment F on Task { isCompleted }`
				}
				r := a.post(alice, q, map[string]any{"id": created.ID})
				if len(r.Errors) > 0 {
					t.Fatal(r.Body)
				}
				if got := string(r.Data); got != `{"task":`+c.want+`}` {
					t.Errorf("data %s\nwant {\"task\":%s}", got, c.want)
				}
			})
		}

		// A list of edges: every level written by graph, keys in order.
		r := a.post(alice, `{ tasks(first: 1) { edges { node { isCompleted title } cursor } } }`, nil)
		if !strings.HasPrefix(string(r.Data), `{"tasks":{"edges":[{"node":{"isCompleted":false,"title":"Milk"},"cursor":"`) || len(r.Errors) > 0 {
			t.Errorf("page %s", r.Body)
		}
	})
}
