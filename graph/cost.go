package graph

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// cost is what an operation may ask of the server: each field 1 and what
// it selects, a connection's edges and nodes times its page size, a list
// looked up by ids times their number, and StatementCost for each SQL
// statement (a root field, a totalCount). __typename is free. The shape
// limits have already bounded the walk: it expands fragments as it goes.
func cost(op *ast.OperationDefinition, vars map[string]any) int {
	c := coster{vars: vars}
	return c.set(op.SelectionSet, 0)
}

type coster struct{ vars map[string]any }

// set weighs a selection set; page is the page size of the connection it
// belongs to, 0 when it is no connection.
func (c coster) set(set ast.SelectionSet, page int) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n = satAdd(n, c.field(s, page))
		case *ast.InlineFragment:
			n = satAdd(n, c.set(s.SelectionSet, page))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n = satAdd(n, c.set(s.Definition.SelectionSet, page))
			}
		}
	}
	return n
}

func (c coster) field(f *ast.Field, page int) int {
	if strings.HasPrefix(f.Name, "__") {
		if f.Name == "__typename" {
			return 0
		}
		return 1 + c.set(f.SelectionSet, 0) // the schema: no SQL, no pages
	}
	inner := 0
	if isConnection(f) {
		inner = c.set(f.SelectionSet, c.pageSize(f))
	} else {
		inner = c.set(f.SelectionSet, 0)
	}
	n := 1 + inner
	switch {
	case page > 0 && (f.Name == "edges" || f.Name == "nodes"):
		n = satMul(n, page)
	case f.Definition != nil && f.Definition.Type.Elem != nil && f.Arguments.ForName("ids") != nil:
		n = satMul(n, max(c.listLen(f.Arguments.ForName("ids").Value), 1))
	}
	if isRoot(f) || page > 0 && f.Name == "totalCount" {
		n = satAdd(n, StatementCost)
	}
	return n
}

// isConnection reports whether f returns a Relay connection: a page of
// edges whose size first or last sets.
func isConnection(f *ast.Field) bool {
	return f.Definition != nil && f.Definition.Type.Elem == nil &&
		strings.HasSuffix(f.Definition.Type.NamedType, "Connection") &&
		f.Definition.Arguments.ForName("first") != nil
}

func isRoot(f *ast.Field) bool {
	if f.ObjectDefinition == nil {
		return false
	}
	switch f.ObjectDefinition.Name {
	case "Query", "Mutation", "Subscription":
		return true
	}
	return false
}

// pageSize is the page a connection field asks for: first or last, else
// the default. A size the resolver will refuse counts as the largest page.
func (c coster) pageSize(f *ast.Field) int {
	for _, name := range [...]string{"first", "last"} {
		a := f.Arguments.ForName(name)
		if a == nil {
			continue
		}
		n, ok := c.intValue(a.Value)
		if !ok {
			continue // null: not set
		}
		if n < 0 || n > MaxPageSize {
			return MaxPageSize
		}
		return n
	}
	return DefaultPageSize
}

// intValue reads an Int argument, written or from a variable; ok is false
// for null or absent.
func (c coster) intValue(v *ast.Value) (int, bool) {
	var x any
	switch v.Kind {
	case ast.Variable:
		x = c.vars[v.Raw]
	case ast.IntValue:
		x = v.Raw
	default:
		return 0, false
	}
	var s string
	switch t := x.(type) {
	case nil:
		return 0, false
	case string:
		s = t
	case json.Number:
		s = string(t)
	case int:
		return t, true
	case int64:
		return int(max(min(t, sat), -sat)), true
	default:
		return MaxPageSize, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return MaxPageSize, true
	}
	return int(max(min(n, sat), -sat)), true
}

// listLen is the length of a list argument, written or from a variable.
func (c coster) listLen(v *ast.Value) int {
	switch v.Kind {
	case ast.ListValue:
		return len(v.Children)
	case ast.Variable:
		if l, ok := c.vars[v.Raw].([]any); ok {
			return len(l)
		}
	}
	return 1
}

// weigh is what a variable's value holds.
func weigh(v any) weight {
	switch x := v.(type) {
	case nil:
		return weight{values: 1}
	case string:
		return weight{bytes: len(x), values: 1}
	case []any:
		w := weight{values: 1}
		for _, e := range x {
			w = w.plus(weigh(e))
		}
		return w
	case map[string]any:
		w := weight{values: 1}
		for k, e := range x {
			w = w.plus(weigh(e))
			w.bytes = satAdd(w.bytes, len(k))
		}
		return w
	case json.Number:
		return weight{bytes: len(x), values: 1}
	}
	return weight{bytes: 8, values: 1}
}
