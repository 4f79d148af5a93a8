package main

import (
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// TestIsolation has Bob try every operation on Alice's task. Each must act
// as if the task did not exist, answer exactly as for an absent id, and
// leave Alice's data untouched.
func TestIsolation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice, bob := a.token("alice"), a.token("bob")
		var aliceTasks []task
		for i := range 3 {
			aliceTasks = append(aliceTasks, a.createTask(t, alice, map[string]any{"title": fmt.Sprintf("alice %d", i), "description": "secret"}))
		}
		bobTask := a.createTask(t, bob, map[string]any{"title": "bob's own"})
		target := aliceTasks[0]
		const absent = "6f1c2a9e-3b7d-4c1e-9a55-0d2f8e7b4c31"

		// notFoundLikeAbsent runs q as Bob on Alice's task and on an absent
		// id and wants the same NOT_FOUND answer for both.
		notFoundLikeAbsent := func(t *testing.T, q string, vars func(id string) map[string]any) {
			t.Helper()
			mine := a.post(bob, q, vars(target.ID))
			none := a.post(bob, q, vars(absent))
			e := mine.onlyError(t)
			if e.code() != gqlerr.NotFound {
				t.Fatalf("code %q, want %s: %s", e.code(), gqlerr.NotFound, mine.Body)
			}
			e2 := none.onlyError(t)
			// The request ids differ by design; nothing else may.
			delete(e.Extensions, "requestId")
			delete(e2.Extensions, "requestId")
			if e2.Message != e.Message || !reflect.DeepEqual(e2.Extensions, e.Extensions) || mine.Status != none.Status {
				t.Errorf("another user's task answers differently from an absent one:\n%s\n%s", mine.Body, none.Body)
			}
		}
		idVars := func(id string) map[string]any { return map[string]any{"id": id} }

		t.Run("task: other user gets NOT_FOUND", func(t *testing.T) {
			notFoundLikeAbsent(t, `query($id: ID!) { task(id: $id) { id title } }`, idVars)
		})
		t.Run("updateTask: other user gets NOT_FOUND", func(t *testing.T) {
			notFoundLikeAbsent(t, `mutation($id: ID!) { updateTask(id: $id, input: {title: "pwned", isCompleted: true, clearDescription: true}) { id } }`, idVars)
		})
		t.Run("deleteTask: other user gets NOT_FOUND", func(t *testing.T) {
			notFoundLikeAbsent(t, `mutation($id: ID!) { deleteTask(id: $id) }`, idVars)
		})
		t.Run("node: other user gets null", func(t *testing.T) {
			var out struct{ Node *task }
			a.post(bob, `query($id: ID!) { node(id: $id) { id ... on Task { title } } }`, idVars(target.ID)).decode(t, &out)
			if out.Node != nil {
				t.Errorf("node = %+v, want null", out.Node)
			}
		})
		t.Run("node: the caller's own task resolves", func(t *testing.T) {
			var out struct{ Node *task }
			a.post(bob, `query($id: ID!) { node(id: $id) { id ... on Task { title } } }`, idVars(bobTask.ID)).decode(t, &out)
			if out.Node == nil || out.Node.Title != bobTask.Title {
				t.Errorf("node = %+v, want bob's task", out.Node)
			}
		})
		t.Run("nodes: other user's entries are null", func(t *testing.T) {
			var out struct{ Nodes []*task }
			a.post(bob, `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Task { title } } }`,
				map[string]any{"ids": []string{target.ID, bobTask.ID, absent}}).decode(t, &out)
			if len(out.Nodes) != 3 || out.Nodes[0] != nil || out.Nodes[1] == nil || out.Nodes[1].ID != bobTask.ID || out.Nodes[1].Title != bobTask.Title || out.Nodes[2] != nil {
				t.Errorf("nodes = %+v, want [null, bob's task, null]", out.Nodes)
			}
		})
		t.Run("tasks: lists and counts only the caller's", func(t *testing.T) {
			c := a.list(t, bob, map[string]any{"first": 100})
			if c.TotalCount != 1 || len(c.Edges) != 1 || c.Edges[0].Node.ID != bobTask.ID {
				t.Errorf("bob sees %d tasks (totalCount %d): %v", len(c.Edges), c.TotalCount, c.titles())
			}
		})
		t.Run("tasks: filters cannot reach another user's rows", func(t *testing.T) {
			for _, where := range []map[string]any{
				{"id": target.ID},
				{"idIn": []string{target.ID, aliceTasks[1].ID}},
				{"titleContainsFold": "alice"},
				{"description": "secret"},
				{"or": []any{map[string]any{"id": target.ID}, map[string]any{"not": map[string]any{"id": bobTask.ID}}}},
				{"not": map[string]any{"id": bobTask.ID}},
			} {
				c := a.list(t, bob, map[string]any{"where": where})
				if c.TotalCount != 0 || len(c.Edges) != 0 {
					t.Errorf("where %v: bob sees %v (totalCount %d)", where, c.titles(), c.TotalCount)
				}
			}
		})
		t.Run("tasks: a cursor from another user's page shows only the caller's", func(t *testing.T) {
			page := a.list(t, alice, map[string]any{"first": 1})
			for _, vars := range []map[string]any{
				{"first": 10, "after": *page.PageInfo.EndCursor},
				{"last": 10, "before": *page.PageInfo.EndCursor},
			} {
				c := a.list(t, bob, vars)
				for _, e := range c.Edges {
					if e.Node.ID != bobTask.ID {
						t.Errorf("%v: bob sees %q", vars, e.Node.Title)
					}
				}
				if c.TotalCount != 1 {
					t.Errorf("%v: totalCount %d, want 1", vars, c.TotalCount)
				}
			}
		})
		t.Run("createTask: the owner comes from the token only", func(t *testing.T) {
			res := a.post(bob, `mutation { createTask(input: {title: "x", userID: "alice"}) { id } }`, nil)
			if e := res.onlyError(t); e.code() != gqlerr.ValidationFailed {
				t.Errorf("code %q, want %s", e.code(), gqlerr.ValidationFailed)
			}
			created := a.createTask(t, bob, map[string]any{"title": "bob's second"})
			var owner string
			if err := db.SQL.QueryRow(`SELECT user_id FROM tasks WHERE title = 'bob''s second'`).Scan(&owner); err != nil {
				t.Fatal(err)
			}
			if owner != "bob" {
				t.Errorf("task %s owned by %q, want bob", created.ID, owner)
			}
		})
		t.Run("GET: other user's task is NOT_FOUND too", func(t *testing.T) {
			res := a.get(bob, url.Values{"query": {`query($id: ID!) { task(id: $id) { id } }`}, "variables": {`{"id":"` + target.ID + `"}`}})
			if e := res.onlyError(t); e.code() != gqlerr.NotFound {
				t.Errorf("code %q", e.code())
			}
		})
		t.Run("alice's tasks are untouched", func(t *testing.T) {
			c := a.list(t, alice, map[string]any{"first": 100})
			if c.TotalCount != len(aliceTasks) {
				t.Fatalf("alice has %d tasks, want %d", c.TotalCount, len(aliceTasks))
			}
			for _, e := range c.Edges {
				if e.Node.Description == nil || *e.Node.Description != "secret" || e.Node.IsCompleted || !e.Node.UpdatedAt.Equal(e.Node.CreatedAt) {
					t.Errorf("alice's task changed: %+v", e.Node)
				}
			}
		})
	})
}
