package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// TestCountUpTo: TaskConnection.count counts the caller's matching tasks up
// to atMost, says whether that is all of them, follows the connection's
// filter and never counts another user's tasks.
func TestCountUpTo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice, bob, carol := a.token("alice"), a.token("bob"), a.token("carol")
		for i := range 25 {
			a.createTask(t, alice, map[string]any{"title": fmt.Sprintf("task %d %s", i, map[bool]string{true: "even", false: "odd"}[i%2 == 0])})
		}
		for i := range 5 {
			a.createTask(t, bob, map[string]any{"title": fmt.Sprintf("bob %d even", i)})
		}
		type count struct{ Value, Exact any }
		countOf := func(tok, args string, atMost any) (count, int) {
			t.Helper()
			var out struct {
				Tasks struct {
					Count      count
					TotalCount int
				}
			}
			a.post(tok, `query($n: Int!) { tasks`+args+` { count(atMost: $n) { value exact } totalCount } }`, map[string]any{"n": atMost}).decode(t, &out)
			return out.Tasks.Count, out.Tasks.TotalCount
		}
		for _, c := range []struct {
			tok, args string
			atMost    int
			want      count
			total     int
		}{
			{alice, "", 10, count{10.0, false}, 25},
			{alice, "", 24, count{24.0, false}, 25},
			{alice, "", 25, count{25.0, true}, 25},
			{alice, "", 1000, count{25.0, true}, 25},
			{alice, `(where: {titleContains: "even"})`, 5, count{5.0, false}, 13},
			{alice, `(where: {titleContains: "even"})`, 13, count{13.0, true}, 13},
			{alice, `(first: 2, where: {titleContains: "odd"})`, 100, count{12.0, true}, 12},
			{bob, "", 1000, count{5.0, true}, 5},
			{carol, "", 1, count{0.0, true}, 0},
		} {
			got, total := countOf(c.tok, c.args, c.atMost)
			if got != c.want || total != c.total {
				t.Errorf("tasks%s count(atMost: %d): %+v and totalCount %d, want %+v and %d", c.args, c.atMost, got, total, c.want, c.total)
			}
		}
		t.Run("a count after a cursor counts the whole connection, as totalCount does", func(t *testing.T) {
			first := a.list(t, alice, map[string]any{"first": 5})
			var out struct{ Tasks struct{ Count count } }
			a.post(alice, `query($after: Cursor) { tasks(first: 5, after: $after) { count { value exact } } }`,
				map[string]any{"after": first.PageInfo.EndCursor}).decode(t, &out)
			if out.Tasks.Count != (count{25.0, true}) {
				t.Errorf("after a cursor: %+v", out.Tasks.Count)
			}
		})
		t.Run("atMost out of bounds: a null count and an error, the page kept", func(t *testing.T) {
			for _, n := range []int{0, -1, 10_001} {
				res := a.post(alice, `query($n: Int!) { tasks(first: 2) { count(atMost: $n) { value } edges { node { id } } } }`, map[string]any{"n": n})
				e := res.onlyError(t)
				var out struct {
					Tasks struct {
						Count *count
						Edges []any
					}
				}
				_ = json.Unmarshal(res.Data, &out)
				if res.Status != http.StatusOK || e.code() != gqlerr.BadUserInput || out.Tasks.Count != nil || len(out.Tasks.Edges) != 2 {
					t.Errorf("atMost %d: %d %s", n, res.Status, res.Body)
				}
			}
		})
		t.Run("counts are costed on an empty page and under a filter", func(t *testing.T) {
			var b strings.Builder
			for i := range 20 {
				fmt.Fprintf(&b, " c%d: count(atMost: 10000) { value }", i)
			}
			for _, args := range []string{"(first: 0)", `(first: 1, where: {titleContains: "even"})`} {
				res := a.post(alice, `{ tasks`+args+` {`+b.String()+` } }`, nil)
				if e := res.onlyError(t); e.code() != gqlerr.ComplexityLimit {
					t.Errorf("20 counts of tasks%s: %s", args, res.Body)
				}
			}
		})
	})
}
