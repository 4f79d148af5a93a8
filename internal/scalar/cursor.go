package scalar

import (
	"encoding/base64"
	"encoding/binary"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/taskapi/server/ent/schema"
	"github.com/taskapi/server/internal/gqlerr"
)

// Cursor is the opaque position of an edge in a connection. Between the
// Tasks resolver and the client its Value is a *Position.
type Cursor = entgql.Cursor[uuid.UUID]

// Position is what a cursor holds: the order it was written for and the
// row's value of that order's field. The resolver wraps ent's raw value
// (a time.Time or a title) after Paginate and unwraps it before, so a cursor
// from one order is refused in another.
type Position struct {
	Field     string                // CREATED_AT, UPDATED_AT or TITLE
	Direction entgql.OrderDirection // ASC or DESC
	Value     any                   // time.Time (UTC) for the times, string for TITLE
}

// A cursor is base64url (no padding) of:
//
//	[0]      cursorVersion
//	[1]      the order field, an index into cursorFields
//	[2]      the direction: 0 ASC, 1 DESC
//	[3:19]   the row's id
//	[19:]    CREATED_AT, UPDATED_AT: int64 Unix seconds, uint32 nanoseconds
//	         TITLE: uint16 byte length, then that many bytes of UTF-8
//
// big-endian. Every length is fixed or checked against the bytes that are
// there before anything is allocated, and only one text decodes to a given
// cursor, so a cursor read back is written again byte for byte.
const (
	cursorVersion   = 1
	cursorHeaderLen = 3 + 16
	cursorTimeLen   = cursorHeaderLen + 8 + 4
	maxTitleBytes   = schema.TitleMaxLen * utf8.UTFMax
	maxCursorBytes  = cursorHeaderLen + 2 + maxTitleBytes
)

// MaxCursorLen bounds the text of a cursor the server reads. The longest it
// writes is a TITLE cursor of 200 four-byte characters, 821 bytes or 1095
// characters of base64 (a time cursor is 42); the cap leaves room for a
// later version of the format and is checked before any decoding.
const MaxCursorLen = 2048

// cursorFields are the orders a cursor can name, by their byte in the format.
var cursorFields = [...]struct {
	name  string
	title bool // the value is a title, else a time
}{
	1: {"CREATED_AT", false},
	2: {"UPDATED_AT", false},
	3: {"TITLE", true},
}

// Times a cursor can hold: years 1 to 9999, which RFC 3339 can write. No
// row holds another.
var (
	minCursorTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxCursorTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - 1
)

var cursorEncoding = base64.RawURLEncoding.Strict()

// MarshalCursor writes a cursor whose Value is a *Position. Any other
// cursor, which no resolver of this server makes, is written as "", which
// no page accepts, rather than as null on a non-null field.
func MarshalCursor(c Cursor) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var raw [maxCursorBytes]byte
		b, ok := appendCursor(raw[:0], c)
		if !ok {
			_, _ = io.WriteString(w, `""`)
			return
		}
		// base64url needs no JSON escaping.
		out := make([]byte, cursorEncoding.EncodedLen(len(b))+2)
		out[0], out[len(out)-1] = '"', '"'
		cursorEncoding.Encode(out[1:len(out)-1], b)
		_, _ = w.Write(out)
	})
}

// appendCursor appends c in the binary format, or reports false when c is
// not a cursor the server could read back.
func appendCursor(b []byte, c Cursor) ([]byte, bool) {
	p, ok := c.Value.(*Position)
	if !ok {
		return b, false
	}
	field := fieldByte(p.Field)
	if field == 0 {
		return b, false
	}
	var dir byte
	switch p.Direction {
	case entgql.OrderDirectionAsc:
	case entgql.OrderDirectionDesc:
		dir = 1
	default:
		return b, false
	}
	b = append(b, cursorVersion, field, dir)
	b = append(b, c.ID[:]...)
	if cursorFields[field].title {
		s, ok := p.Value.(string)
		if !ok || !validTitle(s) {
			return b, false
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		return append(b, s...), true
	}
	t, ok := p.Value.(time.Time)
	if !ok || t.Unix() < minCursorTime || t.Unix() > maxCursorTime {
		return b, false
	}
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond())), true
}

func fieldByte(name string) byte {
	for i, f := range cursorFields {
		if i > 0 && f.name == name {
			return byte(i)
		}
	}
	return 0
}

// validTitle is what the title field takes: at most TitleMaxLen characters
// of UTF-8 without U+0000. The byte bound comes first, so nothing longer
// is scanned.
func validTitle(s string) bool {
	return len(s) <= maxTitleBytes && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 &&
		utf8.RuneCountInString(s) <= schema.TitleMaxLen
}

// errCursor is the one answer for any cursor this server did not write.
func errCursor() error {
	return gqlerr.BadInput("", "not a valid cursor: use a cursor from a previous page")
}

// UnmarshalCursor reads a cursor that this server wrote. Its Value is a
// *Position; whether the position fits the order asked for is checked
// where the order is known. The text is bounded by MaxCursorLen and decoded
// on the stack; what is allocated is the result, a title at most.
func UnmarshalCursor(v any) (Cursor, error) {
	s, ok := v.(string)
	if !ok || len(s) > MaxCursorLen {
		return Cursor{}, errCursor()
	}
	var text [MaxCursorLen]byte
	var raw [MaxCursorLen * 3 / 4]byte
	n, err := cursorEncoding.Decode(raw[:], text[:copy(text[:], s)])
	// The decoder skips line breaks: the length check refuses them, so one
	// cursor has one text.
	if err != nil || cursorEncoding.EncodedLen(n) != len(s) {
		return Cursor{}, errCursor()
	}
	b := raw[:n]
	if len(b) < cursorHeaderLen || b[0] != cursorVersion ||
		int(b[1]) >= len(cursorFields) || b[1] == 0 || b[2] > 1 {
		return Cursor{}, errCursor()
	}
	f := cursorFields[b[1]]
	p := Position{Field: f.name, Direction: entgql.OrderDirectionAsc}
	if b[2] == 1 {
		p.Direction = entgql.OrderDirectionDesc
	}
	id := uuid.UUID(b[3:cursorHeaderLen])
	rest := b[cursorHeaderLen:]
	if f.title {
		if len(rest) < 2 || int(binary.BigEndian.Uint16(rest)) != len(rest)-2 || len(rest)-2 > maxTitleBytes {
			return Cursor{}, errCursor()
		}
		title := string(rest[2:])
		if !validTitle(title) {
			return Cursor{}, errCursor()
		}
		p.Value = title
	} else {
		if len(b) != cursorTimeLen {
			return Cursor{}, errCursor()
		}
		sec, nsec := int64(binary.BigEndian.Uint64(rest)), binary.BigEndian.Uint32(rest[8:])
		if sec < minCursorTime || sec > maxCursorTime || nsec >= 1e9 {
			return Cursor{}, errCursor() // no row was written then
		}
		// UTC: SQLite compares times as text.
		p.Value = time.Unix(sec, int64(nsec)).UTC()
	}
	return Cursor{ID: id, Value: &p}, nil
}
