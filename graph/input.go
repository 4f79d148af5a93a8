package graph

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/taskapi/server/ent"
	"github.com/taskapi/server/ent/schema"
	"github.com/taskapi/server/internal/gqlerr"
	"github.com/taskapi/server/internal/scalar"
)

// pageSize checks first and last and gives a page of DefaultPageSize when
// neither is set, so no request lists a user's whole table.
func pageSize(first, last *int) (*int, *int, error) {
	check := func(name string, n *int) error {
		switch {
		case n == nil:
			return nil
		case *n < 0:
			return gqlerr.BadInput(name, fmt.Sprintf("%s must not be negative", name))
		case *n > MaxPageSize:
			return gqlerr.BadInput(name, fmt.Sprintf("%s must be at most %d", name, MaxPageSize))
		}
		return nil
	}
	if first != nil && last != nil {
		return nil, nil, gqlerr.BadInput("last", "first and last cannot be used together")
	}
	if err := check("first", first); err != nil {
		return nil, nil, err
	}
	if err := check("last", last); err != nil {
		return nil, nil, err
	}
	if first == nil && last == nil {
		n := DefaultPageSize
		first = &n
	}
	return first, last, nil
}

// filterTextMax is the longest text, in characters, that a string filter on
// each field may hold: no stored value is longer, so a longer filter could
// only be a way to make the database work (SQLite refuses LIKE patterns
// over 50,000 bytes; 2,000 characters are at most 16,000 escaped).
var filterTextMax = map[string]int{
	"title":       schema.TitleMaxLen,
	"description": schema.DescriptionMaxLen,
}

// checkFilterText refuses a string filter (or any entry of a list of them)
// longer than its field's values can be.
func checkFilterText(name string, f reflect.Value) error {
	var field string
	for prefix := range filterTextMax {
		if strings.HasPrefix(name, prefix) {
			field = prefix
		}
	}
	if field == "" {
		return nil
	}
	limit := filterTextMax[field]
	tooLong := func(s string) bool { return len(s) > limit && utf8.RuneCountInString(s) > limit }
	switch {
	case f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.String:
		if tooLong(f.Elem().String()) {
			return gqlerr.BadInput(name, fmt.Sprintf("%s may hold at most %d characters: no %s is longer", name, limit, field))
		}
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		for j := range f.Len() {
			if tooLong(f.Index(j).String()) {
				return gqlerr.BadInput(name, fmt.Sprintf("each entry of %s may hold at most %d characters: no %s is longer", name, limit, field))
			}
		}
	}
	return nil
}

// checkWhere bounds the nesting of not/and/or and the length of every
// list in a where input, and refuses an empty filter object inside one.
func checkWhere(w *ent.TaskWhereInput) error {
	if w == nil {
		return nil
	}
	// A top-level empty filter is no filter; a nested one ({not: {}},
	// {or: [{}]}) comes back wrapped, which errors.Is would also match.
	if _, err := w.P(); err != nil && err != ent.ErrEmptyTaskWhereInput {
		return gqlerr.BadInput("where", "where holds a filter with no condition inside not, and or or")
	}
	return checkWhereAt(w, 1)
}

func checkWhereAt(w *ent.TaskWhereInput, depth int) error {
	if depth > MaxWhereDepth {
		return gqlerr.BadInput("where", fmt.Sprintf("where nests not, and and or deeper than %d", MaxWhereDepth))
	}
	v := reflect.ValueOf(w).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if f.Kind() == reflect.Slice && f.Len() > MaxWhereList {
			return gqlerr.BadInput(name, fmt.Sprintf("%s may hold at most %d entries", name, MaxWhereList))
		}
		if err := checkFilterText(name, f); err != nil {
			return err
		}
	}
	children := append(slices.Clone(w.And), w.Or...)
	if w.Not != nil {
		children = append(children, w.Not)
	}
	for _, c := range children {
		if err := checkWhereAt(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkCursor refuses a cursor written for another order (field or
// direction) and gives back the cursor Paginate expects: the row's raw
// value of the order's field, without the order around it.
func checkCursor(name string, c *scalar.Cursor, order *ent.TaskOrder) (*scalar.Cursor, error) {
	if c == nil {
		return nil, nil
	}
	p, ok := c.Value.(*scalar.Position)
	if !ok || p.Field != order.Field.String() || p.Direction != order.Direction {
		return nil, gqlerr.BadInput(name, "the cursor belongs to another order: use a cursor from a page in the same order")
	}
	return &scalar.Cursor{ID: c.ID, Value: p.Value}, nil
}
