// Package scalar marshals the GraphQL scalars whose input this API checks
// itself. A value a client sends that does not parse is refused as
// BAD_USER_INPUT, never as an internal error. Errors leave extensions.field
// empty: the presenter names the argument from the error's path.
package scalar

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
func MarshalID(id uuid.UUID) graphql.Marshaler { return idValue(id) }

type idValue uuid.UUID

// MarshalGQL writes the UUID's text, which needs no escaping, into the
// writer's own buffer when it has one (the response's bytes.Buffer).
func (id idValue) MarshalGQL(w io.Writer) {
	b := append(room(w), '"')
	b = hex.AppendEncode(b, id[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[10:16])
	_, _ = w.Write(append(b, '"'))
}

// room is the writer's unused buffer to append to and then Write, which
// bytes.Buffer and bufio.Writer take without a copy; else a new slice.
func room(w io.Writer) []byte {
	if ab, ok := w.(interface{ AvailableBuffer() []byte }); ok {
		return ab.AvailableBuffer()
	}
	return make([]byte, 0, 48)
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
func MarshalTime(t time.Time) graphql.Marshaler { return timeValue(t) }

type timeValue time.Time

// MarshalGQL writes RFC 3339 text, which needs no escaping.
func (t timeValue) MarshalGQL(w io.Writer) {
	b := time.Time(t).UTC().AppendFormat(append(room(w), '"'), time.RFC3339Nano)
	_, _ = w.Write(append(b, '"'))
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

// MarshalInt writes an Int, as gqlgen does.
func MarshalInt(i int) graphql.Marshaler {
	return graphql.MarshalInt(i)
}

// UnmarshalInt reads an Int as the GraphQL spec coerces one: a whole number
// from -2^31 to 2^31-1. Variables arrive as json.Number (the transport keeps
// numbers as sent), literals as int64. A JSON number with a fraction or an
// exponent is refused even when whole (1.0, 1e2), and so are digits in a
// string; a float64, which JSON decoded without UseNumber gives for any
// number, counts when it is whole.
func UnmarshalInt(v any) (int, error) {
	switch x := v.(type) {
	case json.Number:
		return intFromJSON(string(x))
	case int64:
		return intInRange(x, v)
	case int:
		return intInRange(int64(x), v)
	case int32:
		return int(x), nil
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return 0, errInt(v, "not a number")
		case x != math.Trunc(x):
			return 0, errInt(v, "not a whole number")
		case x < math.MinInt32 || x > math.MaxInt32:
			return 0, errInt(v, "not in the 32-bit range")
		}
		return int(x), nil
	case string:
		return 0, errInt(v, "a string is not an Int")
	}
	return 0, errInt(v, "not a number")
}

func intInRange(n int64, v any) (int, error) {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, errInt(v, "not in the 32-bit range")
	}
	return int(n), nil
}

// intFromJSON reads the text of a JSON number. Its length is bounded by the
// request body; nothing is allocated for it unless it is refused, and then
// only its first few bytes are quoted.
func intFromJSON(s string) (int, error) {
	intPart, frac, exp, ok := splitJSONNumber(s)
	switch {
	case !ok:
		return 0, errInt(json.Number(s), "not a number")
	case exp == "" && strings.Trim(frac, "0") != "":
		return 0, errInt(json.Number(s), "not a whole number")
	case frac != "" || exp != "":
		return 0, errInt(json.Number(s), "write an Int without a fraction or exponent")
	case len(strings.TrimPrefix(intPart, "-")) > 10: // more digits than 2^31
		return 0, errInt(json.Number(s), "not in the 32-bit range")
	}
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return 0, errInt(json.Number(s), "not a number")
	}
	return intInRange(n, json.Number(s))
}

// splitJSONNumber splits s, if it is a JSON number, into its integer part
// (sign included) and the digits of its fraction and exponent (sign
// included), without the dot and the e.
func splitJSONNumber(s string) (intPart, frac, exp string, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digitsEnd(s, i)
	default:
		return "", "", "", false
	}
	intPart = s[:i]
	if i < len(s) && s[i] == '.' {
		j := digitsEnd(s, i+1)
		if j == i+1 {
			return "", "", "", false
		}
		frac, i = s[i+1:j], j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		k := i + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		j := digitsEnd(s, k)
		if j == k {
			return "", "", "", false
		}
		exp, i = s[i+1:j], j
	}
	return intPart, frac, exp, i == len(s)
}

func digitsEnd(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func errInt(v any, why string) error {
	return gqlerr.BadInput("", fmt.Sprintf("Int cannot represent %s: %s", describe(v), why))
}

// MarshalBoolean writes a Boolean. gqlgen's true and false are written
// without allocating.
func MarshalBoolean(b bool) graphql.Marshaler {
	if b {
		return graphql.True
	}
	return graphql.False
}

// UnmarshalBoolean reads a Boolean: true or false, nothing that looks
// like one.
func UnmarshalBoolean(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, gqlerr.BadInput("", fmt.Sprintf("Boolean cannot represent %s: only true and false are Booleans", describe(v)))
	}
	return b, nil
}

// maxQuoted bounds how much of a refused value an error message repeats.
const maxQuoted = 32

// describe is v as an error message names it: as the client wrote it, cut
// short when long.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case json.Number:
		return shorten(string(x))
	case string:
		return strconv.Quote(shorten(x))
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case int32:
		return strconv.Itoa(int(x))
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return "this value"
}

// shorten cuts s to maxQuoted bytes, on a character boundary, marking the cut.
func shorten(s string) string { return gqlerr.Truncate(s, maxQuoted) }
