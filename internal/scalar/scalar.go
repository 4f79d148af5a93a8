// Package scalar marshals the custom GraphQL scalars. A value a client sends
// that does not parse is refused as BAD_USER_INPUT, never as an internal
// error.
package scalar

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/taskapi/server/internal/gqlerr"
)

// MarshalID writes a UUID as a GraphQL ID.
func MarshalID(id uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(id.String()))
	})
}

// UnmarshalID reads a GraphQL ID, which must be a UUID.
func UnmarshalID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, gqlerr.BadInput("id", fmt.Sprintf("ID must be a string, got %T", v))
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, gqlerr.BadInput("id", "ID is not a valid id")
	}
	return id, nil
}

// MarshalTime writes a time in RFC 3339, in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, gqlerr.BadInput("time", fmt.Sprintf("Time must be an RFC 3339 string, got %T", v))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, gqlerr.BadInput("time", fmt.Sprintf("Time %q is not RFC 3339", s))
	}
	// UTC, so SQLite, which compares times as text, orders them right.
	return t.UTC(), nil
}

// Cursor is the opaque position of an edge in a connection.
type Cursor = entgql.Cursor[uuid.UUID]

// MarshalCursor writes a cursor.
func MarshalCursor(c Cursor) graphql.Marshaler {
	return c
}

// UnmarshalCursor reads a cursor that this server wrote.
func UnmarshalCursor(v any) (Cursor, error) {
	var c Cursor
	if err := c.UnmarshalGQL(v); err != nil {
		return Cursor{}, gqlerr.BadInput("cursor", "cursor is not valid: use a cursor from a previous page")
	}
	return c, nil
}
