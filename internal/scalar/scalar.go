// Package scalar marshals the GraphQL scalars whose input this API checks
// itself. A value a client sends that does not parse is refused as
// BAD_USER_INPUT, never as an internal error. Errors leave extensions.field
// empty: the presenter names the argument from the error's path.
package scalar

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/taskapi/server/internal/gqlerr"
)

// MarshalString writes a string.
func MarshalString(s string) graphql.Marshaler {
	return graphql.MarshalString(s)
}

// UnmarshalString reads a String, refusing text that PostgreSQL cannot
// store or compare: invalid UTF-8 and U+0000.
func UnmarshalString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", gqlerr.BadInput("", "expected a string")
	}
	if err := checkText(s); err != nil {
		return "", err
	}
	return s, nil
}

func checkText(s string) error {
	switch {
	case !utf8.ValidString(s):
		return gqlerr.BadInput("", "text must be valid UTF-8")
	case strings.ContainsRune(s, 0):
		return gqlerr.BadInput("", "text must not contain NUL characters")
	}
	return nil
}

// MarshalID writes a UUID as a GraphQL ID.
func MarshalID(id uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		// A UUID's text needs no escaping: one buffer, no string copies.
		var b [38]byte
		b[0], b[37] = '"', '"'
		hex.Encode(b[1:9], id[0:4])
		b[9] = '-'
		hex.Encode(b[10:14], id[4:6])
		b[14] = '-'
		hex.Encode(b[15:19], id[6:8])
		b[19] = '-'
		hex.Encode(b[20:24], id[8:10])
		b[24] = '-'
		hex.Encode(b[25:37], id[10:16])
		_, _ = w.Write(b[:])
	})
}

// UnmarshalID reads a GraphQL ID, which must be a UUID in its usual form.
func UnmarshalID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, gqlerr.BadInput("", "an ID must be a string")
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, gqlerr.BadInput("", "not a valid ID")
	}
	return id, nil
}

// MarshalTime writes a time in RFC 3339, in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		// RFC 3339 text needs no escaping.
		var b [48]byte
		out := append(t.UTC().AppendFormat(append(b[:0], '"'), time.RFC3339Nano), '"')
		_, _ = w.Write(out)
	})
}

// UnmarshalTime reads an RFC 3339 time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, gqlerr.BadInput("", "a Time must be an RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, gqlerr.BadInput("", fmt.Sprintf("%q is not an RFC 3339 time", s))
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

// errCursor is the one answer for any cursor this server did not write.
func errCursor() error {
	return gqlerr.BadInput("", "not a valid cursor: use a cursor from a previous page")
}

// UnmarshalCursor reads a cursor that this server wrote. Its value is the
// position in the order: a time or a title. Whether it fits the order
// asked for is checked where the order is known.
func UnmarshalCursor(v any) (Cursor, error) {
	var c Cursor
	if err := c.UnmarshalGQL(v); err != nil {
		return Cursor{}, errCursor()
	}
	switch val := c.Value.(type) {
	case time.Time:
		if y := val.Year(); y < 1 || y > 9999 {
			return Cursor{}, errCursor() // no row was written then; PostgreSQL refuses it
		}
		// msgpack decodes in the local zone; SQLite compares times as text.
		c.Value = val.UTC()
	case string:
		if checkText(val) != nil {
			return Cursor{}, errCursor()
		}
	default:
		return Cursor{}, errCursor()
	}
	return c, nil
}
