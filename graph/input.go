package graph

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/taskapi/server/ent"
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

// Bounds on the shape of a where input: SQLite refuses expressions nested
// too deep, and no one lists more. MaxInputValues bounds the total.
const (
	MaxWhereDepth = 10
	MaxWhereList  = 100
)

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
		if f.Kind() != reflect.Slice || f.Len() <= MaxWhereList {
			continue
		}
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		return gqlerr.BadInput(name, fmt.Sprintf("%s may hold at most %d entries", name, MaxWhereList))
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
