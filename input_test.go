package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/testdb"
)

// cursor builds a cursor as this server writes them, around any value.
func cursor(t *testing.T, value any) string {
	t.Helper()
	var b bytes.Buffer
	entgql.Cursor[uuid.UUID]{ID: uuid.New(), Value: value}.MarshalGQL(&b)
	return strings.Trim(b.String(), `"`)
}

// TestBadInput sends inputs no client should send. Each must be refused
// as BAD_USER_INPUT naming the argument, on both databases, and write
// nothing; none may surface as an internal error.
func TestBadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		own := a.createTask(t, alice, map[string]any{"title": "mine"})

		deep := map[string]any{"isCompleted": true}
		for range 12 {
			deep = map[string]any{"not": deep}
		}
		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprint(i)
		}
		byTitle := map[string]any{"field": "TITLE", "direction": "ASC"}
		cases := []struct {
			name, query string
			vars        map[string]any
			field       string
		}{
			{"a cursor holding a number", tasksQuery, map[string]any{"after": cursor(t, 5)}, "after"},
			{"a cursor holding a map", tasksQuery, map[string]any{"before": cursor(t, map[string]any{"x": 1}), "last": 5}, "before"},
			{"a title cursor in the time order", tasksQuery, map[string]any{"after": cursor(t, "mine")}, "after"},
			{"a time cursor in the title order", tasksQuery, map[string]any{"after": cursor(t, time.Now()), "orderBy": byTitle}, "after"},
			{"a cursor from year 300000", tasksQuery, map[string]any{"after": cursor(t, time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC))}, "after"},
			{"a title cursor with NUL", tasksQuery, map[string]any{"after": cursor(t, "a\x00"), "orderBy": byTitle}, "after"},
			{"an empty filter under not", tasksQuery, map[string]any{"where": map[string]any{"not": map[string]any{}}}, "where"},
			{"an empty filter in or", tasksQuery, map[string]any{"where": map[string]any{"or": []any{map[string]any{}}}}, "where"},
			{"filters nested too deep", tasksQuery, map[string]any{"where": deep}, "where"},
			{"a list of 101 titles", tasksQuery, map[string]any{"where": map[string]any{"titleIn": many}}, "titleIn"},
			{"a filter string with NUL", tasksQuery, map[string]any{"where": map[string]any{"titleContains": "a\x00"}}, "titleContains"},
			{"a malformed time in a filter", tasksQuery, map[string]any{"where": map[string]any{"createdAtGTE": "tomorrow"}}, "createdAtGTE"},
			{"a malformed id among ids", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{own.ID, "x"}}, "ids"},
			{"over 100 ids", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": manyIDs(101)}, "ids"},
			{"an id as a number", `query($id: ID!) { task(id: $id) { id } }`, map[string]any{"id": 7}, "id"},
			{"description and clearDescription together", `mutation($id: ID!) { updateTask(id: $id, input: {description: "x", clearDescription: true}) { id } }`, map[string]any{"id": own.ID}, "clearDescription"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := a.post(alice, tc.query, tc.vars)
				e := res.onlyError(t)
				if e.code() != gqlerr.BadUserInput || e.Extensions["field"] != tc.field {
					t.Errorf("got %s, want %s naming %q", res.Body, gqlerr.BadUserInput, tc.field)
				}
				for _, leak := range []string{"ent:", "sql", "msgpack", "interface", "int64", "json.Number", "Go value"} {
					if strings.Contains(e.Message, leak) {
						t.Errorf("message %q mentions %q", e.Message, leak)
					}
				}
			})
		}
		t.Run("one large variable used many times is refused before it runs", func(t *testing.T) {
			// 7 × 100 uses of a 100-title filter: 70,000 parameters once expanded.
			var or strings.Builder
			for range 100 {
				or.WriteString("$w ")
			}
			var and strings.Builder
			for range 7 {
				and.WriteString("{or: [" + or.String() + "]} ")
			}
			q := `query($w: TaskWhereInput!) { tasks(where: {and: [` + and.String() + `]}) { totalCount } }`
			res := a.post(alice, q, map[string]any{"w": map[string]any{"titleIn": many[:100]}})
			if e := res.onlyError(t); e.code() != gqlerr.InputLimit {
				t.Errorf("got %s", res.Body)
			}
		})
		t.Run("invalid UTF-8 over GET", func(t *testing.T) {
			res := a.get(alice, url.Values{"query": {"{ tasks(where: {titleContains: \"\xff\xfe\"}) { totalCount } }"}})
			if e := res.onlyError(t); e.code() != gqlerr.BadUserInput {
				t.Errorf("got %s", res.Body)
			}
		})
		t.Run("a batched body says batching is not supported", func(t *testing.T) {
			res := a.raw("POST", "/query", strings.NewReader(`[{"query":"{ tasks { totalCount } }"}]`), header(alice, "application/json"))
			e := res.onlyError(t)
			if res.Status != 400 || e.code() != gqlerr.ParseFailed || !strings.Contains(e.Message, "batched") || strings.Contains(e.Message, "Go value") {
				t.Errorf("status %d, body %s", res.Status, res.Body)
			}
		})
		t.Run("several operations without operationName are refused with advice", func(t *testing.T) {
			e := a.post(alice, `query A { tasks { totalCount } } query B { tasks { totalCount } }`, nil).onlyError(t)
			if e.code() != gqlerr.ValidationFailed || !strings.Contains(e.Message, "operationName") {
				t.Errorf("got %+v", e)
			}
		})
		t.Run("methods other than GET and POST are 405", func(t *testing.T) {
			for _, m := range []string{http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch} {
				res := a.raw(m, "/query?query={__typename}", nil, header(alice, ""))
				if res.Status != 405 || res.Header.Get("Allow") != "GET, POST" {
					t.Errorf("%s: status %d, Allow %q", m, res.Status, res.Header.Get("Allow"))
				}
				if m != http.MethodHead && res.onlyError(t).code() != gqlerr.ValidationFailed {
					t.Errorf("%s: body %s", m, res.Body)
				}
			}
		})
		t.Run("a GET with an Upgrade header is still a GET", func(t *testing.T) {
			h := header(alice, "")
			h.Set("Upgrade", "websocket")
			var out struct{ Tasks connection }
			a.raw("GET", "/query?query="+url.QueryEscape("{ tasks { totalCount } }"), nil, h).decode(t, &out)
		})
		var got struct{ Task task }
		a.post(alice, `query($id: ID!) { task(id: $id) { `+taskFields+` } }`, map[string]any{"id": own.ID}).decode(t, &got)
		if got.Task.Title != "mine" || got.Task.Description != nil || !got.Task.UpdatedAt.Equal(own.UpdatedAt) || countRows(t, db) != 1 {
			t.Errorf("refused inputs changed data: %+v, %d rows", got.Task, countRows(t, db))
		}
	})
}

func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = uuid.NewString()
	}
	return out
}
