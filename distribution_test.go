package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/testdb"
)

// TestEveryStatementIsKeyedByUser: every SQL statement the API sends, reads
// and writes, one user's or a crossing attempt's, names user_id and carries
// the caller's subject. That is what lets the table be distributed by
// user_id (Citus-style) with every statement routed to one shard, and what
// the privacy policy promises.
func TestEveryStatementIsKeyedByUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		rec := &recordingDriver{Driver: entsql.OpenDB(db.Dialect, db.SQL)}
		a := newAPI(t, &database.DB{Client: ent.NewClient(ent.Driver(rec)), SQL: db.SQL, Dialect: db.Dialect})
		alice, bob := a.token("alice"), a.token("bob")
		mine := a.createTask(t, alice, map[string]any{"title": "alice's"})
		theirs := a.createTask(t, bob, map[string]any{"title": "bob's"})

		ops := []struct{ name, query string }{
			{"list with count", `{ tasks(first: 5) { totalCount edges { cursor node { id title } } } }`},
			{"count up to", `{ tasks(where: {isCompleted: false}) { count(atMost: 5) { value exact } } }`},
			{"filtered list", `{ tasks(first: 5, where: {titleContains: "a", isCompleted: false}) { edges { node { id } } } }`},
			{"task", fmt.Sprintf(`{ task(id: %q) { id } }`, mine.ID)},
			{"node", fmt.Sprintf(`{ node(id: %q) { id } }`, mine.ID)},
			{"nodes", fmt.Sprintf(`{ nodes(ids: [%q, %q]) { id } }`, mine.ID, theirs.ID)},
			{"create", `mutation { createTask(input: {title: "new"}) { id } }`},
			{"update", fmt.Sprintf(`mutation { updateTask(id: %q, input: {isCompleted: true}) { id } }`, mine.ID)},
			{"two mutations in one transaction", `mutation { a: createTask(input: {title: "a"}) { id } b: createTask(input: {title: "b"}) { id } }`},
			{"another's task", fmt.Sprintf(`{ task(id: %q) { id } }`, theirs.ID)},
			{"another's node", fmt.Sprintf(`{ node(id: %q) { id } }`, theirs.ID)},
			{"updating another's", fmt.Sprintf(`mutation { updateTask(id: %q, input: {title: "x"}) { id } }`, theirs.ID)},
			{"deleting another's", fmt.Sprintf(`mutation { deleteTask(id: %q) }`, theirs.ID)},
			{"delete", fmt.Sprintf(`mutation { deleteTask(id: %q) }`, mine.ID)},
		}
		for _, op := range ops {
			rec.reset()
			res := a.post(alice, op.query, nil)
			// Another's task is not found; node answers null, as Relay's
			// contract has it.
			crossing := strings.Contains(op.name, "another's") && op.name != "another's node"
			if res.Status != 200 || crossing != (len(res.Errors) > 0) || crossing && res.onlyError(t).code() != "NOT_FOUND" ||
				op.name == "another's node" && string(res.Data) != `{"node":null}` {
				t.Fatalf("%s: %d %s", op.name, res.Status, res.Body)
			}
			stmts := rec.statements()
			sent := 0
			for _, s := range stmts {
				if s.Query == "BEGIN" || s.Query == "COMMIT" || s.Query == "ROLLBACK" {
					continue
				}
				sent++
				if !strings.Contains(s.Query, "user_id") || !slices.Contains(s.Args, any("alice")) {
					t.Errorf("%s: a statement not keyed by the caller: %s %v", op.name, s.Query, s.Args)
				}
				if slices.Contains(s.Args, any("bob")) {
					t.Errorf("%s: a statement carries another subject: %s %v", op.name, s.Query, s.Args)
				}
			}
			if sent == 0 {
				t.Errorf("%s sent no statement: %s %v", op.name, res.Body, stmts)
			}
		}
		// Bob's task is untouched.
		var out struct{ Task *task }
		a.post(bob, fmt.Sprintf(`{ task(id: %q) { id title } }`, theirs.ID), nil).decode(t, &out)
		if out.Task == nil || out.Task.Title != "bob's" {
			t.Errorf("bob's task after alice's attempts: %+v", out.Task)
		}
	})
}
