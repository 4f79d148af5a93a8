package graph

import (
	"fmt"

	"github.com/taskapi/server/internal/gqlerr"
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
