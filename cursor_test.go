package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"entgo.io/contrib/entgql"

	"github.com/taskapi/server/internal/database"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/scalar"
	"github.com/taskapi/server/internal/testdb"
)

const (
	msgNotCursor    = "not a valid cursor: use a cursor from a previous page"
	msgAnotherOrder = "the cursor belongs to another order: use a cursor from a page in the same order"
)

// order is an orderBy argument; the zero order sends none (CREATED_AT DESC).
type order struct {
	field string
	dir   entgql.OrderDirection
}

func (o order) vars(v map[string]any) map[string]any {
	if o.field != "" {
		v["orderBy"] = map[string]any{"field": o.field, "direction": string(o.dir)}
	}
	return v
}

func (o order) String() string {
	if o.field == "" {
		return "the default order"
	}
	return o.field + " " + string(o.dir)
}

// position is what the order's cursors must say.
func (o order) position() order {
	if o.field == "" {
		return order{"CREATED_AT", entgql.OrderDirectionDesc}
	}
	return o
}

var allOrders = []order{
	{},
	{"CREATED_AT", entgql.OrderDirectionAsc}, {"CREATED_AT", entgql.OrderDirectionDesc},
	{"UPDATED_AT", entgql.OrderDirectionAsc}, {"UPDATED_AT", entgql.OrderDirectionDesc},
	{"TITLE", entgql.OrderDirectionAsc}, {"TITLE", entgql.OrderDirectionDesc},
}

// TestCursors pages through tasks in every order with the cursors the API
// writes, and sends cursors it did not write or wrote for another order.
func TestCursors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice, bob := a.token("alice"), a.token("bob")
		// A repeated title, so the id breaks a tie; multibyte text.
		titles := []string{"Buy milk", "café ☕", "😀 party", "Buy milk", "zebra", "Äpfel", "日本語", "b", "A"}
		var bobIDs []string
		for i, title := range titles {
			a.createTask(t, alice, map[string]any{"title": title})
			if i%2 == 0 {
				bobIDs = append(bobIDs, a.createTask(t, bob, map[string]any{"title": "bob " + title}).ID)
			}
		}
		// Updated out of creation order, so UPDATED_AT is an order of its own.
		everyone := a.list(t, alice, map[string]any{"first": 100})
		for _, i := range []int{4, 8, 0} {
			var out struct{ UpdateTask task }
			a.post(alice, `mutation($id: ID!) { updateTask(id: $id, input: {isCompleted: true}) { id } }`,
				map[string]any{"id": everyone.Edges[i].Node.ID}).decode(t, &out)
		}

		for _, o := range allOrders {
			t.Run(fmt.Sprintf("pages forward and backward in %v", o), func(t *testing.T) {
				whole := edgeIDs(a.list(t, alice, o.vars(map[string]any{"first": 100})))
				if len(whole) != len(titles) {
					t.Fatalf("one page holds %d tasks, want %d", len(whole), len(titles))
				}
				if got := a.pages(t, alice, o, 2, false); !slices.Equal(got, whole) {
					t.Errorf("forward pages of 2:\n%v\nwant\n%v", got, whole)
				}
				if got := a.pages(t, alice, o, 2, true); !slices.Equal(got, whole) {
					t.Errorf("backward pages of 2:\n%v\nwant\n%v", got, whole)
				}
			})
		}

		t.Run("a cursor is refused in any other order", func(t *testing.T) {
			for _, from := range allOrders {
				c := a.list(t, alice, from.vars(map[string]any{"first": 2}))
				cursor := *c.PageInfo.EndCursor
				for _, in := range allOrders {
					if in.position() == from.position() {
						// The default order is CREATED_AT DESC, named or not.
						var out struct{ Tasks connection }
						a.post(alice, tasksQuery, in.vars(map[string]any{"after": cursor, "first": 2})).decode(t, &out)
						a.post(alice, tasksQuery, in.vars(map[string]any{"before": cursor, "last": 2})).decode(t, &out)
						continue
					}
					for _, arg := range []string{"after", "before"} {
						res := a.post(alice, tasksQuery, in.vars(map[string]any{arg: cursor}))
						e := res.onlyError(t)
						if e.code() != gqlerr.BadUserInput || e.Extensions["field"] != arg || e.Message != msgAnotherOrder {
							t.Errorf("a cursor of %v as %s in %v: %s", from, arg, in, res.Body)
						}
					}
				}
			}
		})

		t.Run("a cursor the server did not write is refused and allocates little", func(t *testing.T) {
			for _, tc := range []struct{ name, cursor string }{
				{"forged msgpack, 3 levels", forgedCursor(3)},
				{"forged msgpack under 2 KB", forgedCursor(250)},
				{"64 KB", strings.Repeat("A", 64<<10)},
				{"an old msgpack cursor", cursor(t, everyone.Edges[0].Node.CreatedAt)},
			} {
				var res response
				n := allocatedBytes(func() { res = a.post(alice, tasksQuery, map[string]any{"after": tc.cursor}) })
				e := res.onlyError(t)
				if e.code() != gqlerr.BadUserInput || e.Extensions["field"] != "after" || e.Message != msgNotCursor {
					t.Errorf("%s: %s", tc.name, res.Body)
				}
				t.Logf("%s: the request allocated %d KB", tc.name, n>>10)
				// The msgpack decoder allocated 80 MB a level.
				if n > 8<<20 {
					t.Fatalf("%s: the request allocated %d MB", tc.name, n>>20)
				}
			}
		})

		t.Run("Bob paging with a cursor from Alice's page gets only his tasks", func(t *testing.T) {
			mine := a.list(t, alice, map[string]any{"first": 4})
			at := mine.Edges[len(mine.Edges)-1].Node
			var want []string
			for _, e := range a.list(t, bob, map[string]any{"first": 100}).Edges {
				if e.Node.CreatedAt.Before(at.CreatedAt) || e.Node.CreatedAt.Equal(at.CreatedAt) && e.Node.ID < at.ID {
					want = append(want, e.Node.ID)
				}
			}
			if len(want) == 0 {
				t.Fatal("Bob has no task older than Alice's cursor: the test proves nothing")
			}
			for _, vars := range []map[string]any{
				{"after": *mine.PageInfo.EndCursor, "first": 100},
				{"before": *mine.PageInfo.StartCursor, "last": 100},
			} {
				got := edgeIDs(a.list(t, bob, vars))
				for _, id := range got {
					if !slices.Contains(bobIDs, id) {
						t.Fatalf("Bob got task %s, not his, with %v", id, vars)
					}
				}
				if _, after := vars["after"]; after && !slices.Equal(got, want) {
					t.Errorf("Bob after Alice's cursor got %v, want his older tasks %v", got, want)
				}
			}
		})
	})
}

// TestIntInput sends first as values an Int cannot hold. Those that reach
// the scalar are BAD_USER_INPUT naming the value; gqlparser refuses some
// variables before that (1.5 as "cannot use value 0 as Int").
func TestIntInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *database.DB) {
		a := newAPI(t, db)
		alice := a.token("alice")
		a.createTask(t, alice, map[string]any{"title": "one"})
		const q = `query($first: Int) { tasks(first: $first) { totalCount } }`
		for _, tc := range []struct{ name, query, vars, want string }{
			{"a string", q, `{"first": "5"}`, `variable $first: Int cannot represent "5": a string is not an Int`},
			{"over 32 bits", q, `{"first": 3000000000}`, `variable $first: Int cannot represent 3000000000: not in the 32-bit range`},
			{"under 32 bits", q, `{"first": -3000000000}`, `variable $first: Int cannot represent -3000000000: not in the 32-bit range`},
			{"a fraction", q, `{"first": 1.5}`, `variable $first: Int cannot represent 1.5: not a whole number`},
			{"an exponent", q, `{"first": 1e2}`, `variable $first: Int cannot represent 1e2: write an Int without a fraction or exponent`},
			{"past float64", q, `{"first": 1e400}`, `variable $first: Int cannot represent 1e400: write an Int without a fraction or exponent`},
			{"2^63", q, `{"first": 9223372036854775808}`, `variable $first: Int cannot represent 9223372036854775808: not in the 32-bit range`},
			{"a Boolean", q, `{"first": true}`, `variable $first: Int cannot represent true: not a number`},
			{"in a list", `query($ids: [ID!], $first: [Int]) { tasks(first: 1) { totalCount } }`, `{"first": [1, "2"]}`, `variable $first: Int cannot represent "2": a string is not an Int`},
			{"a literal over 32 bits", `{ tasks(first: 3000000000) { totalCount } }`, `{}`, `Int cannot represent 3000000000: not in the 32-bit range`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := a.raw("POST", "/query", strings.NewReader(`{"query": `+quote(tc.query)+`, "variables": `+tc.vars+`}`), header(alice, "application/json"))
				e := res.onlyError(t)
				if e.code() != gqlerr.BadUserInput || e.Message != tc.want || e.Extensions["field"] != "first" {
					t.Errorf("got %s, want BAD_USER_INPUT %q", res.Body, tc.want)
				}
			})
		}
		for _, v := range []string{`1.5`, `1.0`, `1e2`, `1e400`, `9223372036854775808`, `true`} {
			t.Run("named in the message: "+v, func(t *testing.T) {
				res := a.raw("POST", "/query", strings.NewReader(`{"query": `+quote(q)+`, "variables": {"first": `+v+`}}`), header(alice, "application/json"))
				if e := res.onlyError(t); e.code() != gqlerr.BadUserInput || !strings.Contains(e.Message, v) || res.Data != nil {
					t.Errorf("got %s", res.Body)
				}
			})
		}
		t.Run("a Boolean variable", func(t *testing.T) {
			res := a.raw("POST", "/query", strings.NewReader(`{"query": "query($c: Boolean) { tasks(where: {isCompleted: $c}) { totalCount } }", "variables": {"c": "true"}}`), header(alice, "application/json"))
			if e := res.onlyError(t); e.code() != gqlerr.BadUserInput || e.Extensions["field"] != "c" {
				t.Errorf("got %s", res.Body)
			}
		})
	})
}

// quote is s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pages walks the tasks in order o, size at a time, and returns their ids
// in order. Each page's cursors must name o, and pageInfo's must be its
// first and last edges' cursors.
func (a *api) pages(t *testing.T, tok string, o order, size int, backward bool) []string {
	t.Helper()
	vars := o.vars(map[string]any{"first": size})
	if backward {
		vars = o.vars(map[string]any{"last": size})
	}
	var all []string
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatal("paging does not end")
		}
		c := a.list(t, tok, vars)
		checkCursors(t, c, o.position())
		if backward {
			all = append(edgeIDs(c), all...)
		} else {
			all = append(all, edgeIDs(c)...)
		}
		switch {
		case !backward && c.PageInfo.HasNextPage:
			vars["after"] = *c.PageInfo.EndCursor
		case backward && c.PageInfo.HasPreviousPage:
			vars["before"] = *c.PageInfo.StartCursor
		default:
			return all
		}
	}
}

func checkCursors(t *testing.T, c connection, want order) {
	t.Helper()
	if len(c.Edges) == 0 {
		return
	}
	if *c.PageInfo.StartCursor != c.Edges[0].Cursor || *c.PageInfo.EndCursor != c.Edges[len(c.Edges)-1].Cursor {
		t.Errorf("pageInfo cursors %s, %s are not the first and last edges' %s, %s",
			*c.PageInfo.StartCursor, *c.PageInfo.EndCursor, c.Edges[0].Cursor, c.Edges[len(c.Edges)-1].Cursor)
	}
	for _, e := range c.Edges {
		cur, err := scalar.UnmarshalCursor(e.Cursor)
		if err != nil {
			t.Fatalf("cursor %s: %v", e.Cursor, err)
		}
		p := cur.Value.(*scalar.Position)
		if cur.ID.String() != e.Node.ID || p.Field != want.field || p.Direction != want.dir {
			t.Errorf("cursor %s of task %s says %s %s %s", e.Cursor, e.Node.ID, cur.ID, p.Field, p.Direction)
		}
	}
}

func edgeIDs(c connection) []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.ID
	}
	return out
}

// forgedCursor is the cursor that made the msgpack decoder allocate about
// 80 MB per level: a map holding "v", then levels maps that each declare a
// million entries and hold one, under an empty key.
func forgedCursor(levels int) string {
	b := []byte{0x81, 0xa1, 'v'}
	for range levels {
		b = append(b, 0xdf, 0x00, 0x0f, 0x42, 0x40, 0xa0)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// allocatedBytes is what the process allocates while f runs: the client,
// the server and anything else running.
func allocatedBytes(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}
