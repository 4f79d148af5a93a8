package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

func TestCreateReadUpdateDelete(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")

		created := a.createTask(t, alice, map[string]any{"title": "  Buy milk  ", "description": "2 litres"})
		if created.Title != "Buy milk" {
			t.Errorf("title = %q, want it trimmed to %q", created.Title, "Buy milk")
		}
		if created.Description == nil || *created.Description != "2 litres" {
			t.Errorf("description = %v, want %q", created.Description, "2 litres")
		}
		if created.IsCompleted {
			t.Error("a new task is completed")
		}
		if created.CreatedAt.IsZero() || !created.UpdatedAt.Equal(created.CreatedAt) {
			t.Errorf("createdAt %v, updatedAt %v: want both set and equal", created.CreatedAt, created.UpdatedAt)
		}

		var got struct{ Task task }
		a.post(alice, `query($id: ID!) { task(id: $id) { `+taskFields+` } }`, map[string]any{"id": created.ID}).decode(t, &got)
		if got.Task.ID != created.ID || got.Task.Title != created.Title || !got.Task.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("task read back = %+v, want %+v", got.Task, created)
		}

		var upd struct{ UpdateTask task }
		a.post(alice, `mutation($id: ID!, $in: UpdateTaskInput!) { updateTask(id: $id, input: $in) { `+taskFields+` } }`,
			map[string]any{"id": created.ID, "in": map[string]any{"isCompleted": true, "clearDescription": true, "title": " Buy oat milk "}}).decode(t, &upd)
		if !upd.UpdateTask.IsCompleted || upd.UpdateTask.Description != nil || upd.UpdateTask.Title != "Buy oat milk" {
			t.Errorf("updated task = %+v, want completed, no description, title trimmed", upd.UpdateTask)
		}
		if upd.UpdateTask.UpdatedAt.Before(created.UpdatedAt) || !upd.UpdateTask.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("after update createdAt %v updatedAt %v; before %v %v", upd.UpdateTask.CreatedAt, upd.UpdateTask.UpdatedAt, created.CreatedAt, created.UpdatedAt)
		}

		var del struct{ DeleteTask string }
		a.post(alice, `mutation($id: ID!) { deleteTask(id: $id) }`, map[string]any{"id": created.ID}).decode(t, &del)
		if del.DeleteTask != created.ID {
			t.Errorf("deleteTask = %q, want %q", del.DeleteTask, created.ID)
		}
		if n := countRows(t, db); n != 0 {
			t.Errorf("%d rows left after delete", n)
		}
		res := a.post(alice, `query($id: ID!) { task(id: $id) { id } }`, map[string]any{"id": created.ID})
		if e := res.onlyError(t); e.code() != gqlerr.NotFound {
			t.Errorf("reading a deleted task: code %q, want %s", e.code(), gqlerr.NotFound)
		}
		res = a.post(alice, `mutation($id: ID!) { deleteTask(id: $id) }`, map[string]any{"id": created.ID})
		if e := res.onlyError(t); e.code() != gqlerr.NotFound {
			t.Errorf("deleting a deleted task: code %q, want %s", e.code(), gqlerr.NotFound)
		}
	})
}

func TestPagination(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		const n = 45
		var want []string
		for i := range n {
			want = append(want, a.createTask(t, alice, map[string]any{"title": fmt.Sprintf("task %02d", i)}).ID)
		}

		t.Run("default page is 20, newest first", func(t *testing.T) {
			c := a.list(t, alice, nil)
			if len(c.Edges) != 20 || c.TotalCount != n || !c.PageInfo.HasNextPage {
				t.Fatalf("got %d edges, totalCount %d, hasNextPage %v; want 20, %d, true", len(c.Edges), c.TotalCount, c.PageInfo.HasNextPage, n)
			}
			if c.Edges[0].Node.ID != want[n-1] {
				t.Errorf("first edge is %q, want the newest task %q", c.Edges[0].Node.Title, "task 44")
			}
		})

		t.Run("forward pages list each task exactly once", func(t *testing.T) {
			assertSameSet(t, ids(a.walk(t, alice, map[string]any{"first": 7}, false)), want)
		})

		t.Run("backward pages list each task exactly once", func(t *testing.T) {
			assertSameSet(t, ids(a.walk(t, alice, map[string]any{"last": 10}, true)), want)
		})

		t.Run("ordered by title ascending across pages", func(t *testing.T) {
			var titles []string
			for _, tk := range a.walk(t, alice, map[string]any{"first": 20, "orderBy": map[string]any{"field": "TITLE", "direction": "ASC"}}, false) {
				titles = append(titles, tk.Title)
			}
			if len(titles) != n || !slices.IsSorted(titles) {
				t.Errorf("titles = %v, want %d in ascending order", titles, n)
			}
		})

		t.Run("pageInfo without edges follows the cursor", func(t *testing.T) {
			const q = `query($first: Int, $after: Cursor) { tasks(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } } }`
			var out struct{ Tasks connection }
			a.post(alice, q, map[string]any{"first": 50}).decode(t, &out)
			if out.Tasks.PageInfo.HasNextPage || out.Tasks.TotalCount != n {
				t.Errorf("first 50 of %d: hasNextPage %v, totalCount %d", n, out.Tasks.PageInfo.HasNextPage, out.Tasks.TotalCount)
			}
			a.post(alice, q, map[string]any{"first": 40}).decode(t, &out)
			if !out.Tasks.PageInfo.HasNextPage {
				t.Errorf("first 40 of %d: hasNextPage false", n)
			}
			a.post(alice, q, map[string]any{"first": 10, "after": *out.Tasks.PageInfo.EndCursor}).decode(t, &out)
			if out.Tasks.PageInfo.HasNextPage {
				t.Errorf("10 after the 40th of %d: hasNextPage true", n)
			}
		})

		t.Run("first over 100 is refused", func(t *testing.T) {
			for _, vars := range []map[string]any{{"first": 101}, {"last": 101}, {"first": -1}, {"first": 1, "last": 1}} {
				res := a.post(alice, tasksQuery, vars)
				if e := res.onlyError(t); e.code() != gqlerr.BadUserInput {
					t.Errorf("%v: code %q, want %s", vars, e.code(), gqlerr.BadUserInput)
				}
			}
		})

		t.Run("a malformed cursor is BAD_USER_INPUT", func(t *testing.T) {
			for _, c := range []string{"not-a-cursor", "", "gqFpxBD20qMHhCVF"} {
				res := a.post(alice, tasksQuery, map[string]any{"after": c})
				if e := res.onlyError(t); e.code() != gqlerr.BadUserInput {
					t.Errorf("cursor %q: code %q, want %s (%s)", c, e.code(), gqlerr.BadUserInput, res.Body)
				}
			}
		})
	})
}

func TestFilters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		milk := a.createTask(t, alice, map[string]any{"title": "Buy MILK"})
		a.createTask(t, alice, map[string]any{"title": "Walk the dog", "isCompleted": true})
		a.createTask(t, alice, map[string]any{"title": "Buy bread", "isCompleted": true})

		cases := []struct {
			name  string
			where map[string]any
			want  []string
		}{
			{"completed", map[string]any{"isCompleted": true}, []string{"Buy bread", "Walk the dog"}},
			{"title contains, any case", map[string]any{"titleContainsFold": "buy"}, []string{"Buy MILK", "Buy bread"}},
			{"or", map[string]any{"or": []any{map[string]any{"titleContainsFold": "milk"}, map[string]any{"titleContainsFold": "dog"}}}, []string{"Buy MILK", "Walk the dog"}},
			{"not", map[string]any{"not": map[string]any{"isCompleted": true}}, []string{"Buy MILK"}},
			{"created at or after the first", map[string]any{"createdAtGTE": milk.CreatedAt}, []string{"Buy MILK", "Buy bread", "Walk the dog"}},
			{"created before the first", map[string]any{"createdAtLT": milk.CreatedAt}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := a.list(t, alice, map[string]any{"where": tc.where})
				got := c.titles()
				slices.Sort(got)
				if !slices.Equal(got, tc.want) || c.TotalCount != len(tc.want) {
					t.Errorf("got %v (totalCount %d), want %v", got, c.TotalCount, tc.want)
				}
			})
		}

		t.Run("the where input has no owner predicate", func(t *testing.T) {
			res := a.post(alice, tasksQuery, map[string]any{"where": map[string]any{"userID": "bob"}})
			if e := res.onlyError(t); e.code() != gqlerr.ValidationFailed {
				t.Errorf("code %q, want %s", e.code(), gqlerr.ValidationFailed)
			}
		})
		t.Run("a malformed time is BAD_USER_INPUT", func(t *testing.T) {
			res := a.post(alice, tasksQuery, map[string]any{"where": map[string]any{"createdAtGT": "yesterday"}})
			if e := res.onlyError(t); e.code() != gqlerr.BadUserInput {
				t.Errorf("code %q, want %s: %s", e.code(), gqlerr.BadUserInput, res.Body)
			}
		})
	})
}

func TestValidation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		existing := a.createTask(t, alice, map[string]any{"title": "keep me", "description": "as I am"})

		long := func(n int, r string) string { return strings.Repeat(r, n) }
		accepted := []struct {
			name               string
			input              map[string]any
			title, description string
		}{
			{"title of 200 characters", map[string]any{"title": long(200, "a")}, long(200, "a"), ""},
			{"title of 200 multi-byte characters", map[string]any{"title": long(200, "é")}, long(200, "é"), ""},
			{"title of 200 emoji, 800 bytes", map[string]any{"title": long(200, "🙂")}, long(200, "🙂"), ""},
			{"title padded past 200 by spaces", map[string]any{"title": "  " + long(200, "b") + "\t\n"}, long(200, "b"), ""},
			{"description of 2000 characters", map[string]any{"title": "t", "description": long(2000, "ж")}, "t", long(2000, "ж")},
			{"empty description", map[string]any{"title": "t", "description": ""}, "t", ""},
		}
		for _, tc := range accepted {
			t.Run("accepts "+tc.name, func(t *testing.T) {
				created := a.createTask(t, alice, tc.input)
				var title, desc string
				if err := db.SQL.QueryRow(`SELECT title, COALESCE(description, '') FROM tasks WHERE id = `+placeholder(db), created.ID).Scan(&title, &desc); err != nil {
					t.Fatal(err)
				}
				if title != tc.title || desc != tc.description {
					t.Errorf("stored title %.20q… (%d chars), description of %d chars; want %.20q… and %d", title, len([]rune(title)), len([]rune(desc)), tc.title, len([]rune(tc.description)))
				}
			})
		}

		refused := []struct {
			name  string
			input map[string]any
			field string
		}{
			{"empty title", map[string]any{"title": ""}, "title"},
			{"blank title", map[string]any{"title": " \t\n "}, "title"},
			{"title of 201 characters", map[string]any{"title": long(201, "a")}, "title"},
			{"title of 201 emoji", map[string]any{"title": long(201, "🙂")}, "title"},
			{"title with NUL", map[string]any{"title": "a\x00b"}, "title"},
			{"description of 2001 characters", map[string]any{"title": "t", "description": long(2001, "a")}, "description"},
			{"description with NUL", map[string]any{"title": "t", "description": "a\x00"}, "description"},
		}
		for _, tc := range refused {
			t.Run("refuses "+tc.name+" on create", func(t *testing.T) {
				before := countRows(t, db)
				res := a.post(alice, `mutation($in: CreateTaskInput!) { createTask(input: $in) { id } }`, map[string]any{"in": tc.input})
				e := res.onlyError(t)
				if e.code() != gqlerr.BadUserInput || e.Extensions["field"] != tc.field {
					t.Errorf("got %s, want code %s and field %q", res.Body, gqlerr.BadUserInput, tc.field)
				}
				if after := countRows(t, db); after != before {
					t.Errorf("refused create wrote rows: %d before, %d after", before, after)
				}
			})
			t.Run("refuses "+tc.name+" on update", func(t *testing.T) {
				in := map[string]any{}
				for k, v := range tc.input {
					if k == tc.field {
						in[k] = v
					}
				}
				res := a.post(alice, `mutation($id: ID!, $in: UpdateTaskInput!) { updateTask(id: $id, input: $in) { id } }`,
					map[string]any{"id": existing.ID, "in": in})
				e := res.onlyError(t)
				if e.code() != gqlerr.BadUserInput || e.Extensions["field"] != tc.field {
					t.Errorf("got %s, want code %s and field %q", res.Body, gqlerr.BadUserInput, tc.field)
				}
				var got struct{ Task task }
				a.post(alice, `query($id: ID!) { task(id: $id) { `+taskFields+` } }`, map[string]any{"id": existing.ID}).decode(t, &got)
				if got.Task.Title != "keep me" || got.Task.Description == nil || *got.Task.Description != "as I am" || !got.Task.UpdatedAt.Equal(existing.UpdatedAt) {
					t.Errorf("refused update changed the task: %+v", got.Task)
				}
			})
		}

		t.Run("a refused mutation undoes the earlier ones of its operation", func(t *testing.T) {
			before := countRows(t, db)
			res := a.post(alice, `mutation { ok: createTask(input: {title: "fine"}) { id } bad: createTask(input: {title: ""}) { id } }`, nil)
			if e := res.onlyError(t); e.code() != gqlerr.BadUserInput {
				t.Errorf("got %s, want one %s", res.Body, gqlerr.BadUserInput)
			}
			if after := countRows(t, db); after != before {
				t.Errorf("operation with a refused mutation wrote %d rows", after-before)
			}
		})

		t.Run("malformed IDs are BAD_USER_INPUT", func(t *testing.T) {
			for _, id := range []string{"1", "not-a-uuid", "", "00000000-0000-0000-0000-00000000000g", "{00000000-0000-0000-0000-000000000000}"} {
				for _, q := range []string{
					`query($id: ID!) { task(id: $id) { id } }`,
					`query($id: ID!) { node(id: $id) { id } }`,
					`mutation($id: ID!) { deleteTask(id: $id) }`,
				} {
					res := a.post(alice, q, map[string]any{"id": id})
					if e := res.onlyError(t); e.code() != gqlerr.BadUserInput {
						t.Errorf("%s with id %q: got %s", q, id, res.Body)
					}
				}
			}
		})
	})
}

func TestErrorsDoNotLeak(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		a.createTask(t, alice, map[string]any{"title": "x"})
		// With the database gone, every path fails inside: the client must
		// learn only that, with no driver or SQL text.
		if err := db.Client.Close(); err != nil {
			t.Fatal(err)
		}
		if res := a.raw("GET", "/readyz", nil, nil); res.Status != 503 {
			t.Errorf("readyz with the database gone: status %d, want 503", res.Status)
		}
		if res := a.raw("GET", "/healthz", nil, nil); res.Status != 200 {
			t.Errorf("healthz with the database gone: status %d, want 200", res.Status)
		}
		for _, q := range []string{
			`{ tasks { totalCount edges { node { id } } } }`,
			`mutation { createTask(input: {title: "y"}) { id } }`,
		} {
			res := a.post(alice, q, nil)
			e := res.onlyError(t)
			if e.code() != gqlerr.InternalServerError || e.Message != "internal server error" {
				t.Errorf("%s: got %s", q, res.Body)
			}
			for _, leak := range []string{"sql", "SQL", "ent:", "database", "closed", "pgx", "sqlite"} {
				if strings.Contains(res.Body, leak) {
					t.Errorf("%s: response mentions %q: %s", q, leak, res.Body)
				}
			}
		}
	})
}

func TestHTTPContract(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		a.createTask(t, alice, map[string]any{"title": "x"})

		t.Run("GET runs a query", func(t *testing.T) {
			res := a.get(alice, url.Values{"query": {`query($n: Int) { tasks(first: $n) { totalCount } }`}, "variables": {`{"n": 5}`}})
			var out struct{ Tasks connection }
			res.decode(t, &out)
			if res.Status != 200 || out.Tasks.TotalCount != 1 {
				t.Errorf("status %d, body %s", res.Status, res.Body)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q on a user's data, want no-store", cc)
			}
			if n := res.Header.Get("X-Content-Type-Options"); n != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", n)
			}
		})
		t.Run("markup in task text comes back as the same JSON string", func(t *testing.T) {
			const title = `<script>alert("x")</script> & </b> \ \u2028`
			bob := a.token("bob") // alice's task count stays as the other subtests expect
			created := a.createTask(t, bob, map[string]any{"title": title})
			var out struct{ Task task }
			res := a.post(bob, `query($id: ID!) { task(id: $id) { id title } }`, map[string]any{"id": created.ID})
			res.decode(t, &out)
			if out.Task.Title != title || !json.Valid([]byte(res.Body)) {
				t.Errorf("title came back as %q in %s", out.Task.Title, res.Body)
			}
		})
		t.Run("GET refuses a mutation with 405 and runs nothing", func(t *testing.T) {
			before := countRows(t, db)
			res := a.get(alice, url.Values{"query": {`mutation { createTask(input: {title: "via GET"}) { id } }`}})
			if res.Status != 405 || res.Header.Get("Allow") != "POST" {
				t.Errorf("status %d, Allow %q; want 405, POST", res.Status, res.Header.Get("Allow"))
			}
			if after := countRows(t, db); after != before {
				t.Error("a mutation over GET wrote a row")
			}
		})
		t.Run("a syntax error is GRAPHQL_PARSE_FAILED", func(t *testing.T) {
			if e := a.post(alice, `{ tasks {`, nil).onlyError(t); e.code() != gqlerr.ParseFailed {
				t.Errorf("code %q", e.code())
			}
		})
		t.Run("an unknown field is GRAPHQL_VALIDATION_FAILED", func(t *testing.T) {
			if e := a.post(alice, `{ tasks { owner } }`, nil).onlyError(t); e.code() != gqlerr.ValidationFailed {
				t.Errorf("code %q", e.code())
			}
		})
		t.Run("a body that is not JSON is refused with a code", func(t *testing.T) {
			res := a.raw("POST", "/query", strings.NewReader(`{"query": `), header(alice, "application/json"))
			if res.Status != 400 || res.onlyError(t).code() != gqlerr.ParseFailed {
				t.Errorf("status %d, body %s", res.Status, res.Body)
			}
		})
		t.Run("a body over 1 MiB is refused", func(t *testing.T) {
			big := `{"query": "{ tasks { totalCount } }", "variables": {"pad": "` + strings.Repeat("a", 1<<20) + `"}}`
			res := a.raw("POST", "/query", strings.NewReader(big), header(alice, "application/json"))
			if res.Status != 413 {
				t.Errorf("status %d, want 413", res.Status)
			}
		})
		t.Run("a request without a valid token is 401 and writes nothing", func(t *testing.T) {
			before := countRows(t, db)
			expired, err := a.signer.Sign("alice", -time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for tok, reason := range map[string]string{"": gqlerr.ReasonMissing, "garbage": gqlerr.ReasonInvalid, expired: gqlerr.ReasonExpired} {
				res := a.post(tok, `mutation { createTask(input: {title: "sneaky"}) { id } }`, nil)
				e := res.onlyError(t)
				if res.Status != 401 || e.code() != gqlerr.Unauthenticated || e.Extensions["reason"] != reason || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("token %.10q: status %d, body %s", tok, res.Status, res.Body)
				}
			}
			if after := countRows(t, db); after != before {
				t.Error("an unauthenticated mutation wrote a row")
			}
		})
		t.Run("automatic persisted queries work over POST and GET", func(t *testing.T) {
			const q = `{ tasks { totalCount } }`
			sum := sha256.Sum256([]byte(q))
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
			send := func(body map[string]any) response {
				b, _ := json.Marshal(body)
				return a.raw("POST", "/query", bytes.NewReader(b), header(alice, "application/json"))
			}
			if e := send(map[string]any{"extensions": ext}).onlyError(t); e.code() != gqlerr.PersistedQueryNotFound {
				t.Fatalf("unknown hash: code %q, want %s", e.code(), gqlerr.PersistedQueryNotFound)
			}
			var out struct{ Tasks connection }
			send(map[string]any{"query": q, "extensions": ext}).decode(t, &out)
			send(map[string]any{"extensions": ext}).decode(t, &out)
			extJSON, _ := json.Marshal(ext)
			a.get(alice, url.Values{"extensions": {string(extJSON)}}).decode(t, &out)
			if out.Tasks.TotalCount != 1 {
				t.Errorf("totalCount %d through a persisted query", out.Tasks.TotalCount)
			}
			wrong := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}
			if e := send(map[string]any{"query": q, "extensions": wrong}).onlyError(t); e.code() != gqlerr.ValidationFailed {
				t.Errorf("hash not matching the query: code %q", e.code())
			}
		})
		t.Run("an operation over the complexity limit is refused", func(t *testing.T) {
			var q strings.Builder
			q.WriteString("{")
			// Four full pages of every field: few fields, but 4 × 811.
			for i := range 4 {
				fmt.Fprintf(&q, " a%d: tasks(first: 100) { edges { node { %s } } }", i, taskFields)
			}
			q.WriteString(" }")
			if e := a.post(alice, q.String(), nil).onlyError(t); e.code() != gqlerr.ComplexityLimit {
				t.Errorf("code %q, want %s", e.code(), gqlerr.ComplexityLimit)
			}
		})
		t.Run("healthz and readyz answer", func(t *testing.T) {
			for _, p := range []string{"/healthz", "/readyz"} {
				if res := a.raw("GET", p, nil, nil); res.Status != 200 {
					t.Errorf("%s: status %d", p, res.Status)
				}
			}
		})
		t.Run("GraphiQL is served at /", func(t *testing.T) {
			res := a.raw("GET", "/", nil, nil)
			if res.Status != 200 || !strings.Contains(res.Body, "graphiql") {
				t.Errorf("status %d", res.Status)
			}
		})
	})
}

// walk pages through tasks as tok from vars, forwards by endCursor or
// backwards by startCursor, and returns every task seen in page order.
func (a *api) walk(t testing.TB, tok string, vars map[string]any, backward bool) []task {
	t.Helper()
	var seen []task
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		c := a.list(t, tok, vars)
		for _, e := range c.Edges {
			seen = append(seen, e.Node)
		}
		switch {
		case !backward && c.PageInfo.HasNextPage:
			vars["after"] = *c.PageInfo.EndCursor
		case backward && c.PageInfo.HasPreviousPage:
			vars["before"] = *c.PageInfo.StartCursor
		default:
			return seen
		}
	}
}

func ids(tasks []task) []string {
	out := make([]string, len(tasks))
	for i, tk := range tasks {
		out[i] = tk.ID
	}
	return out
}

// assertSameSet checks that got holds each of want exactly once.
func assertSameSet(t *testing.T, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("task %s listed %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("task %s never listed", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("listed %d tasks, want %d", len(got), len(want))
	}
}

// placeholder is the first bind parameter in db's dialect.
func placeholder(db *database.DB) string {
	if db.Dialect == dialect.Postgres {
		return "$1"
	}
	return "?"
}
