package graph

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/taskapi/server/ent/schema"
)

// estimate is what an operation may ask of the server, worked out from
// the document before anything runs.
type estimate struct {
	// cost: each field 1 and what it selects, a connection's edges and
	// nodes times its page size, a list looked up by ids times their
	// number, StatementCost for each SQL statement (a root field, a
	// totalCount, a count) and ScanCost more for a statement that may read
	// all of the caller's rows (a count: its share of ScanCost, atMost of
	// MaxCountUpTo). __typename is free.
	cost int
	// bytes bounds the JSON of the answer's data: each value at the most
	// its type can take (a description of 2,000 characters that all need
	// escaping, say), times the rows it is repeated on.
	bytes int
}

func (e estimate) plus(o estimate) estimate {
	return estimate{satAdd(e.cost, o.cost), satAdd(e.bytes, o.bytes)}
}

func (e estimate) times(k int) estimate {
	return estimate{satMul(e.cost, k), satMul(e.bytes, k)}
}

// estimateOf walks op. The shape limits have already bounded the walk: it
// expands fragments as it goes.
func estimateOf(op *ast.OperationDefinition, vars map[string]any) estimate {
	c := coster{vars: vars}
	return c.set(op.SelectionSet, noConnection).plus(estimate{bytes: len(`{}`)})
}

type coster struct {
	vars map[string]any
	// filtered: the connection being walked has a filter or order that no
	// index serves, so a count of it may read every row the caller owns.
	filtered bool
}

// noConnection is set's page for a selection set that belongs to no
// connection; a connection's page may be 0 (first: 0) and still count.
const noConnection = -1

// set weighs a selection set; page is the page size of the connection it
// belongs to, noConnection when it is none.
func (c coster) set(set ast.SelectionSet, page int) estimate {
	var n estimate
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			n = n.plus(c.field(s, page))
		case *ast.InlineFragment:
			n = n.plus(c.set(s.SelectionSet, page))
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n = n.plus(c.set(s.Definition.SelectionSet, page))
			}
		}
	}
	return n
}

func (c coster) field(f *ast.Field, page int) estimate {
	key := len(f.Alias) + len(`"":,`)
	if strings.HasPrefix(f.Name, "__") {
		if f.Name == "__typename" {
			return estimate{bytes: key + maxTypeName}
		}
		// The schema: no SQL, no pages, and lists as long as it is.
		inner := c.set(f.SelectionSet, noConnection)
		return estimate{1 + inner.cost, key + valueBytes(f) + inner.bytes}
	}
	var inner estimate
	if isConnection(f) {
		cc := c
		cc.filtered = c.scanCost(f) > 0
		inner = cc.set(f.SelectionSet, c.pageSize(f))
	} else {
		cc := c
		cc.filtered = false
		inner = cc.set(f.SelectionSet, noConnection)
	}
	n := estimate{1 + inner.cost, valueBytes(f) + inner.bytes}
	switch {
	case page >= 0 && (f.Name == "edges" || f.Name == "nodes"):
		n = n.times(page)
	case f.Definition != nil && f.Definition.Type.Elem != nil && f.Arguments.ForName("ids") != nil:
		n = n.times(max(c.listLen(f.Arguments.ForName("ids").Value), 1))
	}
	n.bytes = satAdd(n.bytes, key)
	// A count runs whatever the page size, first: 0 included.
	counts := page >= 0 && (f.Name == "totalCount" || f.Name == "count")
	if isRoot(f) || counts {
		n.cost = satAdd(n.cost, StatementCost)
	}
	if isRoot(f) && isConnection(f) {
		n.cost = satAdd(n.cost, c.scanCost(f))
	}
	if counts && f.Name == "totalCount" {
		n.cost = satAdd(n.cost, ScanCost) // counts every row that matches
	}
	if counts && f.Name == "count" {
		n.cost = satAdd(n.cost, c.countCost(f))
	}
	return n
}

// countCost is what a count(atMost:) reads beyond its statement: the share
// of a full scan its bucket of ids is (rounded up), or a full scan when the
// connection's filter is one no index serves, since matches may then be
// anywhere among the caller's rows.
func (c coster) countCost(f *ast.Field) int {
	if c.filtered {
		return ScanCost
	}
	atMost := DefaultCountUpTo
	if a := f.Arguments.ForName("atMost"); a != nil {
		if v, ok := c.intValue(a.Value); ok {
			atMost = min(max(v, 1), MaxCountUpTo)
		}
	}
	return (ScanCost*CountBucket(atMost) + MaxCountUpTo - 1) / MaxCountUpTo
}

// DefaultCountUpTo is TaskConnection.count's default atMost.
const DefaultCountUpTo = 1000

// maxTypeName bounds a __typename's JSON.
const maxTypeName = 64

// valueBytes bounds the JSON of one value of f: a leaf's text at its
// longest (every character escaped as \u00XX for text), or an object's or
// list's brackets.
func valueBytes(f *ast.Field) int {
	if f.Definition == nil {
		return 0
	}
	t := f.Definition.Type
	if t.Elem != nil || len(f.SelectionSet) > 0 {
		return len(`[]`)
	}
	if f.ObjectDefinition != nil {
		if n, ok := textFieldRunes[f.ObjectDefinition.Name+"."+f.Name]; ok {
			return 2 + 6*n // each character at worst "\u0001"
		}
	}
	if n, ok := scalarBytes[t.NamedType]; ok {
		return n
	}
	return 256 // another String or enum: the schema's own names and descriptions
}

// textFieldRunes are the text fields whose length the schema bounds.
var textFieldRunes = map[string]int{
	"Task.title":       schema.TitleMaxLen,
	"Task.description": schema.DescriptionMaxLen,
}

// scalarBytes bound the JSON of the fixed-size scalars.
var scalarBytes = map[string]int{
	"ID":      len(`"00000000-0000-0000-0000-000000000000"`),
	"Time":    len(`"2006-01-02T15:04:05.999999999Z"`),
	"Boolean": len(`false`),
	"Int":     len(`-2147483648`),
	"Float":   24,
	"Cursor":  2 + maxCursorWritten,
}

// maxCursorWritten is the longest cursor the server writes: one for a
// title of 200 four-byte characters (scalar.MaxCursorLen bounds what it
// reads, with room to spare).
const maxCursorWritten = 1100

// scanCost is what a connection's filter and order add: a condition or an
// order no index serves may read every row the caller owns.
func (c coster) scanCost(f *ast.Field) int {
	n := 0
	if a := f.Arguments.ForName("where"); a != nil && a.Value != nil {
		n = c.filterCost(a.Value, 0)
	}
	if a := f.Arguments.ForName("orderBy"); a != nil && a.Value != nil && !c.defaultOrder(a.Value) {
		n = satAdd(n, ScanCost)
	}
	return n
}

// filterCost weighs a where input: ScanCost for each condition an index
// does not serve, since each may be tested against every row the caller
// owns (95 conditions in an or were 95 passes over them). Conditions on id
// (the primary key) and createdAt (the listing index) cost nothing more.
func (c coster) filterCost(v *ast.Value, depth int) int {
	if depth > MaxWhereDepth+1 {
		return 0 // the resolver refuses it
	}
	switch v.Kind {
	case ast.Variable:
		return filterValueCost(c.vars[v.Raw], depth)
	case ast.ListValue:
		n := 0
		for _, ch := range v.Children {
			n = satAdd(n, c.filterCost(ch.Value, depth+1))
		}
		return n
	case ast.ObjectValue:
		n := 0
		for _, ch := range v.Children {
			if isLogical(ch.Name) {
				n = satAdd(n, c.filterCost(ch.Value, depth+1))
			} else if !isIndexed(ch.Name) {
				n = satAdd(n, ScanCost)
			}
		}
		return n
	}
	return 0
}

// filterValueCost is filterCost over a variable's value.
func filterValueCost(v any, depth int) int {
	if depth > MaxWhereDepth+1 {
		return 0
	}
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if isLogical(k) {
				n = satAdd(n, filterValueCost(e, depth+1))
			} else if !isIndexed(k) {
				n = satAdd(n, ScanCost)
			}
		}
	case []any:
		for _, e := range x {
			n = satAdd(n, filterValueCost(e, depth+1))
		}
	}
	return n
}

// isLogical names where's and, or and not, which hold conditions.
func isLogical(name string) bool { return name == "and" || name == "or" || name == "not" }

// isIndexed names the conditions an index serves.
func isIndexed(name string) bool {
	return strings.HasPrefix(name, "id") || strings.HasPrefix(name, "createdAt")
}

// defaultOrder reports whether an orderBy is served by the listing index:
// CREATED_AT, either way.
func (c coster) defaultOrder(v *ast.Value) bool {
	var field any
	switch v.Kind {
	case ast.Variable:
		m, _ := c.vars[v.Raw].(map[string]any)
		field = m["field"]
	case ast.ObjectValue:
		if ch := v.Children.ForName("field"); ch != nil {
			field = ch.Raw
		}
	case ast.NullValue:
		return true
	}
	return field == nil || field == "CREATED_AT"
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
